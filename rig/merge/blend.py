"""Halo-free blend: each output pixel takes its colour from the slice(s) at its depth.

Slice ``k``'s weight is the tent ``max(0, 1 - |depth - k|)`` (so a fractional depth
interpolates two neighbouring slices), softened by a small Gaussian so that a change of slice
never makes a hard seam. There is no pyramid and no sharpening: every output value is a convex
combination of co-located slice values, so nothing overshoots (no halos, no ringing) and the
colour is the slices' own. Only the part of each slice that has weight is warped and added;
slices with no weight are not read at all.
"""

from __future__ import annotations

import cv2
import numpy as np


def depth_steps(depth: np.ndarray, jump: float = 1.5) -> np.ndarray:
    """Mask of pixels next to a depth step of more than ``jump`` slices (an occlusion edge)."""
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5))
    return (cv2.dilate(depth, k) - cv2.erode(depth, k)) > jump


def slice_weight(
    depth: np.ndarray, k: int, soften: float, steps: np.ndarray | None = None
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """Blend weight of slice ``k`` and its bounding box (x0, y0, x1, y1); None when it has none.

    The weight is softened everywhere except at depth steps (``steps``), where the truth is a
    hard occlusion edge and mixing in the other side's defocused slice would leave a halo.
    """
    w = 1.0 - np.abs(depth - np.float32(k))
    np.maximum(w, 0.0, out=w)
    rows = np.flatnonzero(w.max(axis=1) > 0)
    if rows.size == 0:
        return None
    cols = np.flatnonzero(w[rows[0] : rows[-1] + 1].max(axis=0) > 0)
    h, wd = depth.shape
    pad = int(np.ceil(3 * soften)) + 1
    y0, y1 = max(0, rows[0] - pad), min(h, rows[-1] + 1 + pad)
    x0, x1 = max(0, cols[0] - pad), min(wd, cols[-1] + 1 + pad)
    if soften > 0:
        sub = cv2.GaussianBlur(w[y0:y1, x0:x1], (0, 0), soften, borderType=cv2.BORDER_REFLECT)
        if steps is not None:
            m = steps[y0:y1, x0:x1]
            sub[m] = w[y0:y1, x0:x1][m]
    else:
        sub = w[y0:y1, x0:x1]
    return sub, (x0, y0, x1, y1)


class Blender:
    """Accumulates weighted, aligned slices into the output (float32)."""

    def __init__(self, height: int, width: int, channels: int = 3) -> None:
        self.acc = np.zeros((height, width, channels), np.float32)
        self.wsum = np.zeros((height, width), np.float32)

    def add(self, img: np.ndarray, affine: np.ndarray, gain: float, weight: np.ndarray, box: tuple) -> None:
        """Warp ``img`` (slice frame) into the box of the reference frame and add it with ``weight``."""
        x0, y0, x1, y1 = box
        m = affine.copy()
        # reference pixel (x0 + u, y0 + v) -> slice coords: M @ (u + x0, v + y0)
        m[:, 2] = m[:, 2] + m[:, 0] * x0 + m[:, 1] * y0
        if np.allclose(affine, [[1, 0, 0], [0, 1, 0]], atol=1e-9):
            part = img[y0:y1, x0:x1]
        else:
            part = cv2.warpAffine(
                img,
                m,
                (x1 - x0, y1 - y0),
                flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REFLECT,
            )
        part = part.astype(np.float32)
        scale = np.float32(gain)
        wk = weight * scale if gain != 1.0 else weight
        self.acc[y0:y1, x0:x1] += part * wk[..., None]
        self.wsum[y0:y1, x0:x1] += weight

    def result(self, dtype: np.dtype, in_max: float) -> np.ndarray:
        """Normalised output converted to ``dtype`` (input values scaled from ``in_max``)."""
        out_max = 65535.0 if np.dtype(dtype) == np.uint16 else 255.0
        ws = np.maximum(self.wsum, 1e-6)
        out = self.acc / ws[..., None]
        if out_max != in_max:
            out *= out_max / in_max
        np.clip(out, 0.0, out_max, out=out)
        out += 0.5
        return out.astype(dtype)
