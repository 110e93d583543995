"""Memory the merge will need, checked against what the machine has before any work starts.

Peak memory does not grow with the number of slices, but it does with their size: about
55 bytes per pixel for 8-bit slices and 75 for 16-bit or raw ones, plus the interpreter and
libraries (~50 MB); measured with ``bench/merge_bench.py`` (2 MP: 152 / 185 MB, 12 MP: 643 MB).
A 45 MP stack needs about 2.5 GB: too much for a 2 GB Pi. Failing at the start with that number
beats the kernel's out-of-memory killer half-way through.
"""

from __future__ import annotations

import logging
from pathlib import Path

from rig.errors import MergeError

log = logging.getLogger(__name__)

BASE_MB = 50.0
BYTES_PER_PIXEL = {8: 55.0, 16: 75.0}
RAW_EXTRA_BYTES_PER_PIXEL = 20.0  # LibRaw's own buffers while developing
# each thread beyond the first (rig/merge/workers.py) has its own box/strip temporaries:
# measured with 2 threads: +10 MB at 2 MP, +24 to +50 MB at 12 MP (peak RSS against one thread)
THREAD_MB = 8.0
THREAD_BYTES_PER_PIXEL = 2.5


def estimate_mb(width: int, height: int, deep: bool, raw: bool = False, threads: int = 1) -> float:
    per_px = BYTES_PER_PIXEL[16 if deep or raw else 8] + (RAW_EXTRA_BYTES_PER_PIXEL if raw else 0.0)
    per_px += (threads - 1) * THREAD_BYTES_PER_PIXEL
    return BASE_MB + (threads - 1) * THREAD_MB + width * height * per_px / 2**20


def available_mb(meminfo: Path = Path("/proc/meminfo")) -> tuple[float, float] | None:
    """(MemAvailable, SwapFree) in MB, or None where the kernel does not say (not Linux)."""
    try:
        fields = dict(line.split(":", 1) for line in meminfo.read_text().splitlines() if ":" in line)
        avail = float(fields["MemAvailable"].split()[0]) / 1024
        swap = float(fields.get("SwapFree", "0 kB").split()[0]) / 1024
    except (OSError, KeyError, ValueError):
        return None
    return avail, swap


def check_memory(where: Path, width: int, height: int, deep: bool, raw: bool = False, threads: int = 1) -> None:
    """Raise :class:`MergeError` if the merge cannot fit in memory and swap; warn if it needs swap."""
    need = estimate_mb(width, height, deep, raw, threads)
    have = available_mb()
    if have is None:
        return
    avail, swap = have
    if need > avail + swap:
        raise MergeError(
            f"{where}: a {width}x{height} merge needs about {need:.0f} MB of memory, only {avail:.0f} MB "
            f"available (+{swap:.0f} MB swap); close other programs or merge on a bigger machine"
        )
    if need > avail:
        log.warning(
            "a %dx%d merge needs about %.0f MB, %.0f MB available: it will use swap", width, height, need, avail
        )
