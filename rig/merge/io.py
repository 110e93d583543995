"""Image readers and writers for the merge: JPEG, PNG, TIFF (8/16-bit) and camera raw.

Images are handed around as OpenCV arrays: ``uint8`` or ``uint16``, BGR (H, W, 3) or grey (H, W).
Every reader turns a bad file into a one-line :class:`MergeError` naming it. Writers encode in
memory and publish with :func:`atomic_write` (:mod:`rig.paths`' writer), so an output file is never
seen half written.
"""

from __future__ import annotations

import io
import logging
import os
import struct
import tempfile
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rig.errors import MergeError, StorageError
from rig.image_check import decode_jpeg
from rig.merge import exif
from rig.merge.exif import Metadata
from rig.merge.inputs import RAW_EXT
from rig.merge.workers import Workers
from rig.paths import write_new, write_replace

log = logging.getLogger(__name__)

JPEG_EXT = (".jpg", ".jpeg")
PNG_EXT = (".png",)
TIFF_EXT = (".tif", ".tiff")
OUTPUT_EXT = JPEG_EXT + PNG_EXT + TIFF_EXT


# ----------------------------------------------------------------------------- reading
def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise MergeError(f"{path}: cannot read ({exc.strerror})") from exc


def _check_jpeg(path: Path, data: bytes) -> None:
    if not data.startswith(b"\xff\xd8"):
        raise MergeError(f"{path}: not a JPEG file (bad start marker)")
    tail = data[-64:].rstrip(b"\x00\r\n\t ")
    if not tail.endswith(b"\xff\xd9"):
        raise MergeError(f"{path}: truncated or corrupt JPEG (no end-of-image marker)")


MIN_SIDE_PX = 16  # smaller slices cannot be aligned or focus-measured


def _decode(path: Path, data: bytes, flag: int, jpeg: bool) -> np.ndarray:
    if not data:
        raise MergeError(f"{path}: empty file (0 bytes)")
    try:
        if jpeg:
            img, warning = decode_jpeg(data, flag)
            if warning:
                raise MergeError(f"{path}: truncated or corrupt JPEG ({warning})")
        else:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error as exc:
        raise MergeError(f"{path}: unreadable or corrupt image ({str(exc).strip().splitlines()[-1]})") from None
    if img is None:
        raise MergeError(f"{path}: unreadable or corrupt image")
    return img


def _read_raw(path: Path) -> np.ndarray:
    try:
        import rawpy
    except ImportError as exc:  # pragma: no cover - rawpy is a dependency
        raise MergeError(f"{path}: camera raw needs the rawpy package") from exc
    try:
        with rawpy.imread(str(path)) as raw:
            rgb = raw.postprocess(output_bps=16, use_camera_wb=True, no_auto_bright=True)
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        raise MergeError(f"{path}: unreadable camera raw file ({type(exc).__name__}: {exc})") from exc
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _read_tiff(path: Path) -> np.ndarray:
    import tifffile

    try:
        arr = tifffile.imread(str(path), key=0)
    except Exception as exc:  # tifffile raises many types for corrupt files
        raise MergeError(f"{path}: unreadable TIFF ({type(exc).__name__}: {exc})") from exc
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        pass
    elif np.issubdtype(arr.dtype, np.floating):
        arr = np.clip(np.nan_to_num(arr) * 65535.0, 0, 65535).astype(np.uint16)
    else:
        raise MergeError(f"{path}: unsupported TIFF sample type {arr.dtype}")
    if arr.ndim == 3:
        if arr.shape[2] == 4:
            arr = arr[..., :3]
        if arr.shape[2] != 3:
            raise MergeError(f"{path}: unsupported TIFF with {arr.shape[2]} channels")
        arr = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2BGR)
    elif arr.ndim != 2:
        raise MergeError(f"{path}: unsupported TIFF shape {arr.shape}")
    return arr


def read_image(path: Path, gray: bool = False) -> np.ndarray:
    """Read one slice as uint8/uint16, BGR, or grey when ``gray`` (cheaper for JPEG)."""
    ext = path.suffix.lower()
    if ext in RAW_EXT:
        img = _read_raw(path)
    elif ext in TIFF_EXT:
        img = _read_tiff(path)
    else:
        data = _read_bytes(path)
        if ext in JPEG_EXT or data.startswith(b"\xff\xd8"):
            _check_jpeg(path, data)
        # as stored: the EXIF orientation is carried into the output, not applied (UNCHANGED
        # ignores it; GRAYSCALE alone would turn the image and pass 1 would disagree with pass 2)
        flag = cv2.IMREAD_UNCHANGED
        if gray and ext in JPEG_EXT:
            flag = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION
        img = _decode(path, data, flag, jpeg=data.startswith(b"\xff\xd8"))
        if img.dtype not in (np.uint8, np.uint16):
            raise MergeError(f"{path}: unsupported sample type {img.dtype}")
        if img.ndim == 3 and img.shape[2] == 4:
            img = img[..., :3]
    if min(img.shape[:2]) < MIN_SIDE_PX:
        h, w = img.shape[:2]
        raise MergeError(
            f"{path}: slice is {w}x{h} pixels; a merge needs slices of at least {MIN_SIDE_PX}x{MIN_SIDE_PX}"
        )
    if gray and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if not gray and img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img


