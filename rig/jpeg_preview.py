"""The structure of a camera JPEG, read without decoding it: its frame header's width and the
previews the camera embedded, so the per-frame checks (:mod:`rig.frame_checks`) can measure a
1-2 MP preview instead of entropy-decoding a 24 MP file (most of a check's cost:
``bench/check_overhead.py --cost``).

Two places hold a preview (both written by the camera from the same exposure):

- MPF (CIPA DC-007 "Multi-Picture Format", an ``APP2`` segment ``MPF\\0``): an index of further
  images appended after the primary image's end-of-image marker; Nikon, Sony, Fujifilm, Pentax
  and others store a 640x424 to 1920x1280 preview there;
- EXIF ``IFD1`` (``APP1`` ``Exif\\0\\0``, tags 0x0201/0x0202): the thumbnail, at most 64 KB,
  usually 160x120.

:func:`with_mpf_preview` writes the first kind, as a camera does (the simulated camera's
``camera.sim.embedded_preview_px`` and the tests use it).
"""

from __future__ import annotations

import struct

SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
SOI, EOI = b"\xff\xd8", b"\xff\xd9"
MPF_ID, EXIF_ID = b"MPF\x00", b"Exif\x00\x00"
MP_ENTRY = 0xB002
THUMB_OFFSET, THUMB_LENGTH = 0x0201, 0x0202


def _segments(data: bytes) -> list[tuple[int, int, int]]:
    """The header segments of a JPEG, up to its first scan: (marker, payload start, payload end)."""
    if not data.startswith(SOI):
        return []
    found: list[tuple[int, int, int]] = []
    i, end = 2, len(data)
    while i + 4 <= end:
        if data[i] != 0xFF:
            break
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        found.append((marker, i + 4, min(i + 2 + length, end)))
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        i += 2 + length
    return found


def jpeg_width(data: bytes) -> int | None:
    """The width in a JPEG's frame header (SOFn), read without decoding; None if not a JPEG or not
    found (the markers are walked segment by segment from the start: EXIF, thumbnails, tables)."""
    for marker, start, end in _segments(data):
        if marker in SOF_MARKERS and end - start >= 5:
            return int.from_bytes(data[start + 3 : start + 5], "big")
        if marker == 0xDA:  # start of scan before any frame header
            return None
    return None


def _tiff(block: bytes) -> tuple[str, int] | None:
    """A TIFF header's byte order (struct prefix) and first IFD offset."""
    if block[:4] == b"II*\x00":
        return "<", struct.unpack_from("<I", block, 4)[0]
    if block[:4] == b"MM\x00*":
        return ">", struct.unpack_from(">I", block, 4)[0]
    return None


def _ifd(block: bytes, order: str, offset: int) -> tuple[dict[int, tuple[int, int, int]], int]:
    """An IFD's entries (tag -> type, count, value or offset) and the next IFD's offset."""
    entries: dict[int, tuple[int, int, int]] = {}
    if offset + 2 > len(block):
        return entries, 0
    (count,) = struct.unpack_from(order + "H", block, offset)
    for k in range(count):
        at = offset + 2 + 12 * k
        if at + 12 > len(block):
            return entries, 0
        tag, kind, n = struct.unpack_from(order + "HHI", block, at)
        value = struct.unpack_from(order + ("H" if kind == 3 and n == 1 else "I"), block, at + 8)[0]
        entries[tag] = (kind, n, value)
    after = offset + 2 + 12 * count
    following = struct.unpack_from(order + "I", block, after)[0] if after + 4 <= len(block) else 0
    return entries, following


