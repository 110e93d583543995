"""Focus measure and the regularised depth map.

The focus measure is the local energy of the Laplacian (squared, Gaussian-averaged), computed
in each slice's own frame so that resampling never biases it, then warped into the reference
frame. A streaming accumulator keeps only the best energy, its slice index and the energy sum
per pixel: memory does not grow with the number of slices.

The raw argmax is noisy where there is no texture. :func:`regularise` makes it spatially
consistent: a median filter removes isolated wrong picks while keeping depth steps sharp, and
where the focus curve has no clear peak (flat areas, noise) the depth is filled in from
confident neighbours by push-pull normalised convolution over a pyramid.
"""

from __future__ import annotations

from concurrent.futures import Future
from functools import partial

import cv2
import numpy as np

from rig.merge.workers import PIXELWISE, Workers

RELATIVE_RADIUS = 32  # px per 1600 px of image size
RELATIVE_GAIN = 4.0  # energy below 1/4 of the neighbourhood's best loses confidence
PRE_BLUR = 0.6  # px: Gaussian before the Laplacian (sensor noise and JPEG artefacts live at the finest scale)


def gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with a +-3 sigma kernel (OpenCV's automatic size for float images is up to
    5x slower on 12 MP frames and no more accurate for this use)."""
    k = 2 * _radius(sigma) + 1
    return cv2.GaussianBlur(img, (k, k), sigma, borderType=cv2.BORDER_REFLECT)


def focus_energies(
    gray: np.ndarray, sigma: float, coarse_sigma: float, gain2: float = 1.0, workers: Workers | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Focus energy at two window sizes: fine (full size, ``sigma``) and coarse (half size).

    The fine one places depth steps to a pixel; the coarse one is not fooled near a sharp
    detail by the defocus ramps that a blurred copy of it spreads into its surroundings.
    Both are multiplied by ``gain2`` (the square of the slice's exposure gain). With ``workers``,
    row strips are computed in parallel, each from its rows plus a margin wider than the filters
    reach: the result is the same as in one piece.
    """
    fine, coarse, parts = submit_energies(gray, sigma, coarse_sigma, gain2, workers or Workers(1))
    for part in parts:
        part.result()
    return fine, coarse


