"""Noise-aware refinement: average every slice that agrees with the depth-map merge within the noise.

The depth-map merge (:mod:`rig.merge.blend`) takes each pixel from the one or two slices at its
depth, so it keeps one slice's noise. Where several slices are equally sharp (a deep depth of
field, fine focus steps, flat or low-texture areas such as velvet or a white background) their
average is a better estimate. Pass 3 streams the slices once more and adds slice ``k`` at a pixel
with a weight that falls from 1 to 0 as the slice's local squared difference from the first merge
(Gaussian window) rises from ``LOW`` to ``HIGH`` times what noise alone explains. A blurrier slice
differs from the merge by the detail it lost, and a slice where a defocused near edge glows over
the background differs by the glow: both exceed the noise and get no weight, so averaging neither
softens detail nor brings a halo back. Every output value stays a convex combination of
co-located slice values (no invented detail, the slices' own colour).

The noise is measured as a function of brightness (Poisson-Gaussian sensors are noisier in the
highlights) on differences of neighbouring slices (:func:`noise_model`), so it is the noise as
JPEG compression and demosaicing left it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, cast

import cv2
import numpy as np

from rig.merge.blend import is_identity, quantise
from rig.merge.boxes import Box, SliceBoxes, box_cells, grid_shape
from rig.merge.focus import gaussian
from rig.merge.workers import PIXELWISE, Backlog, InOrder, Workers

if TYPE_CHECKING:
    from numpy.typing import DTypeLike, NDArray

LOW, HIGH = 2.0, 4.0  # agreement window: full weight below LOW x the measured noise, none above HIGH x
REACH = 0.15  # share of the stack around the depth map's slice whose slices may be averaged
BLOCK = 64  # px: pass 3 skips the blocks out of a slice's reach
BOX = 512  # px: and works in boxes of at most BOX x BOX (bounded temporaries)
HALF_WEIGHTS = True
WARP = cv2.INTER_CUBIC
BINS = 16  # brightness bands of the noise model
NOISE_SAMPLE_PX = 2_000_000  # pixels of each pair (about) that the noise model looks at
HIGHPASS_SHARE = 1.0 - 1.0 / (4 * np.pi)  # of white noise's variance that survives x - G_1(x)
MEAN3 = np.full((1, 3), 1.0 / 3.0, np.float32)  # cv2.transform: mean of the three channels
# two neighbouring slices for :func:`noise_model`: (image, affine, gain) of each
SlicePair = tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray, float]


def noise_model(
    pairs: Iterable[SlicePair], sigma: float, in_max: float, workers: Workers | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Noise model from pairs of neighbouring slices, each given as (image, affine, gain, image,
    affine, gain) (consumed one pair at a time); returns (brightness band centres, variance of a difference
    of two noisy values) for :func:`numpy.interp`. The row bands of a pair are spread over ``workers``.

    Per brightness band: the lower quintile of the local variance of the fine part of the pair's
    difference, the smallest over the pairs. Only the fine part is used: two defocused renderings
    of the same detail hardly differ there (a Gaussian of 2 px keeps under 0.1 % of it), while
    white noise keeps 92 % of its variance. Detail in focus in one slice of a pair differs more,
    hence the lower quintile, and the smallest over pairs from different parts of the stack (some
    pair sees any area defocused). The difference carries the noise as JPEG and demosaicing left it.
    """
    edges = np.linspace(0.0, in_max, BINS + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    best = np.full(BINS, np.inf)
    for pair in pairs:
        h, w = pair[0].shape[:2]
        # every other band of 64 rows; on large slices fewer (about 2 MP per pair are plenty)
        every = max(2, (h * w) // NOISE_SAMPLE_PX)
        samples: list[list[np.ndarray]] = [[] for _ in range(BINS)]
        bands = (workers or Workers(1)).run(partial(_noise_band, pair, sigma, edges), range(0, h, every * 64))
        for found in bands:
            for k, values in found:  # in band order, as in one thread
                samples[k].append(values)
        for k in range(BINS):
            v = np.concatenate(samples[k]) if samples[k] else np.empty(0)
            if v.size > 400:
                best[k] = min(best[k], np.percentile(v, 20) / 0.85 / HIGHPASS_SHARE)
    floor = 2 * (0.5 * in_max / 255.0) ** 2  # quantisation
    good = np.isfinite(best)
    if not good.any():
        return centres, np.full(BINS, floor)
    var = np.interp(centres, centres[good], best[good])
    return centres, np.maximum(var, floor)


def _noise_band(pair: SlicePair, sigma: float, edges: np.ndarray, y0: int) -> list[tuple[int, np.ndarray]]:
    """The local variances of the band of 64 rows from ``y0`` of a pair's fine difference, per brightness band."""
    a_img, a_aff, a_gain, b_img, b_aff, b_gain = pair
    h, w = a_img.shape[:2]
    box = (0, y0, w, min(h, y0 + 64))
    a, b = warp_box(a_img, a_aff, a_gain, box), warp_box(b_img, b_aff, b_gain, box)
    diff = a - b
    diff -= cv2.GaussianBlur(diff, (7, 7), 1.0)
    d = gaussian(cv2.transform(diff * diff, MEAN3), sigma)
    level = gaussian(cv2.transform(a + b, MEAN3 * 0.5), sigma)
    idx = np.clip(np.digitize(level, edges) - 1, 0, len(edges) - 2)
    return [(int(k), d[idx == k]) for k in np.unique(idx)]


def warp_box(img: np.ndarray, affine: np.ndarray, gain: float, box: tuple[int, int, int, int]) -> np.ndarray:
    """The part ``box`` (x0, y0, x1, y1, reference frame) of slice ``img``, float32, times ``gain``."""
    x0, y0, x1, y1 = box
    if is_identity(affine):
        part = img[y0:y1, x0:x1].astype(np.float32)
    else:
        a = affine.copy()
        a[:, 2] = a[:, 2] + a[:, 0] * x0 + a[:, 1] * y0
        part = cv2.warpAffine(
            img, a, (x1 - x0, y1 - y0), flags=WARP | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
        ).astype(np.float32)
    if gain != 1.0:
        part *= np.float32(gain)
    return part


class AgreementAverager:
    """Accumulates the first merge (weight 1) and every slice where it agrees with it."""

    def __init__(
        self,
        guide: np.ndarray,
        noise: tuple[np.ndarray, np.ndarray],
        sigma: float,
        depth: np.ndarray,
        n: int,
        workers: Workers | None = None,
    ) -> None:
        self.workers = workers or Workers(1)
        self._order = InOrder(self.workers, grid_shape(depth.shape, BLOCK))
        self._backlog = Backlog(1)
        self.guide = guide  # H x W x 3 float32, input scale
        self.depth = depth  # slice index per pixel (the depth map)
        self.reach = max(2.0, REACH * n)  # slices this far from the depth get no weight
        self.boxes = SliceBoxes(depth, n, self.reach, block=BLOCK)
        self.sigma = sigma
        h, w = guide.shape[:2]
        self.var = np.empty((h, w), np.float32)  # noise variance of a difference of two values
        self.acc = np.empty_like(guide)
        self.wsum: NDArray[np.float32] = np.ones((h, w), np.float32)  # H x W

        def strip(rows: tuple[int, int]) -> None:
            y0, y1 = rows
            self.var[y0:y1] = np.interp(guide[y0:y1].mean(axis=2), *noise)
            self.acc[y0:y1] = guide[y0:y1]

        self.workers.run(strip, self.workers.strips(h, per_thread=PIXELWISE))

    def reaches(self, k: int) -> list[tuple[int, int, int, int]]:
        """Boxes (x0, y0, x1, y1) covering every pixel where slice ``k`` is within reach of the depth map."""
        return self.boxes.boxes(k, max_size=BOX)

    def add(self, k: int, img: np.ndarray, affine: np.ndarray, gain: float) -> None:
        """Add slice ``k`` where it agrees with the guide, box by box (disjoint, queued on the workers
        after the earlier slices' boxes under them). Returns once at most the previous slice's boxes
        are still running; :meth:`result` waits for all."""
        add = partial(self._add_box, k, img, affine, gain)
        self._backlog.add([self._order.submit(partial(add, box), *box_cells(box, BLOCK)) for box in self.reaches(k)])

    def _add_box(self, k: int, img: np.ndarray, affine: np.ndarray, gain: float, box: Box) -> None:
        h, w = self.wsum.shape
        m = int(np.ceil(3 * self.sigma)) + 1
        x0, y0, x1, y1 = box
        px0, py0, px1, py1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
        part = warp_box(img, affine, gain, (px0, py0, px1, py1))
        diff = cv2.subtract(part, self.guide[py0:py1, px0:px1])
        cv2.multiply(diff, diff, dst=diff)
        inner = (slice(y0 - py0, y1 - py0), slice(x0 - px0, x1 - px0))
        d = cv2.transform(diff, MEAN3)
        if HALF_WEIGHTS:
            ph, pw = d.shape
            small = cv2.resize(d, ((pw + 1) // 2, (ph + 1) // 2), interpolation=cv2.INTER_AREA)
            d = cv2.resize(gaussian(small, self.sigma / 2), (pw, ph), interpolation=cv2.INTER_LINEAR)[inner]
        else:
            d = gaussian(d, self.sigma)[inner]
        # weight: 1 below LOW x the noise, 0 above HIGH x, linear between
        wt = cast("np.ndarray", cv2.divide(d, self.var[y0:y1, x0:x1], scale=-1.0 / (HIGH - LOW)))  # float32
        wt += np.float32(HIGH / (HIGH - LOW))
        np.clip(wt, 0.0, 1.0, out=wt)
        # fading with the distance from the depth: far slices lose faint detail (paper grain)
        # a float is a Scalar to OpenCV (valid at runtime), which its stubs do not allow
        near = cv2.absdiff(self.depth[y0:y1, x0:x1], float(k))  # type: ignore[call-overload]
        wt *= np.clip(1.0 - near * np.float32(1.0 / self.reach), 0.0, 1.0)
        part = part[inner]
        acc, wsum = self.acc[y0:y1, x0:x1], self.wsum[y0:y1, x0:x1]
        cv2.add(acc, cv2.multiply(part, cv2.merge([wt, wt, wt])), dst=acc)  # in place (as +=, cheaper)
        cv2.add(wsum, wt, dst=wsum)

    def normalised(self) -> np.ndarray:
        """The weighted mean in the input scale (float32, computed in place: the averager is spent)."""
        self._backlog.drain()

        def strip(rows: tuple[int, int]) -> None:
            y0, y1 = rows
            self.acc[y0:y1] /= self.wsum[y0:y1, :, None]

        self.workers.run(strip, self.workers.strips(self.acc.shape[0], per_thread=PIXELWISE))
        return self.acc

    def result(self, dtype: DTypeLike, in_max: float) -> np.ndarray:
        return quantise(self.normalised(), dtype, in_max, self.workers)
