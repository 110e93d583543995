"""Per-frame checks while shooting: is this shot as bright and as sharp as its neighbour?

Pure numpy/OpenCV on a downscaled grey copy (the camera's embedded preview when a JPEG carries
one at least ``MIN_WIDTH`` wide, :mod:`rig.jpeg_preview`; otherwise the JPEG decoded once at 1/2,
1/4 or 1/8 scale by libjpeg itself, the factor read from its header; the decode is most of the
cost: ``bench/check_overhead.py --cost``). A shot is measured once
(:func:`measure`): its mean brightness and a grid of per-tile sharpness (mean absolute
Laplacian), which the coverage map (:mod:`rig.coverage`) reuses. :func:`judge` compares it with
the last good shot of the stack:

- ``brightness``: the mean differs by more than ``brightness_tolerance`` (a missed or double
  flash, exposure flicker);
- ``sharpness``: in (nearly) every textured tile it is below ``sharpness_tolerance`` times the
  neighbour's sharpness (vibration, a knock). A focus step makes some tiles softer and others
  sharper; a shake makes all of them softer.

A frame that cannot be decoded is not judged (:class:`CheckFailed`): the caller keeps it and
marks it unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from rig.jpeg_preview import jpeg_width, preview_for_checks

GRID = (8, 6)  # tiles across, down
MIN_WIDTH = 640  # the downscaled copy is at least this wide (when the frame is)
TEXTURE_FLOOR = 2.0  # mean |Laplacian| (grey levels) below which a tile counts as featureless
EVERYWHERE = 0.75  # "softer everywhere": this fraction of the detailed tiles
EPS = 0.5
THUMB_W = 80  # the coverage map compares slices on thumbnails this wide (averaging away noise)


class CheckFailed(ValueError):
    """The check itself could not run (e.g. the file does not decode); the frame is kept."""


@dataclass(frozen=True)
class Measure:
    """One shot's figures on its downscaled grey copy."""

    brightness: float  # mean grey level, 0..255
    across: np.ndarray = field(repr=False)  # GRID[1] x GRID[0] float32: mean |d2/dx2| per tile
    down: np.ndarray = field(repr=False)  # the same for |d2/dy2|
    thumb: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((1, 1), np.float32))  # grey, THUMB_W wide

    @property
    def tiles(self) -> np.ndarray:
        """Per-tile sharpness: detail in both directions."""
        total: np.ndarray = self.across + self.down
        return total

    @property
    def sharpness(self) -> float:
        return float(self.tiles.mean())


@dataclass(frozen=True)
class Verdict:
    """What :func:`judge` found: ``reasons`` is empty for a good shot."""

    brightness_ratio: float | None  # this shot's mean / the neighbour's
    sharpness_ratio: float | None  # median tile ratio, this shot / the neighbour
    softer_fraction: float | None  # share of textured tiles below the tolerance
    reasons: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.reasons


REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def decode_small(data: bytes) -> np.ndarray:
    """The frame in colour (BGR uint8) at least ``MIN_WIDTH`` wide (or full size if smaller). A
    JPEG that carries a preview at least that wide (:func:`rig.jpeg_preview.preview_for_checks`:
    most cameras embed a 1-2 MP one) is measured on the preview; otherwise it is decoded once, at
    the largest reduction libjpeg offers (1/8, 1/4, 1/2) that keeps it that wide, chosen from its
    header: the decode (its entropy decoding, whatever the reduction) is most of a check's cost."""
    preview = preview_for_checks(data, MIN_WIDTH)
    if preview is not None:
        try:
            return _decode_reduced(preview)
        except CheckFailed:  # a damaged preview: the image itself
            pass
    return _decode_reduced(data)


