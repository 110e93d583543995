"""Closed-loop return for drives without a position readout (issue 14 #5).

A lens drive only counts the steps it asked for: a step the lens did not make is never noticed.
So the view at the first slice is remembered (a live-view frame), and after the stack, once the
rail is back at the start, the view is compared with it. If they differ by more than two live
view frames at one place do, the drive probes up to ``SEARCH_STEPS`` steps either side, goes
where the view matches best, and counts that place as the start again (``reset_position``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from rig.camera.base import Camera
from rig.errors import Cancelled
from rig.motion.base import Rail

log = logging.getLogger(__name__)
SEARCH_STEPS = 3
THUMB_W = 160
NOISE_MARGIN = 0.1  # grey levels: a view within 1.25 x the frame-to-frame noise (+ this) matches
PROBE_WAIT_S = 0.05
VIEWS = 3  # live-view frames averaged per look (less noise)


@dataclass(frozen=True)
class ReturnResult:
    confirmed: bool  # the view at the start matches the first slice's
    correction: float  # in the rail's units: how far the start was off
    searched: bool  # the first look did not match: the drive probed nearby


def needs_closed_loop(rail: Rail, camera: Camera) -> bool:
    """Drives with no position readout (the lens rail; a rail saying ``closed_loop_return``),
    with a camera that has live view to look through."""
    wanted = getattr(rail, "closed_loop_return", rail.units == "steps")
    return bool(wanted) and bool(getattr(camera, "has_live_view", True))


def _thumb(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError("a live-view frame does not decode")
    size = (THUMB_W, max(1, THUMB_W * img.shape[0] // img.shape[1]))
    return cv2.GaussianBlur(cv2.resize(img, size, interpolation=cv2.INTER_AREA).astype(np.float32), (0, 0), 1.0)


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a - b))) if a.shape == b.shape else float("inf")


def _view(camera: Camera) -> np.ndarray:
    views = [_thumb(camera.preview()) for _ in range(VIEWS)]
    return np.mean(views, axis=0) if all(v.shape == views[0].shape for v in views) else views[-1]


class StartCheck:
    def __init__(self, camera: Camera) -> None:
        self.camera = camera
        self.reference: np.ndarray | None = None
        self.noise = 0.0

    def remember(self) -> None:
        """At the first slice: the view to come back to, and how much live view alone varies."""
        first = _view(self.camera)
        self.reference = first
        self.noise = _distance(first, _view(self.camera))

    def confirm(self, rail: Rail, start: float, step: float, cancel: threading.Event) -> ReturnResult | None:
        """After the return: is the view the first slice's? If not, find it nearby and re-zero."""
        if self.reference is None:
            return None
        limit = 1.25 * self.noise + NOISE_MARGIN
        if _distance(self.reference, _view(self.camera)) <= limit:
            return ReturnResult(True, 0.0, False)
        lo, hi = rail.limits()
        scores: dict[int, float] = {}
        for k in range(-SEARCH_STEPS, SEARCH_STEPS + 1):
            target = start + k * step
            if not lo <= target <= hi:
                continue
            rail.move_to(target, abort=cancel)
            if cancel.wait(PROBE_WAIT_S):
                raise Cancelled("cancelled while confirming the start")
            scores[k] = _distance(self.reference, _view(self.camera))
        best = min(scores, key=lambda k: scores[k])
        rail.move_to(start + best * step, abort=cancel)
        confirmed = scores[best] <= limit
        if confirmed and best:
            reset = getattr(rail, "reset_position", None)
            if reset is not None:
                reset(start)  # this is where the first slice was: count it as the start again
        log.info("closed-loop return: %s, off by %g", "confirmed" if confirmed else "not confirmed", best * step)
        return ReturnResult(confirmed, best * step, True)
