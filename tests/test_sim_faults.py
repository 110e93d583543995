"""The simulator's fault injection (issue 14): dark, blurred and dropped captures, skipped moves,
backlash and vibration, as the configs ask for them."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from rig.config import CameraConfig, MachineConfig, RailConfig, SimCameraConfig, SimRailConfig, load_config
from rig.errors import ConfigError, FrameMissing
from rig.machine import Machine


def gray(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float32)


def laplacian_var(img: np.ndarray) -> float:
    return float(cv2.Laplacian(img, cv2.CV_32F).var())


def build(tmp_path, rail: dict | None = None, camera: dict | None = None) -> Machine:
    cfg = MachineConfig(
        rail=RailConfig(sim=SimRailConfig(**{"start_um": 500.0, **(rail or {})})),
        camera=CameraConfig(sim=SimCameraConfig(**{"width": 160, "height": 120, **(camera or {})})),
    )
    return Machine.build(cfg, profiles_dir=tmp_path / "profiles")


def test_dark_blurred_and_dropped_captures_come_as_configured(tmp_path):
    m = build(tmp_path, camera={"dark_captures": (2,), "blur_captures": (3,), "drop_captures": (4,)})
    with m:
        good = gray(m.camera.capture().data)
        dark = gray(m.camera.capture().data)
        blurred = gray(m.camera.capture().data)
        with pytest.raises(FrameMissing, match="shot 4"):
            m.camera.capture()
        after = gray(m.camera.capture().data)
    assert dark.mean() == pytest.approx(good.mean() / 4, rel=0.05)  # two stops
    assert blurred.mean() == pytest.approx(good.mean(), rel=0.02)
    assert laplacian_var(blurred) < 0.3 * laplacian_var(good)
    assert laplacian_var(after) == pytest.approx(laplacian_var(good), rel=0.2)


def test_a_skipped_move_leaves_the_carriage_behind_until_the_next_move(tmp_path):
    m = build(tmp_path, rail={"skip_moves": (2,)})
    with m:
        m.rail.move_to(600)
        m.rail.move_to(700)
        assert m.rail.position() == 700 and m.camera.capture().meta["focus"] == 600
        m.rail.move_to(800)
        assert m.camera.capture().meta["focus"] == 800


def test_backlash_loses_motion_on_reversal(tmp_path):
    m = build(tmp_path, rail={"backlash_um": 40.0})
    with m:
        m.rail.move_to(600)
        forward = m.camera.capture().meta["focus"]
        m.rail.move_to(700)
        m.rail.move_to(600)
        backward = m.camera.capture().meta["focus"]
    assert backward - forward == pytest.approx(40.0)


def test_vibration_blurs_frames_for_its_time_after_a_move(tmp_path):
    m = build(tmp_path, rail={"vibration_s": 0.2})
    with m:
        time.sleep(0.21)
        still = laplacian_var(gray(m.camera.capture().data))
        m.rail.move_to(520)
        moved_at = time.monotonic()
        shaken = laplacian_var(gray(m.camera.capture().data))
        assert time.monotonic() - moved_at < 0.2, "the capture came too late to see the vibration"
        while m.rail.vibration():
            time.sleep(0.01)
        assert time.monotonic() - moved_at >= 0.19
        settled = laplacian_var(gray(m.camera.capture().data))
    assert shaken < 0.3 * still and settled == pytest.approx(still, rel=0.2)


def test_fault_lists_are_checked_when_loaded(tmp_path):
    path = tmp_path / "rig.toml"
    path.write_text("[camera.sim]\ndark_captures = [0]\n")
    with pytest.raises(ConfigError, match=r"camera\.sim\.dark_captures.*1 or more"):
        load_config(path)
    path.write_text("[rail.sim]\nskip_moves = ['x']\n")
    with pytest.raises(ConfigError, match=r"rail\.sim\.skip_moves"):
        load_config(path)


def test_periodic_faults_fail_every_nth_capture_and_move_and_the_next_works(tmp_path):
    """The soak's faults (bench/soak.py): one in N fails, the device carries on after it."""
    from rig.errors import CameraError, MotionError

    with build(tmp_path, rail={"fail_every_moves": 2}, camera={"fail_every_captures": 3}) as m:
        outcomes = []
        for n in range(1, 7):
            try:
                m.camera.capture()
                outcomes.append("ok")
            except CameraError as exc:
                outcomes.append(f"fail {n}" if f"capture {n}" in str(exc) else str(exc))
        assert outcomes == ["ok", "ok", "fail 3", "ok", "ok", "fail 6"]
        m.rail.move_to(600)
        with pytest.raises(MotionError, match="move 2"):
            m.rail.move_to(700)
        assert m.rail.move_to(800) == pytest.approx(800)
