"""EXIF and ICC profile carried from the reference slice into the merged image.

Read with Pillow from JPEG, PNG, TIFF and the TIFF-based camera raw formats (NEF, CR2, ARW, DNG,
PEF, SRW; CR3, RAF, ORF and RW2 have other containers and give no EXIF). Tags that describe the source
file's own image data (size, strips, tiles, sub-images, thumbnails) are dropped: they would be
wrong in the output.

Orientation: JPEG, PNG and TIFF slices are merged as stored (the EXIF orientation is not
applied when reading), so the output keeps the slices' orientation tag and viewers turn it the
same way. rawpy develops raw files already turned upright, so their orientation becomes 1.

Writers: JPEG gets an APP1 segment (the camera's maker note is dropped if the whole block would
exceed JPEG's 64 KB segment limit), PNG an ``eXIf`` chunk, TIFF an EXIF sub-IFD appended to the
file plus the descriptive tags (make, model, date...) in its main IFD.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Pillow loads on first use
    from PIL import Image

log = logging.getLogger(__name__)

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
MAKER_NOTE = 0x927C
INTEROP_IFD = 0xA005
JPEG_APP1_MAX = 65533 - 6  # segment payload minus the "Exif\0\0" header

# TIFF/EXIF tags about the file's own pixel data, or pointers into it
STRUCTURE_TAGS = frozenset(
    {
        0x00FE, 0x00FF, 0x0100, 0x0101, 0x0102, 0x0103, 0x0106, 0x0111, 0x0115, 0x0116, 0x0117,
        0x011C, 0x013D, 0x0140, 0x0142, 0x0143, 0x0144, 0x0145, 0x014A, 0x0152, 0x0153, 0x0201,
        0x0202, 0x828D, 0x828E, 0x8773, 0xA002, 0xA003,
    }
)  # fmt: skip
DNG_TAGS = (50706, 52000)  # DNG private tags (colour matrices, levels...): about the raw data
# main-IFD tags worth writing into a TIFF output's own IFD (ASCII)
TIFF_DESCRIPTIVE = {0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model", 0x0132: "DateTime",
                    0x013B: "Artist", 0x8298: "Copyright"}  # fmt: skip
TiffTag = tuple[int, str, int, Any, bool]  # a tifffile ``extratags`` entry: (code, dtype, count, value, writeonce)


@dataclass(frozen=True)
class Metadata:
    """What is carried from the reference slice to the output."""

    exif: bytes | None = None  # TIFF-structured EXIF, without the "Exif\0\0" prefix
    icc: bytes | None = None
    orientation: int = 1


def read_metadata(path: Path, raw: bool = False) -> Metadata:
    """EXIF and ICC profile of a slice; empty when absent or unreadable (metadata is best effort).

    ``raw``: the file is camera raw (developed upright by rawpy: orientation becomes 1).
    """
    try:
        icc, ex = _raw_exif(path) if raw else _image_exif(path)
        if raw and ORIENTATION in ex:
            ex[ORIENTATION] = 1
        orientation = ex.get(ORIENTATION, 1)
    except Exception as exc:  # Pillow raises many types for odd files
        log.debug("%s: no metadata (%s)", path, exc)
        return Metadata()
    if not (isinstance(orientation, int) and 1 <= orientation <= 8):
        orientation = 1
    try:
        for tag in [t for t in ex if _source_only(t)]:
            del ex[tag]
        if EXIF_IFD in ex:
            sub = ex.get_ifd(EXIF_IFD)
            for tag in [t for t in sub if _source_only(t)]:
                del sub[tag]
        exif = _strip_prefix(ex.tobytes()) if len(ex) else None
    except Exception as exc:  # a tag Pillow cannot write back: keep what matters most
        log.warning("%s: EXIF not carried (%s)", path, exc)
        return Metadata(exif=orientation_only(orientation).exif, icc=icc, orientation=orientation)
    return Metadata(exif=exif, icc=icc, orientation=orientation)


def _source_only(tag: int) -> bool:
    """A tag about the source file's own data: its pixel layout, or DNG raw-processing tags."""
    return tag in STRUCTURE_TAGS or DNG_TAGS[0] <= tag < DNG_TAGS[1]


def _image_exif(path: Path) -> tuple[bytes | None, Image.Exif]:
    from PIL import Image

    with Image.open(path) as im:
        return im.info.get("icc_profile") or None, im.getexif()


RAW_HEAD_BYTES = 4 << 20  # EXIF lives near the start of TIFF-based raw files


