"""Occlusion glow: take the background's local mean beside a near edge from the near edge's slice.

At an occluding edge the depth map (rightly) takes the background from its own sharp slices, but
in exactly those slices the near object is far out of focus and, as a real lens renders occlusion,
its defocused edge lies "over" the background: a glow of the near object's colour that fades with
the distance from the edge (a halo a user sees). The glow is smooth (the near edge's defocus), so
it lives in the background's local mean, not in its fine detail; in the slice where the near edge
is sharp the background beside it is blurred but not covered, so that slice's local mean is the
background's own. Within ``REACH`` px of a near edge, on the step's far side, the merge keeps its
fine detail and its local mean is moved to that slice's::

    out = merged - t * clip(<L(merged - x_near), u>, 0, CAP * |a - b|) * u

``L`` is a local linear fit (Gaussian window ``MEAN`` px; first-order normalised convolution over
the far side only, so the near object's sharp edge never enters it and the one-sided window beside
the edge follows the glow's slope instead of lagging behind it), ``x_near`` the slice where the
nearest near edge is in focus (tent-interpolated for a fractional depth), ``a`` and ``b`` the near
and far sides' mean colours beside the step, ``u`` the unit vector from ``b`` to ``a`` and ``t`` a
taper to 0 at ``REACH``. Only a mix toward the near side's colour is taken out (that is what a
glow is). Pass 2 softens its weights, so the far side's slices (and their glow) reach a pixel or
two into the near side at the step: there the correction follows the far side's share.

Guards, each against a way the depth map or the slices mislead: the near side must be a measured
depth (a flat area's depth is a fill-in) and ``THICK`` px thick (a fibre's glow is faint); all the
near edges within reach at about one depth (else no one slice has them all sharp); the change must
point toward the near colour (``ALIGN``), be coherent over a wider window (``WIDE``, ``COHERE``:
texture the near edge's slice lost is not) and stand out of that texture (``FLOOR``); the two
sides must differ in colour (``CONTRAST``); far sides near a white highlight are left alone (its
bokeh in the near edge's slice is no glow). Nothing is sharpened: the output's fine detail is the
merge's, its local mean a neighbouring slice's.

All of it is computed at a small size (long side about ``SIDE`` px: the glow is 10-50 px wide
per 1600 px), so it costs a downscale of each slice pass 2 reads and a few small filters; the
correction is scaled back up (bilinear) and applied to the far side's pixels of the full-size
depth map only.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from rig.merge.align import to_analysis
from rig.merge.focus import gaussian
from rig.merge.workers import Workers

JUMP = 2.5  # slices: a depth step at least this large may throw a glow over its far side
REACH = 48.0  # px per 1600 px: how far beyond a near edge the glow is removed
SIDE = 400  # px: the long side of the small size the glow is estimated at
MEAN = 8.0  # px per 1600 px: sigma of the far side's local mean that carries the glow
COLOUR = 16.0  # px per 1600 px: sigma of the near and far sides' mean colours
CAP = 0.6  # at most this share of the near colour is taken out (a straight edge covers half)
FRONT_CONFIDENCE = 1.2  # the near side's depth must be measured (focus peak confidence, focus.peak_confidence)
THICK = 16.0  # px per 1600 px: near objects thinner than this (fibres) are left alone
ALIGN = 0.7  # the far side's change must point toward the near colour (cosine; full weight from 0.85)
TAPER = 4.0  # the correction fades to 0 over the last 1/TAPER of the reach
GLINT = 0.9  # of white (every channel): far sides near such highlights are left alone
WIDE = 2.5  # the wide window, in MEANs
COHERE = 2.0  # the correction is at most this many times the wide window's
FLOOR = 4.0  # DN of 255: a smaller change toward the near colour is left alone (full correction from 2x)
BAND = 256  # px: the full-size work is done in bands of rows this high (bounded temporaries)
CONTRAST = 4.0  # DN of 255: near and far sides closer in colour than this get no correction (full at 2x)


def _block_max(d: np.ndarray, s: int) -> np.ndarray:
    """Max of ``d`` over each ``s`` x ``s`` block (the last partial blocks dropped)."""
    return _block(cv2.dilate, d, s)


def _block_min(d: np.ndarray, s: int) -> np.ndarray:
    """Min of ``d`` over each ``s`` x ``s`` block (the last partial blocks dropped)."""
    return _block(cv2.erode, d, s)


def _block(morphology: Any, d: np.ndarray, s: int) -> np.ndarray:
    hs, ws = d.shape[0] // s, d.shape[1] // s
    return np.asarray(morphology(d, np.ones((s, s), np.uint8), anchor=(0, 0))[: hs * s : s, : ws * s : s])


def _normalised(values: np.ndarray, weight: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian mean of ``values`` where ``weight`` is set (normalised convolution), and the mean weight."""
    den = gaussian(weight, sigma)
    num = gaussian(values * weight[..., None], sigma)
    return num / np.maximum(den, 1e-6)[..., None], den


