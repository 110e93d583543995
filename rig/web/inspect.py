"""Results you can judge: any picture of a stack (the merged result, the depth map, any frame) at
100 % as crops made on the rig, so a phone never receives the whole full-size image
(``GET /stacks/<id>/crop/<file>``, ``GET /stacks/<id>/size/<file>``). See docs/api.md.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from rig.web import operations as ops
from rig.web.context import state
from rig.web.inputs import accepts
from rig.web.security import ApiError

inspect_files = Blueprint("inspect_files", __name__)
MAX_CROP_PX = 1600
CACHE = 2  # decoded full-size images kept per app (the one being looked at, and the one before)


class DecodedImages:
    """Full-size images decoded once while someone pans around them (one per app, in
    ``app.extensions``: no module state)."""

    def __init__(self, size: int = CACHE) -> None:
        self.size = size
        self._images: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> np.ndarray:
        import cv2

        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        with self._lock:
            if key in self._images:
                self._images.move_to_end(key)
                return self._images[key]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise ApiError(404, "this file is not a picture the rig can show")
        with self._lock:
            self._images[key] = img
            while len(self._images) > self.size:
                self._images.popitem(last=False)
        return img


def _image(path: Path) -> np.ndarray:
    images = current_app.extensions.setdefault("rig.decoded_images", DecodedImages())
    assert isinstance(images, DecodedImages)
    return images.get(path)


def _arg(name: str, default: str, lo: float, hi: float) -> float:
    raw = request.args.get(name, default)
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"{name} = {raw!r}: must be a number") from None
    if not lo <= value <= hi:
        raise ApiError(400, f"{name} = {raw!r}: must be from {lo:g} to {hi:g}")
    return value


@inspect_files.get("/stacks/<path:sid>/size/<path:name>")
@accepts(ops.STACK_IMAGE_SIZE)
def size(sid: str, name: str) -> ResponseReturnValue:
    img = _image(state().gallery.file(sid, name))
    return jsonify({"width": int(img.shape[1]), "height": int(img.shape[0])})


@inspect_files.get("/stacks/<path:sid>/crop/<path:name>")
def crop(sid: str, name: str) -> ResponseReturnValue:
    """``w`` x ``h`` image pixels (at most 1600 each) around ``x``, ``y`` (fractions of the image),
    moved inwards to stay inside it: 100 % of the file, never the whole of it beyond that size."""
    import cv2

    x, y = _arg("x", "0.5", 0, 1), _arg("y", "0.5", 0, 1)
    w, h = int(_arg("w", "800", 16, MAX_CROP_PX)), int(_arg("h", "600", 16, MAX_CROP_PX))
    img = _image(state().gallery.file(sid, name))
    ih, iw = img.shape[:2]
    w, h = min(w, iw), min(h, ih)
    left = min(iw - w, max(0, round(x * iw - w / 2)))
    top = min(ih - h, max(0, round(y * ih - h / 2)))
    ok, buf = cv2.imencode(".jpg", img[top : top + h, left : left + w], [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise ApiError(500, "could not encode the crop")
    headers = {"Cache-Control": "private, max-age=60", "X-Crop": f"{left},{top},{w},{h},{iw},{ih}"}
    return Response(buf.tobytes(), mimetype="image/jpeg", headers=headers)