def _decode_reduced(data: bytes) -> np.ndarray:
    buf = np.frombuffer(data, np.uint8)
    width = jpeg_width(data)
    flag = cv2.IMREAD_COLOR
    if width is not None:
        flag = next((f for factor, f in REDUCED if width // factor >= MIN_WIDTH), cv2.IMREAD_COLOR)
    img = cv2.imdecode(buf, flag)
    if img is None or img.size == 0:
        raise CheckFailed("the frame does not decode as an image")
    if img.dtype != np.uint8:  # 16-bit PNG/TIFF
        img = (img / 257.0).astype(np.uint8)
    factor = next((f for f, _ in REDUCED if img.shape[1] // f >= MIN_WIDTH), 1) if width is None else 1
    if factor > 1:  # PNG, TIFF: decoded whole, measured at the size a JPEG would be
        size = (img.shape[1] // factor, img.shape[0] // factor)
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return img


def measure(data: bytes) -> Measure:
    """Brightness and per-tile sharpness of one encoded frame. Raises :class:`CheckFailed`."""
    return measure_image(data)[0]


def measure_image(data: bytes) -> tuple[Measure, np.ndarray]:
    """:func:`measure`, and the downscaled colour copy it measured (for the live composite)."""
    small = decode_small(data)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32)
    if gray.shape[0] < GRID[1] * 4 or gray.shape[1] < GRID[0] * 4:
        raise CheckFailed(f"the frame is too small to check ({gray.shape[1]}x{gray.shape[0]} px)")
    # one second derivative per direction: a shake smears detail along one direction, which a
    # Laplacian (their sum) would half hide
    across = cv2.resize(np.abs(cv2.Sobel(gray, cv2.CV_32F, 2, 0, ksize=3)), GRID, interpolation=cv2.INTER_AREA)
    down = cv2.resize(np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 2, ksize=3)), GRID, interpolation=cv2.INTER_AREA)
    thumb_size = (THUMB_W, max(1, THUMB_W * gray.shape[0] // gray.shape[1]))
    thumb = cv2.resize(gray, thumb_size, interpolation=cv2.INTER_AREA)
    return Measure(float(gray.mean()), across.astype(np.float32), down.astype(np.float32), thumb), small


def detailed(m: Measure) -> np.ndarray:
    """The tiles with detail to lose: above the noise, and at least half as sharp as the frame's
    sharper quarter (a defocused tile has nothing a shake could blur)."""
    tiles = m.tiles
    mask: np.ndarray = (tiles > TEXTURE_FLOOR) & (tiles >= 0.5 * np.percentile(tiles, 75))
    return mask


def _ratios(a: Measure, b: Measure) -> np.ndarray:
    """Per tile, a's sharpness over b's in the direction where a lost most."""
    return np.minimum((a.across + EPS) / (b.across + EPS), (a.down + EPS) / (b.down + EPS))


def judge(
    shot: Measure, neighbour: Measure | None, *, brightness_tolerance: float, sharpness_tolerance: float
) -> Verdict:
    """``shot`` against the last good shot of the stack (None for the first: nothing to compare)."""
    if neighbour is None:
        return Verdict(None, None, None)
    reasons: list[str] = []
    b_ratio = (shot.brightness + EPS) / (neighbour.brightness + EPS)
    if abs(b_ratio - 1.0) > brightness_tolerance:
        word = "darker" if b_ratio < 1 else "brighter"
        reasons.append(f"brightness: {abs(b_ratio - 1) * 100:.0f}% {word} than the previous slice")
    textured = detailed(neighbour)
    ratios = _ratios(shot, neighbour)
    s_ratio = float(np.median(ratios[textured])) if textured.any() else None
    softer = float((ratios[textured] < sharpness_tolerance).mean()) if textured.any() else None
    if softer is not None and s_ratio is not None and softer >= EVERYWHERE and s_ratio < sharpness_tolerance:
        reasons.append(f"sharpness: softer than the previous slice everywhere ({s_ratio * 100:.0f}% of its detail)")
    return Verdict(round(b_ratio, 4), None if s_ratio is None else round(s_ratio, 4), softer, tuple(reasons))


def agree(a: Measure, b: Measure, *, sharpness_tolerance: float) -> bool:
    """Two shots at the same place equally sharp (neither softer everywhere than the other): a
    softness that a retake repeats is the subject's (depth of field), not a shake."""
    textured = detailed(a) | detailed(b)
    if not textured.any():
        return True
    return bool(
        np.median(_ratios(a, b)[textured]) > sharpness_tolerance
        and np.median(_ratios(b, a)[textured]) > sharpness_tolerance
    )