def _linear(values: np.ndarray, weight: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Local linear fit of ``values`` (H x W x C) where ``weight`` is set, Gaussian window ``sigma``:
    the fit's value at each pixel (first-order normalised convolution: a one-sided window beside
    an edge extrapolates the trend instead of lagging behind it), and the mean weight."""
    r = int(np.ceil(3 * sigma))
    x = np.arange(-r, r + 1, dtype=np.float32)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    g /= g.sum()
    k0, k1, k2 = g, x * g, x * x * g

    def conv(img: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
        return np.asarray(cv2.sepFilter2D(img, cv2.CV_32F, kx, ky, borderType=cv2.BORDER_CONSTANT))

    w00, w10, w01 = conv(weight, k0, k0), conv(weight, k1, k0), conv(weight, k0, k1)
    w20, w11, w02 = conv(weight, k2, k0), conv(weight, k1, k1), conv(weight, k0, k2)
    ridge = (0.5 * w00 + 1e-6) * sigma * sigma  # keeps the slope small where the window sees little spread
    # the fit's value is the first row of the inverse of the symmetric system [[a, b, c], [b, d, e], [c, e, f]]
    a, b, c, d, e, f = w00 + 1e-6, w10, w01, w20 + ridge, w11, w02 + ridge
    i0, i1, i2 = d * f - e * e, c * e - b * f, b * e - c * d
    det = a * i0 + b * i1 + c * i2
    wv = values * weight[..., None]
    fit = i0[..., None] * conv(wv, k0, k0) + i1[..., None] * conv(wv, k1, k0) + i2[..., None] * conv(wv, k0, k1)
    fit /= det[..., None]
    return fit.astype(np.float32), w00


class GlowRemover:
    """Collects the near edges' slices at the small size (pass 2) and corrects the merge's far sides."""

    def __init__(
        self, depth: np.ndarray, confidence: np.ndarray, n: int, in_max: float, near_first: bool = True
    ) -> None:
        h, w = depth.shape
        self.shape = (h, w)
        f = max(h, w) / 1600.0
        self.s = s = max(1, round(max(h, w) / SIDE))
        self.in_max = in_max
        self.near_first = near_first
        self.n = n
        d = depth if near_first else np.float32(n - 1) - depth  # near = low
        self.small = (w // s, h // s)
        dmin, dmax = _block_min(d, s), _block_max(d, s)
        conf = cv2.resize(confidence, self.small, interpolation=cv2.INTER_AREA)
        r = max(2, round(REACH * f / s))
        self.r = r
        self.disk = disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        # near side (and blocks holding the step): a much farther depth within reach, a measured depth
        # (a flat area's depth is a guess) and no thin object (a fibre throws no glow worth removing)
        front = ((cv2.dilate(dmax, disk) - dmin) > JUMP) & (conf >= FRONT_CONFIDENCE)
        thick = max(3, round(THICK * f / s) | 1)
        front = cv2.morphologyEx(
            front.view(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (thick, thick))
        ).view(bool)
        self.near = cv2.erode(np.where(front, dmin, np.float32(n)), disk)  # the nearest near side within reach
        far = ((dmin - self.near) > JUMP) & ~front
        # one near edge: the near sides' pixels at a step within reach all at about one depth (else no
        # one slice has every near edge sharp: the others' defocus would be brought in)
        edge = front & cv2.dilate(far.view(np.uint8), np.ones((5, 5), np.uint8)).view(bool)
        deepest = cv2.dilate(np.where(edge, dmin, np.float32(-1)), disk)
        far &= (deepest - self.near) <= JUMP
        self.far = far
        self.front = front
        self.active = bool(far.any() and front.any())
        if not self.active:
            return
        dist = cv2.distanceTransform((~front).view(np.uint8), cv2.DIST_L2, 3)
        self.taper = np.clip(TAPER * (1.0 - dist / r), 0.0, 1.0).astype(np.float32)
        self.taper[~(front | ((dmax - self.near) > JUMP))] = 0.0  # blocks holding the step included
        self.want = far & (self.taper > 0)
        hs, ws = self.near.shape
        self.acc = np.zeros((hs, ws, 3), np.float32)
        self.wsum = np.zeros((hs, ws), np.float32)
        self.mean = max(1.0, MEAN * f / s)
        self.colour = max(2.0, COLOUR * f / s)
        near_o = self.near if near_first else np.float32(n - 1) - self.near
        self.near_index = near_o  # in the slices' own order

    def add(self, k: int, img: np.ndarray, matrix: np.ndarray, gain: float) -> None:
        """Slice ``k`` (its own frame; ``matrix`` maps reference pixels to its pixels) where it is the near edge's."""
        if not self.active:
            return
        wt = 1.0 - np.abs(self.near_index - np.float32(k))
        np.maximum(wt, 0.0, out=wt)
        wt *= self.want
        if not wt.any():
            return
        s = self.s
        ws, hs = self.small
        small = cv2.resize(img[: hs * s, : ws * s], (ws, hs), interpolation=cv2.INTER_AREA)
        m = to_analysis(np.asarray(matrix, np.float64), 1.0 / s)[:2]
        part = cv2.warpAffine(
            small, m, (ws, hs), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
        ).astype(np.float32)
        part *= np.float32(gain)
        self.acc += part * wt[..., None]
        self.wsum += wt

    def correction(self, merged: np.ndarray) -> np.ndarray | None:
        """The glow to subtract, at the small size (H/s x W/s x 3, input scale), or None."""
        if not self.active or not self.wsum.any():
            return None
        s = self.s
        ws, hs = self.small
        m_small = cv2.resize(merged[: hs * s, : ws * s], (ws, hs), interpolation=cv2.INTER_AREA)
        have = (self.wsum > 0.5).astype(np.float32)
        x_near = self.acc / np.maximum(self.wsum, 1e-6)[..., None]
        glow, den = _linear(m_small - x_near, have, self.mean)
        a, _ = _normalised(m_small, self.front.astype(np.float32), self.colour)
        b, _ = _normalised(m_small, have, self.colour)  # the far side's colour (with its glow, if any)
        ab = a - b
        contrast = np.sqrt((ab * ab).sum(axis=2))
        u = ab / np.maximum(contrast, 1e-6)[..., None]
        along = (glow * u).sum(axis=2)
        # a glow is smooth along the edge and over its width; the texture the near edge's slice lost
        # is not: a wider window keeps a glow (the local linear fit follows its slope) and averages
        # texture away, so the correction is at most COHERE times the wide window's
        wide, _ = _linear(m_small - x_near, have, WIDE * self.mean)
        np.minimum(along, COHERE * np.maximum((wide * u).sum(axis=2), 0.0), out=along)
        # a glow is a mix toward the near colour: other differences (a glint's bokeh in the near
        # edge's slice, texture it lost) point elsewhere and are left alone
        cos = along / np.maximum(np.sqrt((glow * glow).sum(axis=2)), 1e-6)
        along *= np.clip((cos - ALIGN) / (1.0 - ALIGN) * 2.0, 0.0, 1.0)
        np.clip(along, 0.0, CAP * contrast, out=along)
        # the far side's texture that the near edge's slice lost moves the mean a little either way:
        # clipping at 0 would keep half of that, so a glow must stand out of it (full from 2 FLOOR)
        floor = FLOOR * self.in_max / 255.0
        along *= np.clip(along / floor - 1.0, 0.0, 1.0)
        # a highlight on the far side is a bright disc (its bokeh) in the near edge's slice, not a
        # glow: far sides within reach of a white pixel are left alone
        white = np.zeros((hs, ws), bool)
        rows = max(1, BAND // s)
        grown: np.ndarray = np.asarray(cv2.dilate((along > 0).view(np.uint8), self.disk))
        reached = grown.max(axis=1) > 0
        for y in range(0, hs, rows):  # in bands (no full-size temporaries), only where it matters
            if reached[y : y + rows].any():
                part = merged[y * s : min(hs, y + rows) * s, : ws * s]
                lowest = np.minimum(np.minimum(part[..., 0], part[..., 1]), part[..., 2])
                white[y : y + rows] = _block_max(lowest, s) >= GLINT * self.in_max
        along *= cv2.dilate(white.view(np.uint8), self.disk) == 0
        c0 = CONTRAST * self.in_max / 255.0
        gate = np.clip(contrast / c0 - 1.0, 0.0, 1.0)
        along *= gate * self.taper * np.clip(den / 0.1, 0.0, 1.0)
        out: np.ndarray = (along[..., None] * u).astype(np.float32)
        return out

    def apply(self, merged: np.ndarray, workers: Workers, depth: np.ndarray, soften: float) -> None:
        """Subtract the glow from ``merged`` (float, input scale, in place) on the far sides' pixels
        (``soften``: pass 2's weight softening, px)."""
        corr = self.correction(merged)
        if corr is None:
            return
        h, w = self.shape
        s = self.s
        near_first, n = self.near_first, self.n
        rows = np.nonzero(np.abs(corr).max(axis=(1, 2)) > 0)[0]
        if not rows.size:
            return
        y_lo, y_hi = max(0, rows[0] * s - s), min(h, (rows[-1] + 2) * s)

        pad = int(np.ceil(3 * soften)) + 1

        def strip(part: tuple[int, int]) -> None:
            y0, y1 = part
            a, b = max(0, y0 - pad), min(h, y1 + pad)
            # full-size pixel (x, a + v) -> small pixel ((x + 0.5) / s - 0.5, (a + v + 0.5) / s - 0.5)
            m = np.array([[1.0 / s, 0.0, 0.5 / s - 0.5], [0.0, 1.0 / s, (a + 0.5) / s - 0.5]])
            inverse = cv2.WARP_INVERSE_MAP
            near = cv2.warpAffine(
                self.near, m, (w, b - a), flags=cv2.INTER_NEAREST | inverse, borderMode=cv2.BORDER_REPLICATE
            )
            d = depth[a:b] if near_first else np.float32(n - 1) - depth[a:b]
            # the far side's share of each pixel: pass 2 softens its weights, so the far side's slices
            # (and their glow) reach a pixel or two into the near side at the step
            far = ((d - near) > JUMP).astype(np.float32)
            share = far[y0 - a : y1 - a]
            if soften > 0:
                np.maximum(share, gaussian(far, soften)[y0 - a : y1 - a], out=share)
            m[1, 2] = (y0 + 0.5) / s - 0.5
            flags = cv2.INTER_LINEAR | inverse
            up = np.asarray(
                cv2.warpAffine(corr, m, (w, y1 - y0), flags=flags, borderMode=cv2.BORDER_REPLICATE), np.float32
            )
            up *= share[..., None]
            merged[y0:y1] -= up

        workers.run(strip, [(y, min(y + BAND, y_hi)) for y in range(y_lo, y_hi, BAND)])  # bounded temporaries