def prefetch(
    items: Iterable[tuple[int, Path]],
    gray: bool,
    prepare: Callable[[int, np.ndarray], object] | None = None,
    ahead: int = 1,
    workers: Workers | None = None,
) -> Iterator[tuple[int, np.ndarray, object]]:
    """Decode the slices ``items`` (index, path) up to ``ahead`` ahead of the consumer, in a worker thread.

    ``prepare(k, img)`` also runs in the worker, in order (the alignment chain): with two cores,
    decoding and registration of slice k+1 overlap the focus measure of slice k (OpenCV and the
    decoders release the GIL). ``items`` may block (slices still being captured). With ``workers``
    (more than one thread) the decoding and ``prepare`` are parts queued on them instead (``prepare``
    after the previous slice's): no third thread competes with the two that do the per-pixel work.
    """
    it = iter(items)
    if workers is not None and workers.threads > 1:
        yield from _prefetch_parts(it, gray, prepare, ahead, workers)
        return

    def job(k: int, path: Path) -> tuple[int, np.ndarray, object]:
        img = read_image(path, gray)
        return k, img, (prepare(k, img) if prepare is not None else None)

    with ThreadPoolExecutor(max_workers=1) as pool:
        queued: deque[Future[tuple[int, np.ndarray, object]]] = deque()

        def refill() -> None:
            while len(queued) < ahead:
                nxt = next(it, None)
                if nxt is None:
                    return
                queued.append(pool.submit(job, *nxt))

        refill()
        while queued:
            k, img, extra = queued.popleft().result()
            refill()
            yield k, img, extra
            del img


def _prefetch_parts(
    it: Iterator[tuple[int, Path]],
    gray: bool,
    prepare: Callable[[int, np.ndarray], object] | None,
    ahead: int,
    workers: Workers,
) -> Iterator[tuple[int, np.ndarray, object]]:
    """:func:`prefetch` as parts on ``workers``: each slice decoded in one, ``prepare`` in another that
    runs after the slice's decoding and the previous slice's ``prepare``."""
    queued: deque[tuple[int, Future[np.ndarray], Future[object] | None]] = deque()
    chain: list[Future[object]] = []  # the last slice's prepare

    def refill() -> None:
        while len(queued) < ahead:
            nxt = next(it, None)
            if nxt is None:
                return
            k, path = nxt
            decoded = workers.submit(partial(read_image, path, gray))
            prepared = None
            if prepare is not None:
                prepared = workers.submit(partial(_prepared, prepare, k, decoded), [decoded, *chain])
                chain[:] = [prepared]
            queued.append((k, decoded, prepared))

    refill()
    while queued:
        k, decoded, prepared = queued.popleft()
        img = decoded.result()
        extra = prepared.result() if prepared is not None else None
        del decoded, prepared  # the futures hold the slice
        refill()
        yield k, img, extra
        del img


def _prepared(prepare: Callable[[int, np.ndarray], object], k: int, decoded: Future[np.ndarray]) -> object:
    return prepare(k, decoded.result())


def read_metadata(path: Path) -> Metadata:
    """EXIF and ICC profile of a slice (see :mod:`rig.merge.exif`); empty when absent."""
    return exif.read_metadata(path, raw=path.suffix.lower() in RAW_EXT)


