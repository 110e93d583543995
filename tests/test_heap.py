"""Issue 15, memory: ``rig serve`` grew to ~850 MB after a few dozen stacks because glibc raised
its mmap threshold after each big free, so later frame buffers landed in heap arenas that are
never given back (docs/reliability.md). The fix (rig/heap.py) fixes the threshold when ``rig
serve`` starts. The figures are bench/soak.py's; this checks the mechanism, not a time or a size
that depends on the machine: after ``rig serve`` has started (here: stopped at once by a config
file that does not exist), a 1 MB block allocated after an 8 MB one was freed is still its own
mmap (counted in glibc's ``mallinfo2().hblkhd``), so freeing it gives it back to the system.

Each case runs in a fresh interpreter: the malloc tuning is process-wide."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
libc = ctypes.CDLL("libc.so.6")
class Info(ctypes.Structure):  # glibc malloc.h: struct mallinfo2
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "serve":
    from rig.cli import main
    code = main(["serve", "--config", "/nonexistent/rig.toml", "--port", "0"])
    assert code == 2, code
big = libc.malloc(8 << 20)
libc.free(big)  # glibc's dynamic threshold would now be 8 MB
before = libc.mallinfo2().hblkhd
block = libc.malloc(1 << 20)
print(libc.mallinfo2().hblkhd - before)
libc.free(block)
"""


def mmapped_bytes_of_a_1mb_block(mode: str) -> int:
    r = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return int(r.stdout.split()[-1])


@pytest.mark.skipif(
    not hasattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "mallinfo2"), reason="needs glibc >= 2.33"
)
def test_rig_serve_makes_large_buffers_go_back_to_the_system() -> None:
    assert mmapped_bytes_of_a_1mb_block("plain") == 0  # the growth: the block lands in the heap
    assert mmapped_bytes_of_a_1mb_block("serve") >= 1 << 20  # after rig serve's start: its own mmap
