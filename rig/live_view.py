"""Live-view frames for the focusing screen: a magnified crop and focus peaking, made on the rig so
a phone only ever receives the small picture it shows (never the full frame).

``zoom`` is the magnification against the whole frame fitted to the view (1 = the whole frame,
2 = half its width, ...); ``x`` and ``y`` are the centre of the crop as fractions of the frame
(0..1), moved inwards so the crop stays inside it. Focus peaking paints the sharpest edges (the
strongest Laplacian responses, above a floor so a blurred frame shows none) in a colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rig.errors import CameraError, UsageError

ZOOMS = (1, 2, 4, 8)
PEAK_BGR = (255, 0, 255)  # magenta: rare in nature, clear on grey and green
PEAK_PERCENTILE = 97.0
PEAK_FLOOR = 40.0  # |Laplacian| below this is never an in-focus edge (8-bit grey levels)
JPEG_QUALITY = 80


@dataclass(frozen=True)
class View:
    """What one viewer asked to see."""

    zoom: int = 1
    x: float = 0.5
    y: float = 0.5
    peaking: bool = False

    def __post_init__(self) -> None:
        if self.zoom not in ZOOMS:
            raise UsageError(f"zoom = {self.zoom!r}: must be one of {', '.join(map(str, ZOOMS))}")
        for name, value in (("x", self.x), ("y", self.y)):
            if not 0.0 <= value <= 1.0:
                raise UsageError(f"{name} = {value!r}: must be from 0 to 1 (a fraction of the frame)")

    @property
    def plain(self) -> bool:
        return self.zoom == 1 and not self.peaking


def crop_box(width: int, height: int, view: View) -> tuple[int, int, int, int]:
    """(left, top, w, h) of the crop ``view`` shows in a ``width`` x ``height`` frame."""
    w, h = max(1, round(width / view.zoom)), max(1, round(height / view.zoom))
    left = min(width - w, max(0, round(view.x * width - w / 2)))
    top = min(height - h, max(0, round(view.y * height - h / 2)))
    return left, top, w, h


def decode(jpeg: bytes) -> np.ndarray:
    import cv2

    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise CameraError("the camera's preview frame is not a readable JPEG")
    return img


def encode(img: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise CameraError("could not encode a live-view frame")
    return bytes(buf.tobytes())


def with_peaking(img: np.ndarray) -> np.ndarray:
    """A copy of ``img`` with its in-focus edges painted :data:`PEAK_BGR`."""
    import cv2

    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    edges = np.abs(cv2.Laplacian(cv2.GaussianBlur(grey, (3, 3), 0).astype(np.float32), cv2.CV_32F, ksize=3))
    threshold = max(PEAK_FLOOR, float(np.percentile(edges, PEAK_PERCENTILE)))
    out = img.copy() if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    mask = cv2.dilate((edges > threshold).astype(np.uint8), np.ones((2, 2), np.uint8))  # survives JPEG
    out[mask > 0] = PEAK_BGR
    return out


def render_view(jpeg: bytes, view: View, cropped: bool = False) -> bytes:
    """``jpeg`` (a whole preview frame, or already the crop when ``cropped``) as ``view`` shows it."""
    if view.plain:
        return jpeg
    img = decode(jpeg)
    if not cropped and view.zoom > 1:
        left, top, w, h = crop_box(img.shape[1], img.shape[0], view)
        img = img[top : top + h, left : left + w]
    if view.peaking:
        img = with_peaking(img)
    return encode(img)
