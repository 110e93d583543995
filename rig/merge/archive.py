"""Archive outputs: what a rig stack's ``stack.json`` asks of its merged files, and the metadata
written into them.

* ``crop``: a rectangle (x, y, width, height in pixels) applied to the results only (merged TIFF,
  JPEG and depth map); the frames are never touched. A crop outside the image is a
  :class:`MergeError` before anything is written.
* The JPEG derivative's quality and longest edge come from the stack's profile (``jpeg_quality``,
  ``jpeg_long_edge_px``).
* Metadata, written with exiv2 (the ``pyexiv2`` package) into the encoded bytes before they are
  published atomically: XMP (Dublin Core title/identifier/description/rights/creator, and the
  stack's parameters in the ``rig`` namespace :data:`XMP_NS`), and the standard EXIF and IPTC
  fields (date, description, copyright, software). The make, model and lens come from the
  reference slice's EXIF (:mod:`rig.merge.exif` already copies its EXIF block).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rig import __version__
from rig.errors import MergeError

log = logging.getLogger(__name__)

XMP_NS = "http://rig.invalid/ns/stack/1.0/"  # the ``rig`` XMP namespace (prefix ``rig``)
XMP_PREFIX = "rig"


@dataclass(frozen=True)
class ArchiveSettings:
    """What to do to a stack's results: crop, JPEG derivative, metadata."""

    crop: tuple[int, int, int, int] | None = None
    jpeg_quality: int | None = None
    jpeg_long_edge_px: int = 0
    xmp: Mapping[str, Any] = field(default_factory=dict)
    exif: Mapping[str, str] = field(default_factory=dict)
    iptc: Mapping[str, str] = field(default_factory=dict)


def settings_for(folder: Path, files: Sequence[Path], reference: Path | None) -> ArchiveSettings:
    """The archive settings of the stack in ``folder`` (from its ``stack.json``); a plain folder of
    slices gets the software version and the camera's EXIF only."""
    from rig.manifest import UnreadableManifest, read_manifest

    try:
        record = read_manifest(folder)
    except (OSError, UnreadableManifest):
        record = None
    camera = camera_of(reference) if reference is not None else {}
    xmp: dict[str, Any] = {"Xmp.xmp.CreatorTool": f"rig {__version__}", f"Xmp.{XMP_PREFIX}.Software": __version__}
    exif: dict[str, str] = {"Exif.Image.Software": f"rig {__version__}"}
    iptc: dict[str, str] = {}
    for key, value in camera.items():
        xmp[f"Xmp.{XMP_PREFIX}.{key}"] = value
    xmp[f"Xmp.{XMP_PREFIX}.Slices"] = str(len(files))
    if record is None:
        return ArchiveSettings(xmp=xmp, exif=exif)
    profile = dict(record.profile)
    units = "um" if record.units == "um" else "steps"
    positions = [p for p in record.planned_positions if p is not None]
    params: dict[str, Any] = {
        "Step": _num(profile.get("step_um"))
        if profile.get("step_um") is not None
        else (_num(abs(positions[1] - positions[0])) if len(positions) > 1 else None),
        "StepUnits": units,
        "RangeStart": _num(positions[0]) if positions else None,
        "RangeEnd": _num(positions[-1]) if positions else None,
        "SettleSeconds": _num(profile.get("settle_s")),
        "Magnification": _num(profile.get("magnification")) or _num(_table(profile.get("optics")).get("magnification")),
        "Optics": profile.get("lens") or None,
        "Profile": record.profile_name,
        "Started": record.started_utc,
    }
    for name, param in params.items():
        if param not in (None, ""):
            xmp[f"Xmp.{XMP_PREFIX}.{name}"] = str(param)
    sums = [f"{f.file} {f.sha256}" for f in record.frames or () if f.file and f.sha256 and not f.preview]
    if sums:
        xmp[f"Xmp.{XMP_PREFIX}.SourceSHA256"] = sums
    found = record.config.get("archive")
    archive: dict[str, Any] = found if isinstance(found, dict) else {}
    copyright_text, creator = str(archive.get("copyright") or ""), str(archive.get("creator") or "")
    specimen = record.specimen
    title = specimen.name if specimen and specimen.name else None
    description = "; ".join(
        t for t in (title, specimen.catalogue_number if specimen else None, profile.get("description")) if t
    )
    if specimen:
        for key, text in (
            ("Specimen", specimen.name),
            ("CatalogueNumber", specimen.catalogue_number),
            ("Notes", specimen.notes),
            ("Session", specimen.session),
        ):
            if text:
                xmp[f"Xmp.{XMP_PREFIX}.{key}"] = text
        if specimen.name:
            xmp["Xmp.dc.title"] = specimen.name
            iptc["Iptc.Application2.ObjectName"] = specimen.name[:64]
        if specimen.catalogue_number:
            xmp["Xmp.dc.identifier"] = specimen.catalogue_number
        if specimen.notes:
            iptc["Iptc.Application2.SpecialInstructions"] = specimen.notes[:256]
    if description:
        xmp["Xmp.dc.description"] = description
        exif["Exif.Image.ImageDescription"] = description
        iptc["Iptc.Application2.Caption"] = description[:2000]
    if copyright_text:
        xmp["Xmp.dc.rights"] = copyright_text
        exif["Exif.Image.Copyright"] = copyright_text
        iptc["Iptc.Application2.Copyright"] = copyright_text[:128]
    if creator:
        xmp["Xmp.dc.creator"] = [creator]
        exif["Exif.Image.Artist"] = creator
        iptc["Iptc.Application2.Byline"] = creator[:32]
    if record.started:
        xmp["Xmp.xmp.CreateDate"] = record.started
        day, _, clock = record.started.partition("T")
        exif["Exif.Image.DateTime"] = f"{day.replace('-', ':')} {clock[:8]}"
        iptc["Iptc.Application2.DateCreated"] = day
    quality = profile.get("jpeg_quality")
    long_edge = profile.get("jpeg_long_edge_px")
    return ArchiveSettings(
        crop=record.crop,
        jpeg_quality=quality if type(quality) is int and 1 <= quality <= 100 else None,
        jpeg_long_edge_px=long_edge if type(long_edge) is int and long_edge > 0 else 0,
        xmp=xmp,
        exif=exif,
        iptc=iptc,
    )


