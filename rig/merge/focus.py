"""Focus measure and the regularised depth map.

The focus measure is the local energy of the Laplacian (squared, Gaussian-averaged), computed
in each slice's own frame so that resampling never biases it, then warped into the reference
frame. A streaming accumulator keeps only the best energy, its slice index and the energy sum
per pixel: memory does not grow with the number of slices.

The raw argmax is noisy where there is no texture. :func:`regularise` makes it spatially
consistent: a median filter removes isolated wrong picks while keeping depth steps sharp, and
where the focus curve has no clear peak (flat areas, noise) the depth is filled in from
confident neighbours by normalised convolution at a coarse scale.
"""

from __future__ import annotations

import cv2
import numpy as np


def focus_energy(gray: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-averaged squared Laplacian of a grey image (float32, same size)."""
    g = gray.astype(np.float32)
    if gray.dtype == np.uint16:
        g *= 1.0 / 257.0
    lap = cv2.Laplacian(g, cv2.CV_32F, ksize=1)
    cv2.multiply(lap, lap, dst=lap)
    return cv2.GaussianBlur(lap, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


class DepthAccumulator:
    """Per-pixel running best focus energy, its slice index and the energy sum."""

    def __init__(self, height: int, width: int, n: int) -> None:
        self.n = n
        self.best = np.zeros((height, width), np.float32)
        self.index = np.zeros((height, width), np.uint8 if n <= 256 else np.uint16)
        self.total = np.zeros((height, width), np.float32)
        self.count = 0

    def add(self, k: int, energy: np.ndarray) -> None:
        better = energy > self.best
        np.copyto(self.index, k, where=better, casting="unsafe")
        np.maximum(self.best, energy, out=self.best)
        self.total += energy
        self.count += 1


def regularise(acc: DepthAccumulator, median: int = 5, fill_sigma: float = 24.0) -> np.ndarray:
    """Spatially consistent depth (float32 slice index, fractional where it was filled in)."""
    idx = acc.index
    h, w = idx.shape
    k = max(3, median | 1)
    if idx.dtype == np.uint16 and k > 5:
        k = 5
    dm = cv2.medianBlur(idx, k).astype(np.float32)
    # confidence: how much the best slice stands out of the mean of the focus curve
    mean = acc.total / max(acc.count, 1)
    floor = float(np.percentile(mean, 5)) + 1e-3  # noise floor of the energy
    conf = (acc.best - mean) / (mean + floor)
    np.clip(conf, 0.0, 4.0, out=conf)
    conf = cv2.medianBlur(conf, 5)
    conf *= conf
    # coarse normalised convolution of the confident depths fills flat areas
    f = max(1, int(round(fill_sigma / 4)))
    small = (max(1, w // f), max(1, h // f))
    cw = cv2.resize(conf, small, interpolation=cv2.INTER_AREA)
    dw = cv2.resize(conf * dm, small, interpolation=cv2.INTER_AREA)
    s = fill_sigma / f
    cw = cv2.GaussianBlur(cw, (0, 0), s, borderType=cv2.BORDER_REFLECT)
    dw = cv2.GaussianBlur(dw, (0, 0), s, borderType=cv2.BORDER_REFLECT)
    global_mean = float((conf * dm).sum() / max(conf.sum(), 1e-6)) if conf.sum() > 0 else (acc.n - 1) / 2
    eps = 1e-4
    dc = (dw + eps * global_mean) / (cw + eps)
    dc = cv2.resize(dc, (w, h), interpolation=cv2.INTER_LINEAR)
    c0 = 0.25  # confidence at which the local pick and the fill weigh equally
    alpha = conf / (conf + c0)
    depth = alpha * dm + (1.0 - alpha) * dc
    return depth.astype(np.float32)