def submit_energies(
    gray: np.ndarray, sigma: float, coarse_sigma: float, gain2: float, workers: Workers
) -> tuple[np.ndarray, np.ndarray, list[Future[None]]]:
    """:func:`focus_energies` queued on ``workers``: the arrays and the parts that fill them."""
    h, w = gray.shape[:2]
    fine = np.empty((h, w), np.float32)
    coarse = np.empty((max(1, (h + 1) // 2), max(1, (w + 1) // 2)), np.float32)
    # halving needs even strip boundaries; an odd height is done in one piece
    strips = workers.strips(h, align=2) if h % 2 == 0 else [(0, h)]
    sigmas = (sigma, coarse_sigma)
    parts = [workers.submit(partial(_energy_rows, gray, sigmas, gain2, rows, fine, coarse)) for rows in strips]
    return fine, coarse, parts


def _energy_rows(
    gray: np.ndarray,
    sigmas: tuple[float, float],
    gain2: float,
    rows: tuple[int, int],
    fine: np.ndarray,
    coarse: np.ndarray,
) -> None:
    """Rows ``rows`` of :func:`focus_energies` (``fine``) and their half-size rows (``coarse``)."""
    h, w = gray.shape[:2]
    sigma, coarse_sigma = sigmas
    y0, y1 = rows
    # rows the filters reach: pre-blur 2 + Laplacian 1, then the fine or (2x) the coarse Gaussian
    margin = max(_radius(sigma), 2 * _radius(coarse_sigma / 2)) + 6
    margin += margin % 2
    a, b = (0, h) if (y0, y1) == (0, h) else (max(0, y0 - margin), min(h, y1 + margin))
    g: np.ndarray = gray[a:b].astype(np.float32)
    if gray.dtype == np.uint16:
        g *= 1.0 / 257.0
    if PRE_BLUR > 0:  # the finest pixel-to-pixel changes are mostly noise and JPEG artefacts
        g = cv2.GaussianBlur(g, (5, 5), PRE_BLUR)
    lap = cv2.Laplacian(g, cv2.CV_32F, ksize=1)
    del g
    cv2.multiply(lap, lap, dst=lap)
    half = cv2.resize(lap, (coarse.shape[1], max(1, (b - a + 1) // 2)), interpolation=cv2.INTER_AREA)
    part = coarse[y0 // 2 : (y1 + 1) // 2]
    part[...] = gaussian(half, coarse_sigma / 2)[(y0 - a) // 2 : (y1 - a + 1) // 2]
    del half
    if gain2 != 1.0:
        part *= np.float32(gain2)
    part = fine[y0:y1]
    part[...] = gaussian(lap, sigma)[y0 - a : y1 - a]
    if gain2 != 1.0:
        part *= np.float32(gain2)


def _radius(sigma: float) -> int:
    """Half the kernel size :func:`gaussian` uses."""
    return int(np.ceil(3.0 * sigma))


def depth_map(acc: DepthAccumulator, acc_c: DepthAccumulator, med: int, window: int, workers: Workers) -> np.ndarray:
    """The regularised depth map from the fine and the coarse accumulators (``window``: the coarse
    depth steps' reach, :func:`combine_scales`)."""
    fine_index = median_index(acc, median=med, workers=workers)
    # the two scales are independent: one thread each
    fine_job = workers.submit(partial(regularise, acc, median=med, index=fine_index))
    coarse_job = workers.submit(partial(_coarse_full, acc_c, acc.best.shape))
    fine_depth, coarse_depth = fine_job.result(), coarse_job.result()
    return combine_scales(fine_depth, coarse_depth, window, fine_index=fine_index, workers=workers)


def _coarse_full(acc: DepthAccumulator, shape: tuple[int, ...]) -> np.ndarray:
    """The regularised coarse depth map at full size (one part, beside the fine depth map's)."""
    h, w = shape
    return cv2.resize(regularise(acc, median=5), (w, h), interpolation=cv2.INTER_LINEAR)


def combine_scales(
    fine: np.ndarray,
    coarse: np.ndarray,
    window: int,
    jump: float = 2.5,
    guard: float = 1.0,
    fine_index: np.ndarray | None = None,
    workers: Workers | None = None,
) -> np.ndarray:
    """The coarse depth, except within ``window`` px of one of its depth steps: the fine depth there.

    Near a step the true depth is one of the depths on either side of it (within ``guard``
    slices). ``fine_index`` (the median-filtered argmax, :func:`median_index`) is preferred there
    when it lies in that range: the regularised fine depth mixes the two sides where the strong
    edge of the step lowers the confidence of the weaker side, and an in-between depth is a slice
    where neither side is sharp. A fine depth outside the range is a fill-in from far away (a flat
    area's push-pull), not a better estimate: the coarse depth stays there. With ``workers``, in
    row strips (the coarse depth's minimum and maximum of each from its rows plus ``window``: the
    same result as in one piece, without whole-image temporaries).
    """
    h, w = fine.shape
    if coarse.shape != fine.shape:
        coarse = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    se = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * window + 1, 2 * window + 1))
    out = np.empty((h, w), np.float32)

    def strip(rows: tuple[int, int]) -> None:
        y0, y1 = rows
        a0, a1 = max(0, y0 - window), min(h, y1 + window)
        inner = slice(y0 - a0, y1 - a0)
        lo, hi = cv2.erode(coarse[a0:a1], se)[inner], cv2.dilate(coarse[a0:a1], se)[inner]
        f = fine[y0:y1]
        near_step = (hi - lo) > jump
        near_step &= (f >= lo - guard) & (f <= hi + guard)
        out[y0:y1] = np.where(near_step, f, coarse[y0:y1])
        if fine_index is not None:
            raw = fine_index[y0:y1].astype(np.float32)
            use = near_step & (raw >= lo - guard) & (raw <= hi + guard)
            np.copyto(out[y0:y1], raw, where=use)

    (workers or Workers(1)).run(strip, workers.strips(h, per_thread=PIXELWISE) if workers is not None else [(0, h)])
    return out


class DepthAccumulator:
    """Per-pixel running best focus energy, its slice index and the energy sum."""

    def __init__(self, height: int, width: int, n: int) -> None:
        self.n = n
        self.best = np.zeros((height, width), np.float32)
        self.index = np.zeros((height, width), np.uint8 if n <= 256 else np.uint16)
        self.total = np.zeros((height, width), np.float32)
        self.count = 0

    def add(self, k: int, energy: np.ndarray) -> None:
        self.add_rows(k, energy, 0)
        self.count += 1

    def add_rows(self, k: int, energy: np.ndarray, y0: int) -> None:
        """Fold slice ``k``'s ``energy`` into rows ``y0``... (the caller counts the slice once:
        strips of one slice may be added from several threads)."""
        rows = slice(y0, y0 + energy.shape[0])
        best = self.best[rows]
        np.copyto(self.index[rows], k, where=energy > best, casting="unsafe")
        np.maximum(best, energy, out=best)
        self.total[rows] += energy


def median_index(acc: DepthAccumulator, median: int = 5, workers: Workers | None = None) -> np.ndarray:
    """The best-slice index, median-filtered (isolated wrong picks removed, depth steps kept);
    with ``workers`` in row strips, each filtered with a margin of half the window (the same result)."""
    idx = acc.index
    if idx.dtype == np.uint16 and acc.n <= 256:
        idx = idx.astype(np.uint8)  # a follow-mode accumulator sized for any count: allow large medians
    k = max(3, median | 1)
    if idx.dtype == np.uint16 and k > 5:
        k = 5
    if workers is None:
        return cv2.medianBlur(idx, k)
    out = np.empty_like(idx)
    h = idx.shape[0]

    def strip(rows: tuple[int, int]) -> None:
        y0, y1 = rows
        a, b = max(0, y0 - k // 2), min(h, y1 + k // 2)
        out[y0:y1] = cv2.medianBlur(idx[a:b], k)[y0 - a : y1 - a]

    workers.run(strip, workers.strips(h, per_thread=PIXELWISE))
    return out


def regularise(acc: DepthAccumulator, median: int = 5, index: np.ndarray | None = None) -> np.ndarray:
    """Spatially consistent depth (float32 slice index, fractional where it was filled in).

    ``index``: :func:`median_index` of ``acc`` if the caller has it already."""
    h, w = acc.index.shape
    dm = (median_index(acc, median) if index is None else index).astype(np.float32)
    conf = peak_confidence(acc)
    # a flat area next to strong edges only sees the edges' defocus ramps: weak compared to
    # the detail around it. Scale confidence by the energy relative to its neighbourhood's.
    conf *= _relative_to_neighbourhood(acc.best, max(8, round(RELATIVE_RADIUS * max(h, w) / 1600)))
    conf *= conf
    return push_pull(dm, conf, c0=0.1)


def peak_confidence(acc: DepthAccumulator) -> np.ndarray:
    """How far the best slice's energy stands above the mean of the focus curve, relative to the
    mean plus the energy's noise floor (0..4, median-filtered). Noise alone gives well under 1."""
    mean = acc.total / max(acc.count, 1)
    floor = float(np.percentile(mean, 5)) + 1e-3  # noise floor of the energy
    conf = (acc.best - mean) / (mean + floor)
    np.clip(conf, 0.0, 4.0, out=conf)
    return cv2.medianBlur(conf, 5)


def _relative_to_neighbourhood(best: np.ndarray, radius: int) -> np.ndarray:
    h, w = best.shape
    f = max(1, radius // 8)
    small = cv2.resize(best, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * (radius // f) + 1, 2 * (radius // f) + 1))
    local = cv2.resize(cv2.dilate(small, k), (w, h), interpolation=cv2.INTER_LINEAR)
    r: np.ndarray = best / (local + 1e-6)
    np.clip(r * RELATIVE_GAIN, 0.0, 1.0, out=r)
    return r


def push_pull(value: np.ndarray, weight: np.ndarray, c0: float) -> np.ndarray:
    """Confidence-weighted fill: each pixel keeps its own value where ``weight`` >> ``c0`` and
    takes the estimate of the next coarser level where it does not (push-pull over a pyramid),
    so flat areas of any size inherit the depth of their nearest confident surroundings.
    """
    nums: list[np.ndarray]
    dens: list[np.ndarray]
    nums, dens = [weight * value], [weight.astype(np.float32)]
    while min(nums[-1].shape) > 8:
        nums.append(cv2.pyrDown(nums[-1]))
        dens.append(cv2.pyrDown(dens[-1]))
    total = float(dens[-1].sum())
    est = np.full_like(nums[-1], float(nums[-1].sum()) / total if total > 1e-9 else float(value.mean()))
    for num, den in zip(reversed(nums), reversed(dens), strict=True):
        up = cv2.resize(est, num.shape[::-1], interpolation=cv2.INTER_LINEAR) if est.shape != num.shape else est
        est = (num + c0 * up) / (den + c0)
    return est.astype(np.float32)