def camera_of(path: Path) -> dict[str, str]:
    """Make, model and lens from a slice's EXIF (empty when it has none or cannot be read)."""
    import pyexiv2

    try:
        with pyexiv2.Image(str(path)) as img:
            tags = img.read_exif()
    except (RuntimeError, OSError, ValueError) as exc:  # pyexiv2 raises RuntimeError for unknown formats
        log.debug("no EXIF in %s: %s", path, exc)
        return {}
    names = {
        "CameraMake": "Exif.Image.Make",
        "CameraModel": "Exif.Image.Model",
        "Lens": "Exif.Photo.LensModel",
        "LensMake": "Exif.Photo.LensMake",
    }
    return {key: str(tags[tag]).strip() for key, tag in names.items() if str(tags.get(tag) or "").strip()}


def check_crop(crop: tuple[int, int, int, int] | None, width: int, height: int) -> None:
    """:class:`MergeError` unless ``crop`` lies inside a ``width`` x ``height`` image."""
    if crop is None:
        return
    x, y, w, h = crop
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise MergeError(
            f"crop x={x} y={y} width={w} height={h} is outside the {width}x{height} image "
            f"(x + width <= {width}, y + height <= {height}, all >= 0, size > 0)"
        )


def apply_crop(img: np.ndarray, crop: tuple[int, int, int, int] | None) -> np.ndarray:
    if crop is None:
        return img
    x, y, w, h = crop
    return np.ascontiguousarray(img[y : y + h, x : x + w])


def shrink_to(img: np.ndarray, long_edge_px: int) -> np.ndarray:
    """``img`` scaled down (area filter) so its longest edge is ``long_edge_px``; never enlarged."""
    import cv2

    height, width = img.shape[:2]
    if long_edge_px <= 0 or max(height, width) <= long_edge_px:
        return img
    scale = long_edge_px / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def tag(data: bytes, settings: ArchiveSettings) -> bytes:
    """The encoded image ``data`` (TIFF or JPEG) with the settings' XMP, EXIF and IPTC written in."""
    import pyexiv2

    if XMP_PREFIX not in _registered:
        pyexiv2.registerNs(XMP_NS, XMP_PREFIX)
        _registered.add(XMP_PREFIX)
    try:
        with pyexiv2.ImageData(data) as img:
            if settings.exif:
                img.modify_exif(dict(settings.exif))
            if settings.iptc:
                img.modify_iptc(dict(settings.iptc))
            if settings.xmp:
                img.modify_xmp(dict(settings.xmp))
            return bytes(img.get_bytes())
    except RuntimeError as exc:
        raise MergeError(f"cannot write the metadata: {exc}") from None


_registered: set[str] = set()


def _num(value: Any) -> float | int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(value, 4) if isinstance(value, float) else value


def stack_crop(folder: Path) -> tuple[int, int, int, int] | None:
    """The crop rectangle ``folder``'s ``stack.json`` asks for (None: none, or no manifest)."""
    from rig.manifest import UnreadableManifest, read_manifest

    try:
        return read_manifest(folder).crop
    except (OSError, UnreadableManifest):
        return None


def write_result(
    path: Path,
    img: np.ndarray,
    meta: Any,
    overwrite: bool,
    quality: int,
    settings: ArchiveSettings,
    threads: int = 1,
) -> None:
    """Encode ``img`` (:func:`rig.merge.io.encode_image`, on ``threads`` threads), write the metadata
    in, publish atomically."""
    from rig.merge import io as mio

    mio.atomic_write(path, tag(mio.encode_image(path, img, meta, quality, threads), settings), overwrite)


def _table(value: Any) -> dict[str, Any]:
    """A profile's sub-table (``[optics]``) as a dict, or an empty one."""
    return value if isinstance(value, dict) else {}
