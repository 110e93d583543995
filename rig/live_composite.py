"""The growing result the phone shows while a stack runs: a quick focus stack of the slices'
small copies (the ones the per-frame checks measured), updated with every good shot.

Per pixel it keeps the colour of the slice where a local contrast measure (absolute Laplacian,
smoothed) is highest so far: no alignment, no blending; the real merge (:mod:`rig.merge`) does
those. Memory: two small images, whatever the number of slices.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_WIDTH = 640


class LiveComposite:
    def __init__(self) -> None:
        self._image: np.ndarray | None = None
        self._focus: np.ndarray | None = None

    def add(self, small_bgr: np.ndarray) -> None:
        img = small_bgr
        if img.shape[1] > MAX_WIDTH:
            size = (MAX_WIDTH, max(1, MAX_WIDTH * img.shape[0] // img.shape[1]))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        focus = cv2.GaussianBlur(np.abs(cv2.Laplacian(grey, cv2.CV_32F)), (0, 0), 2.0)
        if self._image is None or self._focus is None or self._image.shape != img.shape:
            self._image, self._focus = img.copy(), focus
            return
        sharper = focus > self._focus
        self._image[sharper] = img[sharper]
        self._focus = np.maximum(self._focus, focus)

    def jpeg(self) -> bytes | None:
        if self._image is None:
            return None
        ok, buf = cv2.imencode(".jpg", self._image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        return bytes(buf.tobytes()) if ok else None
