"""EXIF, ICC profile and orientation: what a camera wrote into the slices reaches the merge."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms
from PIL.TiffImagePlugin import IFDRational

from rig.cli import main
from rig.merge import exif as mexif

MAKE, MODEL, ORIENTATION, EXPOSURE, FNUMBER, ISO, MAKER_NOTE = 0x010F, 0x0110, 0x0112, 0x829A, 0x829D, 0x8827, 0x927C


def _base(h: int = 72, w: int = 96) -> np.ndarray:
    rng = np.random.default_rng(4)
    return cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 1.0)


def _camera_exif(orientation: int = 1, maker_note: int = 0) -> Image.Exif:
    ex = Image.Exif()
    ex[MAKE], ex[MODEL] = "RigCam", "Bench 1"
    if orientation != 1:
        ex[ORIENTATION] = orientation
    sub = ex.get_ifd(0x8769)
    sub[EXPOSURE], sub[FNUMBER], sub[ISO] = IFDRational(1, 125), IFDRational(8, 1), 200
    if maker_note:
        sub[MAKER_NOTE] = b"N" * maker_note
    return ex


def _jpeg_stack(folder: Path, orientation: int = 1, h: int = 72, w: int = 96) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    base = _base(h, w)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for k in range(3):
        rgb = (cv2.GaussianBlur(base, (0, 0), 0.3 + k) * 255).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"s{k}.jpg", quality=95, exif=_camera_exif(orientation), icc_profile=icc)
    return folder


def _merge(capsys, *argv: str) -> None:
    rc = main(["merge", *argv])
    assert rc == 0, capsys.readouterr().err


def test_portrait_jpegs_merge_and_keep_their_orientation(tmp_path, capsys):
    """A camera held upright writes landscape pixels + orientation 6: the merge must work on the
    pixels as stored (both passes alike) and every output must turn the same way in a viewer."""
    src = _jpeg_stack(tmp_path / "s", orientation=6)
    out = tmp_path / "out"
    out.mkdir()
    _merge(capsys, str(src), "-o", str(out / "m.tif"), "--jpeg", str(out / "m.jpg"), "--depthmap", str(out / "d.png"))
    _merge(capsys, str(src), "-o", str(out / "m.png"))
    for name in ("m.tif", "m.jpg", "m.png", "d.png"):
        stored = tifffile.imread(out / name) if name.endswith(".tif") else cv2.imread(str(out / name), -1)
        assert stored.shape[:2] == (72, 96), name  # the pixels as the camera stored them, not turned
        with Image.open(out / name) as im:
            assert im.getexif().get(ORIENTATION) == 6, name


def test_exif_reaches_tiff_jpeg_and_png(tmp_path, capsys):
    src = _jpeg_stack(tmp_path / "s")
    out = tmp_path / "out"
    out.mkdir()
    _merge(capsys, str(src), "-o", str(out / "m.tif"), "--bits", "16", "--jpeg", str(out / "m.jpg"))
    _merge(capsys, str(src), "-o", str(out / "m.png"))
    for name in ("m.tif", "m.jpg", "m.png"):
        with Image.open(out / name) as im:
            ex = im.getexif()
            assert (ex.get(MAKE), ex.get(MODEL)) == ("RigCam", "Bench 1"), name
            sub = ex.get_ifd(0x8769)
            assert float(sub[EXPOSURE]) == pytest.approx(1 / 125) and float(sub[FNUMBER]) == 8.0, name
            assert sub[ISO] == 200, name
            if name != "m.tif":
                assert im.info.get("icc_profile"), name
    with tifffile.TiffFile(out / "m.tif") as tif:  # a second reader agrees, and the pixels are intact
        page = tif.pages[0]
        assert page.tags["ExifTag"].value["ExposureTime"] == (1, 125)
        assert page.dtype == np.uint16 and page.asarray().max() > 255


def test_large_maker_note_is_dropped_only_from_jpeg():
    """Raw files carry maker notes of 100 KB and more; a JPEG segment holds 64 KB."""
    big = mexif._strip_prefix(_camera_exif(maker_note=80_000).tobytes())
    small = mexif.exif_for_jpeg(big)
    assert small is not None and len(small) < 65_000
    ex = Image.Exif()
    ex.load(small)
    assert ex.get(MAKE) == "RigCam" and MAKER_NOTE not in ex.get_ifd(0x8769)
    assert float(ex.get_ifd(0x8769)[EXPOSURE]) == pytest.approx(1 / 125)
    tiff = mexif.append_exif_ifd(_tiny_tiff(), big)  # TIFF has no such limit: kept whole
    with Image.open(__import__("io").BytesIO(tiff)) as im:
        assert len(im.getexif().get_ifd(0x8769)[MAKER_NOTE]) == 80_000


def _tiny_tiff() -> bytes:
    import io

    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((4, 4, 3), np.uint8), photometric="rgb")
    return buf.getvalue()


def test_raw_exif_is_read_as_tiff_and_turned_upright(tmp_path):
    """TIFF-based raws (NEF, CR2, ARW, DNG...): EXIF read from the file's own IFDs; rawpy develops
    them upright, so the carried orientation is 1; the raw-data tags are not carried."""
    cfa = np.zeros((8, 8), np.uint16)
    tags = [
        (MAKE, "s", 0, "RigCam", True),
        (ORIENTATION, "H", 1, 8, True),
        (50717, "I", 1, 4095, True),  # DNG WhiteLevel
    ]
    path = tmp_path / "IMG_0001.DNG"
    tifffile.imwrite(path, cfa, photometric=32803, extratags=tags, metadata=None)
    meta = mexif.read_metadata(path, raw=True)
    ex = Image.Exif()
    ex.load(meta.exif)
    assert ex.get(MAKE) == "RigCam" and ex.get(ORIENTATION) == 1 and meta.orientation == 1
    assert 50717 not in ex and 0x0111 not in ex  # WhiteLevel, StripOffsets
    assert mexif.read_metadata(tmp_path / "missing.NEF", raw=True) == mexif.Metadata()
    (tmp_path / "x.CR3").write_bytes(b"\x00\x00\x00\x18ftypcrx ")  # not TIFF-based: no EXIF, no error
    assert mexif.read_metadata(tmp_path / "x.CR3", raw=True) == mexif.Metadata()


def test_exif_that_cannot_be_written_back_keeps_orientation_and_icc(tmp_path, monkeypatch):
    src = _jpeg_stack(tmp_path / "s", orientation=8)

    def broken(self, offset=8):
        raise ValueError("odd tag type")

    real = Image.Exif.tobytes
    monkeypatch.setattr(Image.Exif, "tobytes", broken)
    monkeypatch.setattr(mexif, "orientation_only", lambda o: mexif.Metadata(exif=b"o%d" % o, orientation=o))
    meta = mexif.read_metadata(src / "s0.jpg")
    monkeypatch.setattr(Image.Exif, "tobytes", real)
    assert meta.orientation == 8 and meta.icc and meta.exif == b"o8"
