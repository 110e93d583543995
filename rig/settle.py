"""Settle measured, not guessed (``settle_s = "auto"``): after a move, watch live-view frames
until the picture stops changing, and say how long that took.

Frames are taken at most ``FRAME_S`` apart (about a live view's rate), reduced to grey, lightly
blurred (so sensor noise does not count as change) and compared with the frame before. The rig
is still once ``STILL_FRAMES`` changes in a row are below ``STILL_LEVEL`` grey levels (mean
absolute difference); the settle time is half-way between the last frame that still moved and
the first still one (each stamped when it was asked for). It gives up
after ``timeout_s`` and reports that time (the shot's checks still catch a shaken frame).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from rig.errors import Cancelled

log = logging.getLogger(__name__)

FRAME_S = 1 / 30
STILL_LEVEL = 1.5  # grey levels (0..255), mean absolute change between frames
STILL_FRAMES = 3
MAX_WIDTH = 640


def _grey(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise ValueError("a live-view frame does not decode")
    if img.shape[1] > MAX_WIDTH:
        img = cv2.resize(img, (MAX_WIDTH, MAX_WIDTH * img.shape[0] // img.shape[1]), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.0)


def wait_until_still(
    preview: Callable[[], bytes],
    cancel: threading.Event,
    *,
    timeout_s: float = 10.0,
    since: float | None = None,
) -> float:
    """Block until the live view stops changing; returns the settle time in seconds from
    ``since`` (default: now, i.e. the end of the move). Raises ``Cancelled`` when ``cancel`` is set."""
    t0 = time.monotonic() if since is None else since
    # each frame is stamped when it was asked for (when its exposure starts), not when it arrived:
    # a slow render or decode must not count as settling
    prev_t = time.monotonic()
    prev = _grey(preview())
    moving_t = t0  # when the last frame that still differed from its successor was taken
    still_from: float | None = None
    still = 0
    while True:
        if cancel.wait(max(0.0, prev_t + FRAME_S - time.monotonic())):
            raise Cancelled("cancelled while settling")
        now = time.monotonic()
        cur = _grey(preview())
        change = float(np.abs(cur - prev).mean()) if cur.shape == prev.shape else float("inf")
        if change <= STILL_LEVEL:
            if still == 0:  # it became still between the last moving frame and this one: the midpoint
                still_from = max(t0, (moving_t + prev_t) / 2) if prev_t > t0 else t0
            still += 1
            if still >= STILL_FRAMES:
                assert still_from is not None
                return max(0.0, still_from - t0)
        else:
            still = 0
            moving_t = prev_t
        prev, prev_t = cur, now
        if now - t0 > timeout_s:
            log.warning("live view still changing after %.1f s; shooting anyway", timeout_s)
            return now - t0
