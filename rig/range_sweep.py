"""Where does the subject start and end? A fast preview sweep (``rig range``, the Range button).

The sweep runs on the sequencer's worker thread (``Sequencer.find_range``), so the rail only ever
moves through the sequencer and a cancel stops it like a stack. It takes at most
:data:`MAX_FRAMES` small preview frames in three passes:

1. a coarse pass of :data:`COARSE_FRAMES` frames spread evenly from ``lo`` to ``hi``;
2. a fine pass of :data:`FINE_FRAMES` frames over what the coarse pass found (:data:`MARGIN`
   coarse steps wider on each side: an end may lie up to a coarse step past the last frame that
   saw it), or of the rest over the whole range again, offset by half a step, when it
   found nothing;
3. three frames around each end found (there and a third of a fine step either side), where the
   answer matters.

Each frame is reduced to a map of focus measure over blocks of :data:`BLOCK_PX` pixels: the squared
Laplacian (the "LAPE" operator of Pertuz et al., "Analysis of focus measure operators for
shape-from-focus", Pattern Recognition 46, 2013). A block has detail when its best frame's measure
is :data:`DETAIL_RATIO` times its median over the sweep (most frames of a block are out of focus,
so the median is its noise floor; noise and flat areas stay near 1) and most of its neighbours
agree (a lone block is noise). Its depth is the peak of a Gaussian through its best sample and
the two beside it (a parabola through their logarithms, the usual sub-step refinement of
shape-from-focus), then the median over its neighbours. The subject's start and end are the low
and high :data:`PERCENTILE` of those depths, so a few noisy blocks cannot stretch the range. Fewer
than :data:`MIN_DETAIL_FRACTION` of the blocks with detail means the subject shows none between
``lo`` and ``hi``: the sweep says so and proposes nothing.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rig.camera.base import Camera
from rig.errors import CameraError, Cancelled
from rig.motion.base import Rail

log = logging.getLogger(__name__)

MAX_FRAMES = 20
COARSE_FRAMES = 8
FINE_FRAMES = 6  # then 6 more: three around each end found
MARGIN = 1.0  # the fine pass reaches this many coarse steps beyond what the coarse pass found
MAX_WIDTH_PX = 320  # previews are reduced to this width before the focus measure
BLOCK_PX = 4
SMOOTH_BLOCKS = 1  # a block's depth is the median over (2r+1)^2 blocks
DETAIL_RATIO = 6.0
MIN_DETAIL_FRACTION = 0.002
PERCENTILE = 0.5
SETTLE_S = 0.15
DEFAULT_SPAN_UM = 10_000.0  # swept around the rail's position when no range is given


@dataclass(frozen=True)
class RangeResult:
    """The answer of one sweep; ``start``/``end`` are None when no detail was found."""

    start: float | None
    end: float | None
    units: str
    frames: int
    swept: tuple[float, float]
    message: str | None = None  # why there is no range (no detail, cancelled)
    at: str | None = None  # when the sweep ended (ISO 8601, UTC), set by the sequencer

    @property
    def found(self) -> bool:
        return self.start is not None and self.end is not None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RangeResult:
        """The inverse of :meth:`to_dict` (rig.range_store); ValueError/TypeError/KeyError if malformed."""

        def num(key: str) -> float | None:
            value = data[key]
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{key} is not a number")
            return float(value)

        lo, hi = num("from_um"), num("to_um")
        if lo is None or hi is None:
            raise ValueError("the swept span is missing")
        message, at = data.get("error"), data.get("at")
        return cls(
            num("start_um"),
            num("end_um"),
            str(data["units"]),
            int(data["frames"]),
            (lo, hi),
            message if isinstance(message, str) else None,
            at if isinstance(at, str) else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_um": None if self.start is None else round(self.start, 3),
            "end_um": None if self.end is None else round(self.end, 3),
            "units": self.units,
            "frames": self.frames,
            "from_um": self.swept[0],
            "to_um": self.swept[1],
            "found": self.found,
            "error": self.message,
            "at": self.at,
        }


def focus_measure(jpeg: bytes) -> np.ndarray:
    """A float32 map of local sharpness (smoothed squared Laplacian) of one preview frame."""
    import cv2

    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise CameraError("the camera's preview frame is not a readable JPEG")
    h, w = img.shape
    if w > MAX_WIDTH_PX:
        img = cv2.resize(img, (MAX_WIDTH_PX, max(1, round(h * MAX_WIDTH_PX / w))), interpolation=cv2.INTER_AREA)
    lap = cv2.Laplacian(img.astype(np.float32), cv2.CV_32F, ksize=3)
    h, w = lap.shape
    blocks = (max(1, w // BLOCK_PX), max(1, h // BLOCK_PX))
    return cv2.resize(lap * lap, blocks, interpolation=cv2.INTER_AREA) + np.float32(1e-3)


def locate(positions: list[float], measures: list[np.ndarray]) -> tuple[float, float] | None:
    """(start, end) of the subject from frames at ``positions``; None when it shows no detail."""
    if len(positions) < 3:
        return None
    order = np.argsort(positions)
    pos = np.asarray(positions, np.float64)[order]
    stack = np.stack([measures[i] for i in order]).astype(np.float32)  # n x h x w
    best = np.argmax(stack, axis=0)
    peak, floor = stack.max(axis=0), np.median(stack, axis=0)
    detail = _coherent(peak > DETAIL_RATIO * floor, best)
    detail[0, :] = detail[-1, :] = detail[:, 0] = detail[:, -1] = False  # edges: breathing shifts them
    if detail.mean() < MIN_DETAIL_FRACTION:
        return None
    n = len(pos)
    mid = np.clip(best[detail], 1, n - 2)
    logs = np.log(stack[:, detail])  # n x k
    cols = np.arange(logs.shape[1])
    x0, x1, x2 = pos[mid - 1], pos[mid], pos[mid + 1]
    y0, y1, y2 = logs[mid - 1, cols], logs[mid, cols], logs[mid + 1, cols]
    # vertex of the parabola through (x0, y0), (x1, y1), (x2, y2)
    with np.errstate(divide="ignore", invalid="ignore"):
        d01, d12 = (y1 - y0) / (x1 - x0), (y2 - y1) / (x2 - x1)
        curvature = (d12 - d01) / (x2 - x0)
        vertex = (x0 + x1) / 2.0 - d01 / (2.0 * curvature)
    usable = (curvature < 0) & np.isfinite(vertex)
    depth = np.where(usable, np.clip(vertex, x0, x2), pos[best[detail]])
    depth = _smoothed(detail, depth)
    return float(np.percentile(depth, PERCENTILE)), float(np.percentile(depth, 100 - PERCENTILE))


def _smoothed(detail: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Each block's depth as the median of its own and its neighbours' (blocks with detail):
    one block's estimate is noisy, and the extremes of noisy estimates would widen the range."""
    grid = np.full(detail.shape, np.nan)
    grid[detail] = depth
    r = SMOOTH_BLOCKS
    padded = np.pad(grid, r, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (2 * r + 1, 2 * r + 1))[detail]
    return np.asarray(np.nanmedian(windows.reshape(len(depth), -1), axis=1), np.float64)


