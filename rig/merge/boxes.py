"""Where each slice can have weight: boxes of the reference frame, found from the depth map.

Passes 2 and 3 give slice ``k`` weight only where the depth map is within ``reach`` slices of
``k`` (plus a few pixels of softening), and warping a slice costs far more than anything else
they do. A box test on the depth range of a large tile is loose: a tile that holds a depth step
from slice 3 to slice 15 would have every slice between warped although only the slices near 3
and 15 get weight. :class:`SliceBoxes` keeps, per block of ``block`` px, which depth-map slices
(whole parts of the depth) occur in it, so slice ``k`` is warped only in the blocks where a depth
within ``reach`` of ``k`` occurs (grown by ``pad`` px), and neighbouring blocks are merged into
boxes. The boxes cover every pixel where the slice has weight, so skipping the rest changes no
output pixel.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (reference frame, exclusive ends)


class SliceBoxes:
    """Per block, the depth-map slices present; for slice ``k`` the boxes within ``reach`` of it."""

    def __init__(self, depth: np.ndarray, n: int, reach: float, pad: int = 0, block: int = 32) -> None:
        h, w = depth.shape
        self.shape = (h, w)
        self.block = block
        self.reach = reach
        self.n = n
        nby, nbx = -(-h // block), -(-w // block)
        self.grid = (nby, nbx)
        # present[b, j]: block b holds a depth in [j, j + 1) (the last slice: exactly n - 1)
        present = np.zeros((nby * nbx, n), bool)
        cols = np.arange(w) // block
        for by in range(nby):
            rows = depth[by * block : (by + 1) * block]
            fl = np.clip(rows, 0, n - 1).astype(np.int32)  # floor: the depth map is never negative
            ids = (by * nbx + cols)[None, :] * n + fl
            present.reshape(-1)[ids.ravel()] = True
        self._cum = np.concatenate([np.zeros((nby * nbx, 1), np.int32), np.cumsum(present, axis=1, dtype=np.int32)], 1)
        grow = math.ceil(pad / block) if pad > 0 else 0
        self._kernel = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8) if grow else None

    def active(self, k: int) -> np.ndarray:
        """Blocks (nby x nbx, bool) where slice ``k`` may have weight."""
        # a depth d in [j, j + 1) is within reach of k when k - reach < d < k + reach
        lo = max(0, math.floor(k - self.reach - 1) + 1)
        hi = min(self.n - 1, math.ceil(k + self.reach) - 1)
        if hi < lo:
            return np.zeros(self.grid, bool)
        got: np.ndarray = (self._cum[:, hi + 1] - self._cum[:, lo]) > 0
        grid = got.reshape(self.grid)
        if self._kernel is not None:
            grid = np.asarray(cv2.dilate(grid.astype(np.uint8), self._kernel), bool)
        return grid

    def any(self, k: int) -> bool:
        return bool(self.active(k).any())

    def boxes(self, k: int, max_size: int | None = None) -> list[Box]:
        """Boxes covering every pixel where slice ``k`` may have weight: runs of active blocks in a
        block row, merged downwards with the same run in the rows below; no side longer than
        ``max_size`` px (rounded up to whole blocks), which bounds the caller's temporary arrays."""
        h, w = self.shape
        b = self.block
        most = max(1, -(-max_size // b)) if max_size else max(self.grid)  # in blocks
        grid = self.active(k)
        out: list[Box] = []
        open_runs: dict[tuple[int, int], int] = {}  # (first, last block column) -> first block row
        for by in range(grid.shape[0] + 1):
            runs: set[tuple[int, int]] = set()
            if by < grid.shape[0]:
                for first, last in _runs(grid[by]):
                    runs.update((x, min(last, x + most - 1)) for x in range(first, last + 1, most))
            for run, top in list(open_runs.items()):
                if run not in runs or by - top >= most:
                    out.append((run[0] * b, top * b, min(w, (run[1] + 1) * b), min(h, by * b)))
                    del open_runs[run]
            for run in runs:
                open_runs.setdefault(run, by)
        return out


def box_cells(box: Box, block: int) -> tuple[slice, slice]:
    """The blocks (rows, columns) of a ``block``-px grid that ``box`` covers."""
    x0, y0, x1, y1 = box
    return slice(y0 // block, -(-y1 // block)), slice(x0 // block, -(-x1 // block))


def grid_shape(shape: tuple[int, ...], block: int) -> tuple[int, int]:
    """Blocks of ``block`` px (rows, columns) that cover an image of ``shape``."""
    return -(-shape[0] // block), -(-shape[1] // block)


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of the runs of True in a 1-D bool array."""
    if not row.any():
        return []
    d = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))
