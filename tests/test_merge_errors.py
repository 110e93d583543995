"""Every bad input of ``rig merge``: exit 2, one line naming the file, no (partial) output left."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from rig.cli import main


def _slice(path: Path, w: int = 96, h: int = 72, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur((rng.random((h, w, 3)) * 255).astype(np.uint8), (0, 0), 1.0)
    cv2.imwrite(str(path), img)


def _stack(folder: Path, n: int = 3, ext: str = "jpg") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        _slice(folder / f"s{k + 1}.{ext}", seed=k)
    return folder


def _run(capsys, *argv: str) -> tuple[int, str]:
    rc = main(["merge", *argv])
    err = capsys.readouterr().err.strip()
    return rc, err


def _assert_clean_error(rc: int, err: str, names: str, out_dir: Path) -> None:
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("rig: error: "), err
    assert names in lines[0], (names, err)
    if out_dir.exists():
        assert not [p for p in out_dir.iterdir() if p.name.startswith((".out", "out"))], list(out_dir.iterdir())


def test_empty_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc, err = _run(capsys, str(tmp_path / "empty"), "-o", str(tmp_path / "out.png"))
    _assert_clean_error(rc, err, str(tmp_path / "empty"), tmp_path)


def test_single_slice(tmp_path, capsys):
    _stack(tmp_path / "one", n=1)
    rc, err = _run(capsys, str(tmp_path / "one"), "-o", str(tmp_path / "out.png"))
    _assert_clean_error(rc, err, "s1.jpg", tmp_path)


def test_slices_of_different_sizes(tmp_path, capsys):
    src = _stack(tmp_path / "mixed", n=3)
    _slice(src / "s3.jpg", w=100, h=72)
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "out.tif"))
    _assert_clean_error(rc, err, "s3.jpg", tmp_path)


def test_truncated_jpeg(tmp_path, capsys):
    src = _stack(tmp_path / "trunc", n=4)
    data = (src / "s3.jpg").read_bytes()
    (src / "s3.jpg").write_bytes(data[: len(data) * 2 // 3])
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "out.jpg"))
    _assert_clean_error(rc, err, "s3.jpg", tmp_path)
    assert "truncated" in err


def test_corrupt_png(tmp_path, capsys):
    src = _stack(tmp_path / "png", n=3, ext="png")
    (src / "s2.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "out.png"))
    _assert_clean_error(rc, err, "s2.png", tmp_path)


def test_unreadable_raw(tmp_path, capsys):
    src = tmp_path / "raw"
    src.mkdir()
    for k in range(3):
        (src / f"DSC_{k:04d}.NEF").write_bytes(os.urandom(4096))
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "out.tif"))
    _assert_clean_error(rc, err, ".NEF: unreadable camera raw", tmp_path)


def test_output_in_missing_folder(tmp_path, capsys):
    src = _stack(tmp_path / "ok")
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "nope" / "out.png"))
    _assert_clean_error(rc, err, str(tmp_path / "nope" / "out.png"), tmp_path)


def test_output_in_read_only_folder(tmp_path, capsys):
    src = _stack(tmp_path / "ok")
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root writes through file modes: make the folder immutable instead
        chattr = shutil.which("chattr")
        if not chattr or subprocess.run([chattr, "+i", str(ro)], capture_output=True).returncode:
            pytest.skip("running as root and cannot make a folder immutable")
    else:
        ro.chmod(0o555)
    try:
        rc, err = _run(capsys, str(src), "-o", str(ro / "out.png"))
        _assert_clean_error(rc, err, str(ro / "out.png"), ro)
        assert "not writable" in err
        assert list(ro.iterdir()) == []
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(ro)], check=False)
        ro.chmod(0o755)


def test_never_overwrites_without_flag(tmp_path, capsys):
    src = _stack(tmp_path / "ok")
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    rc, err = _run(capsys, str(src), "-o", str(out))
    assert rc == 2 and "--overwrite" in err and str(out) in err
    assert out.read_bytes() == b"precious"
    rc, _ = _run(capsys, str(src), "-o", str(out), "--overwrite")
    assert rc == 0 and cv2.imread(str(out)).shape == (72, 96, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok", "out.png"]


def test_manifest_with_frames_on_camera_card_only(tmp_path, capsys):
    src = _stack(tmp_path / "stack", n=2)
    frames = [
        {"index": 1, "file": "s1.jpg", "position_um": 0.0},
        {"index": 2, "file": None, "position_um": 50.0},
        {"index": 3, "file": None, "position_um": 100.0},
    ]
    (src / "stack.json").write_text(json.dumps({"format": "rig-stack/1", "outcome": "completed", "frames": frames}))
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "out.png"))
    _assert_clean_error(rc, err, "stack.json", tmp_path)
    assert "camera card" in err


def test_manifest_order_and_outputs(tmp_path, capsys):
    src = _stack(tmp_path / "stack", n=3, ext="png")
    (src / "stray.png").write_bytes(b"not listed, not read")
    frames = [{"index": i + 1, "file": f"s{k}.png"} for i, k in enumerate((3, 1, 2))]
    frames.append({"index": 4, "file": None})
    (src / "stack.json").write_text(json.dumps({"format": "rig-stack/1", "outcome": "cancelled", "frames": frames}))
    out, dm, jpg = tmp_path / "out.tif", tmp_path / "depth.png", tmp_path / "out.jpg"
    rc, err = _run(capsys, str(src), "-o", str(out), "--depthmap", str(dm), "--jpeg", str(jpg), "--bits", "16")
    assert rc == 0, err
    import tifffile

    assert tifffile.imread(str(out)).dtype == np.uint16
    assert cv2.imread(str(jpg)).shape == (72, 96, 3)
    assert cv2.imread(str(dm), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_child_process_job(tmp_path):
    from rig.errors import MergeError
    from rig.merge.child import start_merge

    src = _stack(tmp_path / "ok", n=4)
    job = start_merge(src, tmp_path / "m.png", depthmap=tmp_path / "d.png")
    assert job.result(timeout=120) == tmp_path / "m.png"
    assert job.done() and job.progress() == 1.0
    assert (tmp_path / "d.png").is_file()
    bad = start_merge(tmp_path / "missing", tmp_path / "x.png")
    with pytest.raises(MergeError, match="missing"):
        bad.result(timeout=120)
    assert bad.done() and not (tmp_path / "x.png").exists()
    slow = start_merge(src, tmp_path / "c.png", extra_args=["--reference", "1"])
    slow.cancel()
    with pytest.raises(MergeError):
        slow.result(timeout=30)
    time.sleep(0.1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".c.png", "c.png"))]


def test_16bit_tiff_in_16bit_out_and_metadata_carried(tmp_path, capsys):
    import tifffile
    from PIL import Image, ImageCms

    src = tmp_path / "t16"
    src.mkdir()
    rng = np.random.default_rng(4)
    base = cv2.GaussianBlur(rng.random((72, 96, 3)).astype(np.float32), (0, 0), 1.0)
    for k in range(3):
        img = np.clip(cv2.GaussianBlur(base, (0, 0), 0.3 + k) * 65535, 0, 65535).astype(np.uint16)
        tifffile.imwrite(src / f"s{k}.tif", img, photometric="rgb")
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "out.tif"))
    assert rc == 0, err
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.dtype == np.uint16 and out.shape == (72, 96, 3) and out.max() > 255
    # one 8-bit slice among 16-bit ones is brought to the same scale
    eight = (tifffile.imread(src / "s1.tif") // 257).astype(np.uint8)
    tifffile.imwrite(src / "s1.tif", eight, photometric="rgb")
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "mixed.tif"))
    assert rc == 0, err
    mixed = tifffile.imread(tmp_path / "mixed.tif")
    assert mixed.dtype == np.uint16 and abs(float(mixed.mean()) - float(out.mean())) < 0.01 * float(out.mean())
    # JPEG slices with EXIF and an ICC profile: both reach JPEG and PNG outputs
    jsrc = tmp_path / "jpg"
    jsrc.mkdir()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for k in range(3):
        im = Image.fromarray((cv2.GaussianBlur(base, (0, 0), 0.3 + k) * 255).astype(np.uint8))
        exif = Image.Exif()
        exif[0x010F] = "RigCam"  # Make
        im.save(jsrc / f"s{k}.jpg", quality=95, exif=exif, icc_profile=icc)
    for name in ("out.jpg", "out.png"):
        rc, err = _run(capsys, str(jsrc), "-o", str(tmp_path / name))
        assert rc == 0, err
        with Image.open(tmp_path / name) as im:
            assert im.info.get("icc_profile") == icc
            assert im.getexif().get(0x010F) == "RigCam"


def _write_dng(path: Path, rgb16: np.ndarray) -> None:
    """A minimal DNG (RGGB Bayer mosaic, 12-bit) that LibRaw/rawpy can develop."""
    import tifffile

    cfa = np.empty(rgb16.shape[:2], np.uint16)
    cfa[0::2, 0::2] = rgb16[0::2, 0::2, 0]
    cfa[0::2, 1::2] = rgb16[0::2, 1::2, 1]
    cfa[1::2, 0::2] = rgb16[1::2, 0::2, 1]
    cfa[1::2, 1::2] = rgb16[1::2, 1::2, 2]
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), False),  # DNGVersion
        (50708, "s", 0, "rig test camera", False),  # UniqueCameraModel
        (33421, "H", 2, (2, 2), False),  # CFARepeatPatternDim
        (33422, "B", 4, (0, 1, 1, 2), False),  # CFAPattern: RGGB
        (50717, "I", 1, 4095, False),  # WhiteLevel
        (50721, "i", 18, (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1), False),  # ColorMatrix1
        (50778, "H", 1, 21, False),  # CalibrationIlluminant1: D65
    ]
    tifffile.imwrite(path, cfa, photometric=32803, extratags=tags, metadata=None)


def test_camera_raw_stack_gives_16bit(tmp_path, capsys):
    src = tmp_path / "dng"
    src.mkdir()
    rng = np.random.default_rng(2)
    base = cv2.GaussianBlur(rng.random((96, 128, 3)).astype(np.float32), (0, 0), 1.5)
    for k in range(3):
        img = cv2.GaussianBlur(base, (0, 0), 0.3 + 1.5 * k)
        _write_dng(src / f"IMG_{k:04d}.DNG", np.clip(img * 3500 + 300, 0, 4095).astype(np.uint16))
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "out.png"), "--no-align")
    assert rc == 0, err
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (96, 128, 3)


# ------------------------------------------------------------------ issue 15: inputs that gave tracebacks
def test_truncated_jpeg_that_still_ends_with_the_end_marker(tmp_path, capsys):
    src = _stack(tmp_path / "trunc_eoi", n=3)
    data = (src / "s2.jpg").read_bytes()
    (src / "s2.jpg").write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "out.png"))
    _assert_clean_error(rc, err, "s2.jpg", tmp_path)
    assert "truncated" in err


def test_zero_byte_png(tmp_path, capsys):
    src = _stack(tmp_path / "zero", n=3, ext="png")
    (src / "s2.png").write_bytes(b"")
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "out.png"))
    _assert_clean_error(rc, err, "s2.png", tmp_path)
    assert "empty" in err


def test_one_pixel_stack(tmp_path, capsys):
    src = tmp_path / "tiny"
    src.mkdir()
    for k in range(3):
        _slice(src / f"s{k + 1}.png", w=1, h=1, seed=k)
    rc, err = _run(capsys, str(src), "-o", str(tmp_path / "out.png"))
    _assert_clean_error(rc, err, "1x1", tmp_path)