def _coherent(detail: np.ndarray, best: np.ndarray) -> np.ndarray:
    """Detail that its neighbours confirm: most of the 3x3 blocks around have detail too, and the
    block's sharpest frame is within one of theirs (a noise block is alone, at a random frame)."""
    import cv2

    near_count = cv2.boxFilter(detail.astype(np.float32), -1, (3, 3), normalize=False)
    typical = cv2.medianBlur(np.clip(best, 0, 255).astype(np.uint8), 3).astype(np.int64)
    return np.asarray(detail & (near_count >= 5) & (np.abs(best - typical) <= 1), bool)


def default_span(position: float, limits: tuple[float, float], units: str) -> tuple[float, float]:
    """What to sweep when the user gives no range: the whole travel of a lens drive or of a rail
    up to :data:`DEFAULT_SPAN_UM` long, else that span centred where the rail is (inside the limits)."""
    lo, hi = limits
    if units != "um" or hi - lo <= DEFAULT_SPAN_UM:
        return lo, hi
    half = DEFAULT_SPAN_UM / 2
    centre = min(hi - half, max(lo + half, position))
    return centre - half, centre + half


def _nearest_first(rail: Rail, targets: list[float], lo: float | None = None, hi: float | None = None) -> list[float]:
    """``targets`` (clamped to ``lo``..``hi``) in the order that starts at the end nearer the rail."""
    if lo is not None and hi is not None:
        targets = [min(hi, max(lo, t)) for t in targets]
    here = rail.position()
    ordered = sorted(targets)
    return ordered if abs(ordered[0] - here) <= abs(ordered[-1] - here) else ordered[::-1]