def _mpf_previews(data: bytes, start: int, end: int) -> list[tuple[int, bytes]]:
    """The images an MPF index lists after the primary one (where, what), each a whole JPEG."""
    block = data[start + len(MPF_ID) : end]
    base = start + len(MPF_ID)  # MPF offsets count from its TIFF header
    header = _tiff(block)
    if header is None:
        return []
    order, first = header
    entries, _ = _ifd(block, order, first)
    if MP_ENTRY not in entries:
        return []
    _, n, at = entries[MP_ENTRY]
    found = []
    for k in range(1, n // 16):  # entry 0 is the primary image
        if at + 16 * (k + 1) > len(block):
            break
        size, offset = struct.unpack_from(order + "II", block, at + 16 * k + 4)
        image = data[base + offset : base + offset + size]
        if offset and len(image) == size and image.startswith(SOI) and image.endswith(EOI):
            found.append((base + offset, image))
    return found


def _exif_thumbnail(data: bytes, start: int, end: int) -> list[tuple[int, bytes]]:
    block = data[start + len(EXIF_ID) : end]
    header = _tiff(block)
    if header is None:
        return []
    order, first = header
    _, ifd1 = _ifd(block, order, first)
    if not ifd1:
        return []
    entries, _ = _ifd(block, order, ifd1)
    if THUMB_OFFSET not in entries or THUMB_LENGTH not in entries:
        return []
    offset, size = entries[THUMB_OFFSET][2], entries[THUMB_LENGTH][2]
    image = block[offset : offset + size]
    return [(start + len(EXIF_ID) + offset, image)] if len(image) == size and image.startswith(SOI) else []


def embedded_previews(data: bytes) -> list[tuple[int, bytes]]:
    """The whole preview JPEGs a camera JPEG carries (MPF images after the primary one, the EXIF
    thumbnail) and where each starts; [] for anything else. Damaged entries are left out."""
    found: list[tuple[int, bytes]] = []
    for marker, start, end in _segments(data):
        try:
            if marker == 0xE2 and data[start : start + 4] == MPF_ID:
                found += _mpf_previews(data, start, end)
            elif marker == 0xE1 and data[start : start + 6] == EXIF_ID:
                found += _exif_thumbnail(data, start, end)
        except struct.error:  # a damaged index: no preview from it
            continue
    return found


def preview_for_checks(data: bytes, min_width: int) -> bytes | None:
    """The narrowest embedded preview at least ``min_width`` wide, if the file has one and its
    primary image ends where the MPF index says the preview begins (a file cut short or spliced
    is decoded whole, so a damaged primary image is not hidden behind an intact preview)."""
    wide = [(w, at, p) for at, p in embedded_previews(data) if (w := jpeg_width(p) or 0) >= min_width]
    if not wide:
        return None
    _, at, preview = min(wide, key=lambda found: found[0])
    scan = next((start for marker, start, _ in _segments(data) if marker == 0xDA), len(data))
    primary_end = at if at > scan else len(data)  # an MPF image follows the primary one; a thumbnail precedes it
    return preview if data[primary_end - 2 : primary_end] == EOI else None


def with_mpf_preview(primary: bytes, preview: bytes) -> bytes:
    """``primary`` with ``preview`` appended as an MPF "large thumbnail", indexed in an ``APP2``
    segment right after ``SOI`` (little-endian), as a camera writes it."""
    if not primary.startswith(SOI) or not preview.startswith(SOI):
        raise ValueError("both images must be JPEGs")
    entries_at = 8 + 2 + 3 * 12 + 4  # TIFF header, IFD count, 3 entries, next-IFD offset
    ifd_size = entries_at + 32
    segment_len = 2 + len(MPF_ID) + ifd_size
    # offsets count from the TIFF header, which starts after SOI, the marker and length, and MPF\0
    header_at = 2 + 4 + len(MPF_ID)
    preview_offset = 2 + segment_len + len(primary) - 2 - header_at + 2
    tiff = b"II*\x00" + struct.pack("<I", 8)
    ifd = struct.pack("<H", 3)
    ifd += struct.pack("<HHI", 0xB000, 7, 4) + b"0100"
    ifd += struct.pack("<HHII", 0xB001, 4, 1, 2)
    ifd += struct.pack("<HHII", MP_ENTRY, 7, 32, entries_at)
    ifd += struct.pack("<I", 0)
    entries = struct.pack("<IIIHH", 0x20030000, len(primary) + segment_len + 2, 0, 0, 0)
    entries += struct.pack("<IIIHH", 0x00010001, len(preview), preview_offset, 0, 0)
    segment = b"\xff\xe2" + struct.pack(">H", segment_len) + MPF_ID + tiff + ifd + entries
    return SOI + segment + primary[2:] + preview
