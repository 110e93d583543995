"""The merge's own partial result while it runs (``--preview FILE``): the phone's growing view of a
merge during capture.

Pass 1 already has, for every slice, its alignment to the reference and its focus energy warped
into the reference frame. From those this keeps a small picture (at most ``WIDTH`` px wide): per
pixel, the colour of the slice whose energy is highest so far, the slice warped as the merge will
warp it (drift, focus breathing) and brought to its exposure gain. It is rewritten atomically
after every slice; the final result (pass 2 and 3: blending, agreement averaging) replaces it,
and :mod:`rig.merge.jobs` removes it when the merge ends. Slices OpenCV cannot read at reduced size
(camera raw) leave it out: the preview is skipped, the merge goes on.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from rig.errors import StorageError
from rig.merge.inputs import RAW_EXT
from rig.paths import write_replace

log = logging.getLogger(__name__)
WIDTH = 640
QUALITY = 85
REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def _read_small(path: Path, full_width: int, width: int) -> np.ndarray | None:
    """The slice in colour, 8-bit, decoded at the largest reduction still ``width`` wide (JPEG: by
    libjpeg itself), as stored (EXIF orientation not applied, like pass 1); None when OpenCV cannot
    read it."""
    if path.suffix.lower() in RAW_EXT:
        return None
    flag = next((f for factor, f in REDUCED if full_width // factor >= width), cv2.IMREAD_COLOR)
    img = cv2.imread(str(path), flag | cv2.IMREAD_IGNORE_ORIENTATION)
    return img if img is not None and img.ndim == 3 else None


class GrowingPreview:
    """Folds each slice into the small picture and rewrites ``path``."""

    def __init__(self, path: Path, full_size: tuple[int, int]) -> None:
        self.path = path
        w, h = full_size
        self.scale = min(1.0, WIDTH / w)
        self.size = (max(1, round(w * self.scale)), max(1, round(h * self.scale)))
        self._image = np.zeros((self.size[1], self.size[0], 3), np.uint8)
        self._best = np.full((self.size[1], self.size[0]), -1.0, np.float32)
        self.slices = 0
        self.off = False

    def add(self, path: Path, energy: np.ndarray, affine: np.ndarray | None, gain: float) -> None:
        """Slice ``path`` with its focus ``energy`` (reference frame, full size) and ``affine``
        (reference -> slice pixels, as pass 1 warps; None: the reference itself)."""
        if self.off:
            return
        full_width = round(self.size[0] / self.scale)
        img = _read_small(path, full_width, self.size[0])
        if img is None:
            log.info("merge preview off: %s cannot be read at reduced size", path.name)
            self.off = True
            return
        sx = img.shape[1] / full_width  # decoded px per full-size px
        if affine is None:
            warped = cv2.resize(img, self.size, interpolation=cv2.INTER_AREA)
        else:
            # reference preview px -> full px (1/scale) -> slice full px (affine) -> decoded px (sx)
            m = np.asarray(affine, np.float64).copy()
            m[:, :2] *= sx / self.scale
            m[:, 2] *= sx
            warped = cv2.warpAffine(
                img, m, self.size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
            )
        if gain != 1.0:
            warped = cv2.convertScaleAbs(warped, alpha=gain)
        focus = cv2.resize(energy, self.size, interpolation=cv2.INTER_AREA)
        sharper = focus > self._best
        self._image[sharper] = warped[sharper]
        self._best = np.maximum(self._best, focus)
        self.slices += 1
        ok, buf = cv2.imencode(".jpg", self._image, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
        if not ok:
            return
        try:
            write_replace(self.path, buf.tobytes())
        except StorageError as exc:  # a preview never fails the merge
            log.warning("merge preview not written: %s", exc)
            self.off = True