def _raw_exif(path: Path) -> tuple[None, Image.Exif]:
    """The EXIF of a TIFF-based raw file, read as a TIFF structure (Pillow cannot open most raws
    as images: their first IFD is a CFA mosaic or an old-style JPEG preview)."""
    with open(path, "rb") as fh:
        head = fh.read(RAW_HEAD_BYTES)
    if head[:4] not in (b"II*\x00", b"MM\x00*"):
        raise ValueError("not a TIFF-based raw file")
    return None, _load(head)


def orientation_only(orientation: int) -> Metadata:
    """Metadata carrying just the orientation (for the depth map, so it turns like the image)."""
    if orientation == 1:
        return Metadata()
    from PIL import Image

    ex = Image.Exif()
    ex[ORIENTATION] = orientation
    return Metadata(exif=_strip_prefix(ex.tobytes()), orientation=orientation)


def _strip_prefix(exif: bytes) -> bytes:
    return exif[6:] if exif.startswith(b"Exif\x00\x00") else exif


def _load(exif: bytes) -> Image.Exif:
    from PIL import Image

    ex = Image.Exif()
    ex.load(exif)
    return ex


def exif_for_jpeg(exif: bytes) -> bytes | None:
    """``exif`` small enough for a JPEG APP1 segment (maker note dropped if needed), or None."""
    if len(exif) <= JPEG_APP1_MAX:
        return exif
    try:
        ex = _load(exif)
        ex.get_ifd(EXIF_IFD).pop(MAKER_NOTE, None)
        smaller = _strip_prefix(ex.tobytes())
    except Exception as exc:
        log.warning("EXIF not carried into the JPEG (%s)", exc)
        return None
    if len(smaller) > JPEG_APP1_MAX:
        log.warning("EXIF not carried into the JPEG: %d bytes, more than a JPEG segment holds", len(smaller))
        return None
    log.info("EXIF maker note dropped from the JPEG output (JPEG's 64 KB segment limit)")
    return smaller


def tiff_tags(exif: bytes | None, orientation: int = 1) -> list[TiffTag]:
    """tifffile ``extratags`` for the output's main IFD: orientation and the descriptive tags."""
    tags: list[TiffTag] = [] if orientation == 1 else [(ORIENTATION, "H", 1, orientation, True)]
    if not exif:
        return tags
    try:
        ex = _load(exif)
        for tag in TIFF_DESCRIPTIVE:
            value = ex.get(tag)
            if isinstance(value, str) and value.strip("\x00 "):
                tags.append((tag, "s", 0, value.strip("\x00"), True))
    except Exception as exc:
        log.debug("EXIF tags not carried into the TIFF (%s)", exc)
    return tags


def append_exif_ifd(tiff: bytes, exif: bytes | None) -> bytes:
    """Add the EXIF sub-IFD of ``exif`` to a classic little-endian TIFF (tifffile will not write
    the pointer tag itself): a copy of the first IFD with the pointer added, and the EXIF IFD,
    are appended, and the header is pointed at the copy (the original IFD is left unused)."""
    if not exif or tiff[:4] != b"II*\x00":
        return tiff
    try:
        from PIL import TiffImagePlugin

        sub = _load(exif).get_ifd(EXIF_IFD)
        if not sub:
            return tiff
        (ifd0,) = struct.unpack_from("<I", tiff, 4)
        (count,) = struct.unpack_from("<H", tiff, ifd0)
        entries = [tiff[ifd0 + 2 + 12 * i : ifd0 + 14 + 12 * i] for i in range(count)]
        entries = [e for e in entries if struct.unpack_from("<H", e)[0] != EXIF_IFD]
        (next_ifd,) = struct.unpack_from("<I", tiff, ifd0 + 2 + 12 * count)
        new_ifd = len(tiff) + (len(tiff) & 1)  # IFDs start on a word boundary
        exif_at = new_ifd + 2 + 12 * (len(entries) + 1) + 4
        entries.append(struct.pack("<HHII", EXIF_IFD, 4, 1, exif_at))  # type 4: LONG
        entries.sort(key=lambda e: struct.unpack_from("<H", e)[0])
        ifd = TiffImagePlugin.ImageFileDirectory_v2(prefix=b"II", group=EXIF_IFD)
        for tag, value in sub.items():
            if tag != INTEROP_IFD:  # a pointer into the source file
                ifd[tag] = value
        block = ifd.tobytes(exif_at)
    except Exception as exc:
        log.warning("EXIF not carried into the TIFF (%s)", exc)
        return tiff
    out = bytearray(tiff)
    out += b"\x00" * (new_ifd - len(tiff))
    out += struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", next_ifd)
    struct.pack_into("<I", out, 4, new_ifd)
    return bytes(out) + block
