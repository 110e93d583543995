"""The cores of the machine for the per-pixel work of one slice.

OpenCV and numpy release the GIL in their loops, so threads over disjoint parts of the image
(row strips in pass 1, the boxes of :mod:`rig.merge.boxes` in passes 2 and 3) keep every core
busy. Each part writes only its own pixels of the shared arrays, so the result does not depend
on the order the parts run in, and the temporaries are per part (a box or a strip), so memory
grows by a few MB per thread at most. The number of threads follows ``cv2.getNumThreads()``
(the cores, unless the caller lowered it, as ``rig merge-batch`` does to share the cores among
its merges); while a pool is open OpenCV itself runs single-threaded, so code that wants the
pool's threads takes the pool (or its ``threads``), not ``cv2.getNumThreads()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import cv2

from rig.heap import one_heap

T = TypeVar("T")
R = TypeVar("R")


def thread_count() -> int:
    """Threads for one merge: OpenCV's setting, at most the cores."""
    return max(1, min(cv2.getNumThreads(), os.cpu_count() or 1))


class Workers:
    """A small thread pool that runs a function over parts of one slice and waits for all of them."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads or thread_count()
        if self.threads > 1:
            one_heap()  # before the pool's threads allocate anything
        self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="merge") if self.threads > 1 else None
        # OpenCV's own threads would compete with the pool's (and the parts are too small to pay
        # for them): while the pool is open, OpenCV runs in the calling thread (1.5-2 s of CPU less
        # at 12 MP, same pixels); close() gives it its threads back
        self._opencv_threads = cv2.getNumThreads()
        if self._pool is not None:
            cv2.setNumThreads(1)

    def run(self, fn: Callable[[T], R], parts: Sequence[T]) -> list[R]:
        """``[fn(p) for p in parts]``, the parts spread over the threads; the first error is raised."""
        if self._pool is None or len(parts) < 2:
            return [fn(p) for p in parts]
        return list(self._pool.map(fn, parts))

    def strips(self, height: int, align: int = 1) -> list[tuple[int, int]]:
        """Row ranges (y0, y1) splitting ``height`` rows into one strip per thread, the inner
        boundaries multiples of ``align``."""
        parts = min(self.threads, max(1, height // max(align, 64)))
        cuts = [0, *(round(height * i / parts / align) * align for i in range(1, parts)), height]
        return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
            cv2.setNumThreads(self._opencv_threads)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
