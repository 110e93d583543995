"""Whether an image file's data is whole. libjpeg reports a truncated scan ("Corrupt JPEG data:
premature end of data segment") only as a warning on stderr and hands back an image padded
with flat blocks, and a file cut short that still ends with the end-of-image marker passes a
marker check: :func:`decode_jpeg` decodes with file descriptor 2 captured and says so.
Used by the merge (rig.merge.io) and the startup reconciliation (rig.recovery)."""

from __future__ import annotations

import os
import sys
import tempfile
import threading

import cv2
import numpy as np

_STDERR_LOCK = threading.Lock()
# libjpeg's warnings for missing scan data (other warnings, e.g. extraneous bytes, pass through)
TRUNCATED = (b"Corrupt JPEG data: premature end of data segment", b"Premature end of JPEG file")


def decode_jpeg(data: bytes, flag: int = cv2.IMREAD_UNCHANGED) -> tuple[np.ndarray | None, str | None]:
    """``cv2.imdecode`` of JPEG ``data``; returns the image (None if undecodable) and libjpeg's
    truncation warning, if it gave one. Other lines written to stderr meanwhile are passed on."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            try:
                img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
            finally:
                os.dup2(saved, 2)
        finally:
            os.close(saved)
        sink.seek(0)
        text = sink.read()
    lines = text.splitlines(keepends=True)
    kept = b"".join(ln for ln in lines if not ln.startswith(TRUNCATED))
    if kept:
        os.write(2, kept)
    warning = next((ln.decode("ascii", "replace").strip() for ln in lines if ln.startswith(TRUNCATED)), None)
    return img, warning


def jpeg_markers_ok(data: bytes) -> bool:
    tail = data[-64:].rstrip(b"\x00\r\n\t ")
    return data.startswith(b"\xff\xd8") and tail.endswith(b"\xff\xd9")


def whole_image(data: bytes, suffix: str) -> bool:
    """Whether ``data`` (a file of type ``suffix``, e.g. ``.jpg``) decodes completely. Camera raw
    files are only checked to be non-empty."""
    if not data:
        return False
    suffix = suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        if not jpeg_markers_ok(data):
            return False
        img, warning = decode_jpeg(data, cv2.IMREAD_REDUCED_GRAYSCALE_2)
        return img is not None and warning is None
    if suffix in (".png", ".tif", ".tiff"):
        try:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        except cv2.error:
            return False
        return img is not None
    return True
