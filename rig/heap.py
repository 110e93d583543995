"""Keep the long-running ``rig serve`` process from growing: glibc's malloc raises its mmap
threshold dynamically after large blocks are freed, so every later frame buffer (numpy arrays
of several MB, rendered and encoded on a new worker thread per stack) lands in a per-thread
heap arena that is never given back. ``rig serve --sim`` grew to ~850 MB after a few dozen
stacks that way (bench/soak.py). A fixed threshold makes large buffers mmap'd and returned to
the system when freed; measured figures: docs/reliability.md."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)
M_MMAP_THRESHOLD = -3  # mallopt parameter numbers, glibc malloc.h
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 256 * 1024


def _mallopt(param: int, value: int) -> bool:
    """glibc's ``mallopt(param, value)``; False where there is no glibc (or it refuses)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(param, value) == 1)
    log.debug("mallopt(%d, %d): %s", param, value, ok)
    return ok


def return_large_buffers(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; False where there is no glibc."""
    return _mallopt(M_MMAP_THRESHOLD, threshold)


def one_heap() -> bool:
    """One malloc heap shared by all threads (``M_ARENA_MAX`` = 1; False where there is no glibc).

    With a heap per thread, a merge's worker threads handed their freed box temporaries back to the
    kernel and faulted them in again at the next box: at 12 MP that was 3-4 s of system time per
    merge (of ~40 s of CPU) at the same peak RSS. A merge allocates few, large blocks, so sharing
    one heap costs no measurable lock contention."""
    return _mallopt(M_ARENA_MAX, 1)