# ----------------------------------------------------------------------------- writing
def check_output(path: Path, overwrite: bool) -> None:
    """Fail early (before any work) if ``path`` cannot be written."""
    if path.suffix.lower() not in OUTPUT_EXT:
        raise MergeError(f"{path}: unsupported output type (use .tif, .tiff, .png, .jpg or .jpeg)")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise MergeError(f"{path}: output folder {folder} does not exist")
    if path.exists() and not overwrite:
        raise MergeError(f"{path}: already exists (use --overwrite to replace it)")
    if path.is_dir():
        raise MergeError(f"{path}: is a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MergeError(f"{path}: output folder {folder} is not writable")
    try:  # a real probe: read-only mounts, immutable folders, root squash...
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise MergeError(f"{path}: output folder {folder} is not writable ({exc.strerror})") from exc


def atomic_write(path: Path, data: bytes, overwrite: bool) -> None:
    """Publish ``data`` at ``path`` with the project's one atomic writer (:mod:`rig.paths`: temp
    file, fsync, link or rename into place, directory fsync); never clobbers unless ``overwrite``."""
    try:
        if overwrite:
            write_replace(path, data)
        else:
            write_new(path, data)
    except FileExistsError as exc:
        raise MergeError(f"{path}: already exists (use --overwrite to replace it)") from exc
    except StorageError as exc:
        raise MergeError(str(exc)) from exc


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def encode_png(img: np.ndarray, level: int = 1, threads: int = 1) -> bytes:
    """PNG of ``img`` (BGR or grey, uint8/uint16): every row "Up"-filtered (the difference from the
    row above; as small as OpenCV's encoder at level 1 on the merged images, and cheaper), deflated
    in one part per thread (each part a run of whole deflate blocks, so the parts join into one zlib
    stream that every decoder reads)."""
    h, w = img.shape[:2]
    rgb = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    rows = np.ascontiguousarray(rgb, ">u2" if img.dtype == np.uint16 else np.uint8).view(np.uint8).reshape(h, -1)
    filtered = np.empty((h, rows.shape[1] + 1), np.uint8)
    filtered[:, 0] = 2  # filter type Up
    filtered[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=filtered[1:, 1:])
    data = filtered.reshape(-1).data  # a memoryview: parts are sliced without copies
    with Workers(threads) as workers:
        cuts = [0, *(y * filtered.shape[1] for _, y in workers.strips(h)[:-1]), len(data)]

        def deflate(part: tuple[int, int]) -> bytes:
            packer = zlib.compressobj(level, zlib.DEFLATED, -15)  # raw deflate
            last = part[1] == len(data)
            return packer.compress(data[part[0] : part[1]]) + packer.flush(zlib.Z_FINISH if last else zlib.Z_FULL_FLUSH)

        body = b"".join(workers.run(deflate, list(zip(cuts, cuts[1:], strict=False))))
    stream = b"\x78\x01" + body + struct.pack(">I", zlib.adler32(data))
    depth, colour = (16 if img.dtype == np.uint16 else 8), (0 if img.ndim == 2 else 2)
    header = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", stream) + _png_chunk(b"IEND", b"")


def _png_with_metadata(png: bytes, meta: Metadata) -> bytes:
    extra = b""
    if meta.icc:
        extra += _png_chunk(b"iCCP", b"ICC\x00\x00" + zlib.compress(meta.icc))
    if meta.exif:
        extra += _png_chunk(b"eXIf", meta.exif)
    if not extra:
        return png
    ihdr_end = 8 + 8 + 13 + 4  # signature + IHDR chunk
    return png[:ihdr_end] + extra + png[ihdr_end:]


def encode_image(path: Path, img: np.ndarray, meta: Metadata, quality: int = 95, threads: int = 1) -> bytes:
    """Encode ``img`` (BGR or grey, uint8/uint16) in the format ``path``'s extension names (a PNG
    on ``threads`` threads)."""
    ext = path.suffix.lower()
    if ext in JPEG_EXT:
        from PIL import Image

        if img.dtype == np.uint16:
            img = (img.astype(np.float32) * (255.0 / 65535.0) + 0.5).astype(np.uint8)
        rgb = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        buf = io.BytesIO()
        kw: dict[str, Any] = {"quality": quality, "subsampling": 0}
        jpeg_exif = exif.exif_for_jpeg(meta.exif) if meta.exif else None
        if jpeg_exif:
            kw["exif"] = b"Exif\x00\x00" + jpeg_exif
        if meta.icc:
            kw["icc_profile"] = meta.icc
        Image.fromarray(rgb).save(buf, "JPEG", **kw)
        return buf.getvalue()
    if ext in PNG_EXT:
        return _png_with_metadata(encode_png(img, threads=threads), meta)
    if ext in TIFF_EXT:
        import tifffile

        rgb = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        buf = io.BytesIO()
        tifffile.imwrite(
            buf,
            rgb,
            photometric="minisblack" if rgb.ndim == 2 else "rgb",
            iccprofile=meta.icc,
            compression="zlib",
            compressionargs={"level": 1},
            software="rig merge",
            extratags=exif.tiff_tags(meta.exif, meta.orientation),
        )
        return exif.append_exif_ifd(buf.getvalue(), meta.exif)
    raise MergeError(f"{path}: unsupported output type")


def write_image(path: Path, img: np.ndarray, meta: Metadata, overwrite: bool, quality: int = 95) -> None:
    atomic_write(path, encode_image(path, img, meta, quality), overwrite)
