"""The per-frame checks measure a camera JPEG's embedded preview (issue 14: a check at 24 MP
costs a fraction of a full decode) and still catch every bad shot."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from rig.camera.sim import motion_blurred
from rig.config import CameraConfig, MachineConfig, OutputConfig, Profile, RailConfig, SimCameraConfig, SimRailConfig
from rig.frame_checks import decode_small, judge, measure
from rig.jpeg_preview import embedded_previews, preview_for_checks, with_mpf_preview
from rig.machine import Machine
from tests.cli_helpers import check_frames_intact


def jpeg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def scene(width: int = 1600, height: int = 1200) -> np.ndarray:
    rng = np.random.default_rng(3)
    img = cv2.resize(rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8), (width, height))
    return cv2.GaussianBlur(img, (0, 0), 1.0)


def with_preview(img: np.ndarray, width: int = 700) -> bytes:
    small = cv2.resize(img, (width, img.shape[0] * width // img.shape[1]), interpolation=cv2.INTER_AREA)
    return with_mpf_preview(jpeg(img), jpeg(small))


def test_an_mpf_preview_is_found_as_pillow_writes_and_reads_it():
    img = scene(800, 600)
    primary, small = Image.fromarray(img), Image.fromarray(cv2.resize(img, (640, 480)))
    buf = io.BytesIO()  # Pillow's MPO writer (PIL/MpoImagePlugin.py, _save_all) as a second opinion
    primary.save(buf, "MPO", save_all=True, append_images=[small])
    found = [Image.open(io.BytesIO(p)).size for _, p in embedded_previews(buf.getvalue())]
    assert found == [(640, 480)]
    ours = Image.open(io.BytesIO(with_preview(img, 640)))  # and Pillow reads the index we write
    assert ours.format == "MPO" and getattr(ours, "n_frames", 1) == 2
    ours.seek(1)
    assert ours.size == (640, 480)


def test_the_checks_measure_the_preview_and_fall_back_to_the_image():
    img = scene()
    data = with_preview(img)
    assert decode_small(data).shape[1] == 700  # the preview (the frame itself: 1/2 scale, 800)
    assert preview_for_checks(data, 701) is None and decode_small(with_preview(img, 600)).shape[1] == 800
    cut = data[: data.index(b"\xff\xd8", 100)]  # the preview lost: the image is decoded
    assert preview_for_checks(cut, 640) is None and decode_small(cut).shape[1] == 800
    spliced = data[: len(data) // 2] + data[len(data) // 2 + 100 :]  # the index no longer fits the file
    assert preview_for_checks(spliced, 640) is None


@pytest.mark.parametrize("fault", ["blurred", "dark"])
def test_a_bad_shot_is_caught_on_its_preview_as_on_the_whole_frame(fault):
    good, other = scene(), np.roll(scene(), 3, axis=1)  # the next slice: same detail, a little moved
    bad = motion_blurred(other, None) if fault == "blurred" else (other * 0.25 + 0.5).astype(np.uint8)
    for encode in (jpeg, with_preview):
        neighbour, shot, fine = measure(encode(good)), measure(encode(bad)), measure(encode(other))
        verdict = judge(shot, neighbour, brightness_tolerance=0.15, sharpness_tolerance=0.6)
        assert verdict.reasons and verdict.reasons[0].startswith("brightness" if fault == "dark" else "sharpness")
        assert judge(fine, neighbour, brightness_tolerance=0.15, sharpness_tolerance=0.6).ok


def test_a_stack_from_a_camera_with_previews_reshoots_its_bad_shots(tmp_path: Path):
    cfg = MachineConfig(
        rail=RailConfig(sim=SimRailConfig(start_um=200.0)),
        camera=CameraConfig(
            sim=SimCameraConfig(width=720, height=540, embedded_preview_px=640, dark_captures=(3,), blur_captures=(5,))
        ),
        output=OutputConfig(root=str(tmp_path / "out"), min_free_mb=0),
    )
    with Machine.build(cfg, profiles_dir=tmp_path / "profiles") as m:
        m.sequencer.start(Profile(slices=4, step_um=60, settle_s=0), "previews")
        status = m.sequencer.wait(60)
        data = check_frames_intact(Path(status.folder))
    first = Path(status.folder) / data["frames"][0]["file"]
    assert decode_small(first.read_bytes()).shape[1] == 640  # measured on the preview (the frame: 720)
    reshot = {f["index"]: f["checks"]["rejected"][0]["reasons"][0] for f in data["frames"] if f["shots"] > 1}
    assert sorted(reshot) == [3, 4] and len(data["frames"]) == 4
    assert reshot[3].startswith("brightness") and reshot[4].startswith("sharpness")