def spread(lo: float, hi: float, count: int) -> list[float]:
    return [float(v) for v in np.linspace(lo, hi, count)] if count > 1 else [lo]


def sweep(
    rail: Rail,
    camera: Camera,
    lo: float,
    hi: float,
    cancel: threading.Event,
    progress: Callable[[int, int], object] = lambda i, n: None,
    settle_s: float = SETTLE_S,
) -> RangeResult:
    """Two passes of preview frames from ``lo`` to ``hi``; the rail is left where the last frame was.
    Raises :class:`Cancelled` when ``cancel`` is set."""
    lo, hi = min(lo, hi), max(lo, hi)
    positions: list[float] = []
    measures: list[np.ndarray] = []

    def shoot(targets: list[float]) -> None:
        for target in targets:
            if any(abs(target - p) < 1e-6 for p in positions):
                continue  # an end clamped to the limit, or a point already seen
            if cancel.is_set():
                raise Cancelled("range sweep cancelled")
            progress(len(positions) + 1, MAX_FRAMES)
            rail.move_to(target, abort=cancel)
            if cancel.is_set() or cancel.wait(settle_s):
                raise Cancelled("range sweep cancelled")
            measures.append(focus_measure(camera.preview()))
            positions.append(rail.position())

    shoot(spread(lo, hi, COARSE_FRAMES))
    coarse_step = (hi - lo) / (COARSE_FRAMES - 1)
    rough = locate(positions, measures)
    if rough is None:  # maybe between two coarse frames: look again half a step further
        shoot(_nearest_first(rail, spread(lo + coarse_step / 2, hi - coarse_step / 2, MAX_FRAMES - COARSE_FRAMES)))
    else:
        a, b = max(lo, rough[0] - MARGIN * coarse_step), min(hi, rough[1] + MARGIN * coarse_step)
        shoot(_nearest_first(rail, spread(a, b, FINE_FRAMES)))
        fine_step = (b - a) / (FINE_FRAMES - 1)
        ends = locate(positions, measures) or rough
        third = fine_step / 3
        around = [end + k * third for end in ends for k in (-1, 0, 1)]
        shoot(_nearest_first(rail, around[: MAX_FRAMES - len(positions)], lo, hi))
    found = locate(positions, measures)
    units = rail.units
    if found is None:
        message = (
            f"no detail anywhere from {lo:g} to {hi:g} {units}: the subject never came into focus "
            "(or has no texture); no range proposed"
        )
        return RangeResult(None, None, units, len(positions), (lo, hi), message)
    start, end = max(lo, found[0]), min(hi, found[1])
    log.info("range sweep: subject from %.1f to %.1f %s (%d frames)", start, end, units, len(positions))
    return RangeResult(start, end, units, len(positions), (lo, hi))
