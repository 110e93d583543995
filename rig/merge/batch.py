"""Batch re-merge: every stack under a folder, in parallel, one line of outcome per stack.

:func:`find_stacks` lists the run folders (a folder with a ``stack.json``); :func:`merge_stack`
merges one (picklable, so it runs in a local process pool or on a Dask worker) and never raises:
a bad stack gives an ``error`` line and the batch goes on. The results are written as
:mod:`rig.merge.pipeline` always writes them (atomically, so an interrupted batch leaves each
stack either merged or as it was); ``skip_done`` skips a stack whose merged image is newer than
all its frames, which is how an interrupted batch resumes. Running the pool or the Dask client is
``rig merge-batch``'s (:mod:`rig.cli.cmd_merge_batch`).
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.merge.results import RESULTS

log = logging.getLogger(__name__)

OK, SKIPPED, ERROR = "ok", "skipped", "error"
SKIP_DIRS = ("preview",)  # the preview-images mode's frames live in a run folder's preview/


@dataclass(frozen=True)
class StackOutcome:
    """How one stack of a batch went: ``ok``, ``skipped`` or ``error`` (with the one-line reason)."""

    stack: str
    status: str
    detail: str = ""
    seconds: float = 0.0

    def line(self) -> str:
        detail = f" {self.detail}" if self.detail else ""
        return f"{self.status:<7} {self.stack}{detail}"

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "status": self.status, "detail": self.detail, "seconds": round(self.seconds, 3)}


def find_stacks(root: Path, limit: int = 100_000) -> list[Path]:
    """Run folders under ``root`` (``root`` itself when it is one), sorted; hidden folders and a
    run folder's own sub-folders are not searched."""
    root = Path(root).expanduser()
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in SKIP_DIRS)
        if "stack.json" in filenames:
            found.append(Path(dirpath))
            dirnames[:] = []
            if len(found) >= limit:
                break
    return sorted(found)


def is_done(folder: Path) -> bool:
    """The merged image exists and is newer than every frame ``stack.json`` lists."""
    from rig.manifest import read_manifest

    image = RESULTS.paths(folder)[0]
    try:
        merged = image.stat().st_mtime
        record = read_manifest(folder)
        frames = [folder / f.file for f in record.frames or () if f.file and not f.preview]
        return bool(frames) and all(p.stat().st_mtime <= merged for p in frames)
    except (OSError, ValueError):
        return False


def merge_stack(folder: str, skip_done: bool = False, threads: int = 1) -> StackOutcome:
    """Merge the stack in ``folder`` into its merged TIFF, JPEG and depth map (replacing earlier
    ones) and record it in ``stack.json``'s ``merge``. Never raises: the outcome says what happened."""
    import cv2

    from rig.errors import RigError
    from rig.manifest import MergeRecord, UnreadableManifest, now_iso, read_manifest, record_merge
    from rig.merge.pipeline import MergeOptions, merge

    cv2.setNumThreads(threads)  # one merge per worker: the workers share the cores, not each merge
    path = Path(folder)
    t0 = time.monotonic()
    try:
        record = read_manifest(path)
    except UnreadableManifest as exc:
        return StackOutcome(folder, ERROR, f"stack.json: {exc}")
    except OSError as exc:
        return StackOutcome(folder, ERROR, f"stack.json: {exc.strerror or exc}")
    if record.frames is None or not any(f.file and not f.preview for f in record.frames):
        return StackOutcome(folder, ERROR, "no frames saved in this folder")
    if skip_done and is_done(path):
        return StackOutcome(folder, SKIPPED, "merge newer than its frames")
    image, jpeg, depth = RESULTS.paths(path)
    started = now_iso()
    try:
        with _reusing_freed_memory():
            merge(path, image, MergeOptions(depthmap=depth, jpeg=jpeg, overwrite=True))
        record_merge(path, MergeRecord("done", RESULTS.names, None, started, now_iso()))
    except (RigError, OSError, ValueError) as exc:
        return StackOutcome(folder, ERROR, _one_line(exc))
    except Exception as exc:  # noqa: BLE001 - a bad stack never stops the batch
        log.exception("merge of %s failed", folder)
        return StackOutcome(folder, ERROR, _one_line(exc))
    return StackOutcome(folder, OK, f"{time.monotonic() - t0:.1f}s", time.monotonic() - t0)


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:400]


# glibc <malloc.h>: mallopt parameters, the mmap threshold glibc starts with and the ceiling of its
# dynamic threshold on 64-bit (malloc/malloc.c DEFAULT_MMAP_THRESHOLD_MIN, DEFAULT_MMAP_THRESHOLD_MAX).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD_START, MMAP_THRESHOLD_REUSE = 128 * 1024, 32 * 1024 * 1024
_reuse_lock = threading.Lock()
_reuse_depth = [0]  # merges running in this process with the thresholds raised (the allocator is per process)


@contextmanager
def _reusing_freed_memory() -> Iterator[None]:
    """Let a merge reuse the memory it frees when the process's allocator was told not to.

    A Dask nanny starts its worker with ``MALLOC_TRIM_THRESHOLD_=65536`` (distributed.yaml,
    ``nanny.pre-spawn-environ``) so that freed memory goes back to the system. Setting it also turns
    off glibc's dynamic mmap threshold, so every block of 128 KiB or more (each image-sized numpy
    array of a merge) is mapped on allocation and unmapped when freed: a merge on a Dask worker had
    5x the page faults and 3x the kernel time of the same merge in a local pool worker, and two
    workers faulting at once slowed each other down. While merges run, the thresholds are raised
    to glibc's own defaults' ceiling; after the last one, the environment's values come back and
    ``malloc_trim`` returns the free memory, as the worker's setting asks. Elsewhere (no such
    variable, or not glibc) nothing changes."""
    libc = _glibc_with_fixed_thresholds()
    if libc is None:
        yield
        return
    with _reuse_lock:
        _reuse_depth[0] += 1
        if _reuse_depth[0] == 1:
            libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_REUSE)
            libc.mallopt(M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD_REUSE)
    try:
        yield
    finally:
        with _reuse_lock:
            _reuse_depth[0] -= 1
            if _reuse_depth[0] == 0:
                libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_START)
                libc.mallopt(M_TRIM_THRESHOLD, int(os.environ["MALLOC_TRIM_THRESHOLD_"]))
                libc.malloc_trim(0)


def _glibc_with_fixed_thresholds() -> ctypes.CDLL | None:
    """This process's C library when it is glibc and ``MALLOC_TRIM_THRESHOLD_`` (a number) fixed its
    thresholds; ``MALLOC_MMAP_THRESHOLD_`` set as well is the user's choice and is kept."""
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_", "")
    if not trim.isdigit() or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return None
    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None
