"""Halo-free blend: each output pixel takes its colour from the slice(s) at its depth.

Slice ``k``'s weight is the tent ``max(0, 1 - |depth - k|)`` (so a fractional depth
interpolates two neighbouring slices), softened by a small Gaussian so that a change of slice
never makes a hard seam. There is no pyramid and no sharpening: every output value is a convex
combination of co-located slice values, so nothing overshoots (no halos, no ringing) and the
colour is the slices' own. Only the tiles where a slice has weight are warped and added;
slices with no weight are not read at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import cv2
import numpy as np

from rig.merge.boxes import Box, box_cells, grid_shape
from rig.merge.focus import gaussian
from rig.merge.workers import PIXELWISE, Backlog, InOrder, Workers

if TYPE_CHECKING:
    from numpy.typing import DTypeLike


def box_weight(depth: np.ndarray, k: int, box: Box, soften: float) -> np.ndarray:
    """Blend weight of slice ``k`` inside ``box``: the tent weight, Gaussian-softened.

    The softening is narrow (a few pixels): wide enough that a change of slice leaves no seam
    (slices differ slightly in brightness and residual alignment), narrow enough that a depth
    step gets no halo (the other side's defocused slice only enters within ~1 px of the step).
    """
    x0, y0, x1, y1 = box
    h, w = depth.shape
    pad = int(np.ceil(3 * soften)) + 1 if soften > 0 else 0
    px0, py0, px1, py1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    wt = 1.0 - np.abs(depth[py0:py1, px0:px1] - np.float32(k))
    np.maximum(wt, 0.0, out=wt)
    raw = wt[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]
    if soften <= 0:
        return raw
    return gaussian(wt, soften)[y0 - py0 : y1 - py0, x0 - px0 : x1 - px0]


def is_identity(affine: np.ndarray) -> bool:
    """The affine (2 x 3) leaves every pixel where it is (the reference slice, or no alignment)."""
    return float(np.abs(np.asarray(affine) - IDENTITY).max()) <= 1e-9


IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


class Blender:
    """Accumulates weighted, aligned slices into the output (float32)."""

    def __init__(self, height: int, width: int, channels: int = 3, workers: Workers | None = None) -> None:
        self.acc = np.zeros((height, width, channels), np.float32)
        self.wsum = np.zeros((height, width), np.float32)
        self.workers = workers or Workers(1)
        self._order: InOrder | None = None
        self._block = 0
        self._backlog = Backlog(1)

    def add_slice(
        self,
        img: np.ndarray,
        affine: np.ndarray,
        gain: float,
        boxes: Sequence[Box],
        depth: np.ndarray,
        k: int,
        soften: float,
        block: int,
    ) -> None:
        """Add slice ``k`` with its :func:`box_weight` in each of ``boxes`` (disjoint, on a grid of
        ``block`` px; queued on the workers: each box writes only its own pixels, after the earlier
        slices' boxes under it). Returns once at most the previous slice's boxes are still running;
        :meth:`normalised` and :meth:`result` wait for all."""
        identity = is_identity(affine)

        def one(box: Box) -> None:
            wk = box_weight(depth, k, box, soften)
            if wk.any():
                self.add(img, affine, gain, wk, box, identity)

        if self._order is None or block != self._block:
            self._backlog.drain()
            self._order, self._block = InOrder(self.workers, grid_shape(depth.shape, block)), block
        order = self._order
        self._backlog.add([order.submit(partial(one, box), *box_cells(box, block)) for box in boxes])

    def add(
        self,
        img: np.ndarray,
        affine: np.ndarray,
        gain: float,
        weight: np.ndarray,
        box: Box,
        identity: bool | None = None,
    ) -> None:
        """Warp ``img`` (slice frame) into the box of the reference frame and add it with ``weight``."""
        x0, y0, x1, y1 = box
        m = affine.copy()
        # reference pixel (x0 + u, y0 + v) -> slice coords: M @ (u + x0, v + y0)
        m[:, 2] = m[:, 2] + m[:, 0] * x0 + m[:, 1] * y0
        if is_identity(affine) if identity is None else identity:
            part = img[y0:y1, x0:x1]
        else:
            part = cv2.warpAffine(
                img,
                m,
                (x1 - x0, y1 - y0),
                flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT,
            )
        wk = weight * np.float32(gain) if gain != 1.0 else weight
        # OpenCV multiplies the 8/16-bit pixels by the float weights and adds in place: the same
        # float operations as converting, multiplying and adding with numpy, at half the cost
        acc, wsum = self.acc[y0:y1, x0:x1], self.wsum[y0:y1, x0:x1]
        cv2.add(acc, cv2.multiply(part, cv2.merge([wk, wk, wk]), dtype=cv2.CV_32F), dst=acc)
        cv2.add(wsum, weight, dst=wsum)

    def normalised(self) -> np.ndarray:
        """The weighted mean in the input scale (float32, computed in place: the blender is spent)."""
        self._backlog.drain()

        def strip(rows: tuple[int, int]) -> None:
            y0, y1 = rows
            self.acc[y0:y1] /= np.maximum(self.wsum[y0:y1], 1e-6)[..., None]

        self.workers.run(strip, self.workers.strips(self.acc.shape[0], per_thread=PIXELWISE))
        return self.acc

    def result(self, dtype: DTypeLike, in_max: float) -> np.ndarray:
        """Normalised output converted to ``dtype`` (input values scaled from ``in_max``)."""
        return quantise(self.normalised(), dtype, in_max, self.workers)


def quantise(img: np.ndarray, dtype: DTypeLike, in_max: float, workers: Workers) -> np.ndarray:
    """``img`` (float, input scale up to ``in_max``) rounded to ``dtype`` (8 or 16 bits), in row strips."""
    out_max = 65535.0 if np.dtype(dtype) == np.uint16 else 255.0
    out = np.empty(img.shape, dtype)

    def strip(rows: tuple[int, int]) -> None:
        y0, y1 = rows
        part = img[y0:y1] * np.float32(out_max / in_max) if out_max != in_max else img[y0:y1].copy()
        np.clip(part, 0.0, out_max, out=part)
        part += 0.5
        out[y0:y1] = part  # truncates, as astype does

    workers.run(strip, workers.strips(img.shape[0]))
    return out
