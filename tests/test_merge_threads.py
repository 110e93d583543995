"""The merge's output does not depend on how many threads share its work (``rig/merge/workers.py``).

The passes queue their parts across slices (a part of slice k+1 may run while slice k's last
parts finish) and decode and register the slices as parts too; every pixel must still get the
slices in order, so the result is the same, bit for bit, as the one-thread merge's (the path a
``rig merge-batch`` merge takes when it gets one core).
"""

from __future__ import annotations

import threading
from concurrent import futures

import cv2
import numpy as np
import pytest

from rig.merge import workers
from rig.merge.pipeline import MergeOptions, merge
from tests.test_merge import band_depth, make_stack, similarity


def _merged(folder, out, threads: int, monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, np.ndarray]:
    monkeypatch.setattr(workers, "thread_count", lambda: threads)
    depth = out.with_name(out.stem + "-depth.png")
    merge(folder, out, MergeOptions(depthmap=depth))
    return cv2.imread(str(out), cv2.IMREAD_UNCHANGED), cv2.imread(str(depth), cv2.IMREAD_UNCHANGED)


def test_three_threads_give_the_one_thread_merge_bit_for_bit(tmp_path, monkeypatch):
    h, w, n = 200, 256, 7
    rng = np.random.default_rng(5)
    trs = [
        similarity(1.0 + 0.004 * (k - n // 2), 0.1 * (k - n // 2), *rng.uniform(-1.5, 1.5, 2), w, h) for k in range(n)
    ]
    make_stack(tmp_path / "s", band_depth(h, w), n=n, transforms=trs, seed=4)
    one, one_depth = _merged(tmp_path / "s", tmp_path / "one.png", 1, monkeypatch)
    three, three_depth = _merged(tmp_path / "s", tmp_path / "three.png", 3, monkeypatch)
    assert one.shape == (h, w, 3)
    assert np.array_equal(one, three)
    assert np.array_equal(one_depth, three_depth)


def test_a_part_waits_for_the_earlier_part_under_it_and_errors_reach_the_caller():
    order: list[str] = []
    release = threading.Event()

    def first() -> None:
        release.wait(10)
        order.append("first")

    with workers.Workers(3) as pool:
        grid = workers.InOrder(pool, (2, 2))
        a = grid.submit(first, slice(0, 1), slice(0, 2))
        b = grid.submit(lambda: order.append("second, same cells"), slice(0, 2), slice(1, 2))
        c = grid.submit(lambda: order.append("beside"), slice(1, 2), slice(0, 1))  # no cell of a's
        c.result()
        # b may not start while a, under it, is still running (a free thread is waiting for work)
        assert futures.wait([b], timeout=0.2).not_done == {b}
        release.set()
        backlog = workers.Backlog(0)
        backlog.add([a, b])
        assert order == ["beside", "first", "second, same cells"]
        failed = grid.submit(lambda: 1 / 0, slice(0, 1), slice(0, 1))
        after = grid.submit(lambda: order.append("never"), slice(0, 1), slice(0, 1))
        with pytest.raises(ZeroDivisionError):
            backlog.add([failed, after])
    assert "never" not in order
