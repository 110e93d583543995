"""The cores of the machine for the per-pixel work of one slice.

OpenCV and numpy release the GIL in their loops, so threads over disjoint parts of the image
(row strips in pass 1, the boxes of :mod:`rig.merge.boxes` in passes 2 and 3) keep every core
busy. Each part writes only its own pixels of the shared arrays, so the result does not depend
on the order the parts run in, and the temporaries are per part (a box or a strip), so memory
grows by a few MB per thread at most. The number of threads follows ``cv2.getNumThreads()``
(the cores, unless the caller lowered it, as ``rig merge-batch`` does to share the cores among
its merges); while a pool is open OpenCV itself runs single-threaded, so code that wants the
pool's threads takes the pool (or its ``threads``), not ``cv2.getNumThreads()``.

Waiting for every part of a slice before the next slice starts leaves a core idle whenever one
part runs late (another runnable thread, or a stalled virtual CPU), so the passes queue parts
with :meth:`Workers.submit` (a part starts when the parts it depends on are done; decoding and
registering the slices are parts too, so no third thread competes with the pool's) and
:class:`InOrder` (each region of an accumulator gets its slices' parts in slice order: the sums
are the same, bit for bit, as one slice after the other), and keep at most two slices' parts in
flight with :class:`Backlog`.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import cv2
import numpy as np

from rig.heap import one_heap

# row strips per thread for per-pixel work without margins (normalisation, the depth map's
# combination): the temporaries of a few strips at a time, not of the whole image, and a strip
# that runs late is a small one
PIXELWISE = 4

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

    def submit(self, fn: Callable[[], R], after: Iterable[Future[Any]] = ()) -> Future[R]:
        """Run ``fn()`` on a pool thread once every future in ``after`` is done (without a pool: now).
        The returned future holds its result or error; a failed dependency fails it unrun."""
        if self._pool is None:
            done: Future[R] = Future()
            for dep in after:
                if dep.exception() is not None:  # without a pool every dependency has run already
                    done.set_exception(dep.exception())
                    return done
            try:
                done.set_result(fn())
            except BaseException as e:  # noqa: BLE001 - handed to whoever waits for it
                done.set_exception(e)
            return done
        return _Task(self._pool, fn, list(after)).future

    def strips(self, height: int, align: int = 1, per_thread: int = 1) -> list[tuple[int, int]]:
        """Row ranges (y0, y1) splitting ``height`` rows into ``per_thread`` strips per thread, the
        inner boundaries multiples of ``align``."""
        parts = min(self.threads * per_thread, max(1, height // max(align, 64)))
        cuts = [0, *(round(height * i / parts / align) * align for i in range(1, parts)), height]
        return [(a, b) for a, b in zip(cuts, cuts[1:], strict=False) if b > a]

    def close(self) -> None:
        """Waits for the parts that are running; parts still queued (a merge that failed) are dropped."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
            cv2.setNumThreads(self._opencv_threads)

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Task:
    """One part queued by :meth:`Workers.submit`: handed to the pool when its last dependency is done.

    The function is dropped once it is handed on, so a done future (kept by :class:`InOrder` as a
    region's last writer) does not keep the slice that the part read alive."""

    def __init__(self, pool: ThreadPoolExecutor, fn: Callable[[], Any], deps: list[Future[Any]]) -> None:
        self.future: Future[Any] = Future()
        self._pool = pool
        self._fn: Callable[[], Any] | None = fn
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._left = len(deps) + 1  # + 1 until every callback is registered
        for dep in deps:
            dep.add_done_callback(self._dep_done)
        self._dep_done(None)

    def _dep_done(self, dep: Future[Any] | None) -> None:
        error = dep.exception() if dep is not None else None
        with self._lock:
            self._error = self._error or error
            self._left -= 1
            if self._left:
                return
            fn, self._fn = self._fn, None
        if self._error is not None or fn is None:
            self.future.set_exception(self._error or RuntimeError("part without a function"))
            return
        try:
            self._pool.submit(self._run, fn)
        except RuntimeError as e:  # the pool was shut down (the merge failed and is unwinding)
            self.future.set_exception(e)

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            result = fn()
        except BaseException as e:  # noqa: BLE001 - handed to whoever waits for it
            self.future.set_exception(e)
        else:
            self.future.set_result(result)


class InOrder:
    """Queues parts that add into regions of shared accumulators so that each region gets them in
    the order they were queued: a part waits for the last part queued for any cell of its region
    (a grid of ``shape`` cells, e.g. blocks of pixels). Parts of one slice write disjoint regions and
    run side by side; a part of the next slice starts as soon as the parts under it are done, not
    when the whole slice is."""

    def __init__(self, workers: Workers, shape: tuple[int, int]) -> None:
        self.workers = workers
        self._last = np.full(shape, None, object)  # per cell: the last part queued for it

    def submit(self, fn: Callable[[], Any], rows: slice, cols: slice, after: Iterable[Future[Any]] = ()) -> Future[Any]:
        """Queue ``fn`` for the cells ``[rows, cols]``, after the parts ``after`` too."""
        region = self._last[rows, cols]
        deps = {f for f in region.ravel().tolist() if f is not None}
        deps.update(after)
        fut = self.workers.submit(fn, [f for f in deps if not f.done()])
        region[...] = fut
        return fut


class Backlog:
    """The queued parts of the last few slices: :meth:`add` waits until at most ``slices`` slices'
    parts are unfinished (memory: each holds its slice), :meth:`drain` for all; both raise a part's error."""

    def __init__(self, slices: int = 1) -> None:
        self.slices = slices
        self._pending: deque[list[Future[Any]]] = deque()

    def add(self, parts: list[Future[Any]]) -> None:
        self._pending.append(parts)
        while len(self._pending) > self.slices:
            _wait(self._pending.popleft())

    def drain(self) -> None:
        while self._pending:
            _wait(self._pending.popleft())


def _wait(parts: list[Future[Any]]) -> None:
    for part in parts:
        part.result()
