"""The picam camera on the stand-in picamera2 module: fresh frames, formats, preview, errors."""

from __future__ import annotations

import sys
import time

import cv2
import numpy as np
import pytest

from rig.config import CameraConfig
from rig.errors import BackendUnavailable, CameraError
from tests.fakes.picamera2 import make_module
from tests.harness.camera_picam import make_camera


def test_configures_full_stills_and_a_small_preview_stream(tmp_path):
    with make_camera(tmp_path, quality=80) as (camera, ctl):
        fake = ctl.fake
        assert fake.config["main"]["size"] == (320, 240) and fake.config["lores"]["size"] == (160, 120)
        assert fake.options["quality"] == 80 and fake.started
        assert camera.info()["model"] == "imx708"


def test_each_still_is_fresh_and_decodes(tmp_path):
    with make_camera(tmp_path) as (camera, ctl):
        stamps = []
        for _ in range(3):
            before = time.monotonic_ns()
            frame = camera.capture()
            assert frame.meta["SensorTimestamp"] >= before  # exposed after the call
            stamps.append(frame.meta["SensorTimestamp"])
            img = cv2.imdecode(np.frombuffer(frame.data, np.uint8), cv2.IMREAD_COLOR)
            assert img.shape == (240, 320, 3)
        assert stamps == sorted(set(stamps))
        assert ctl.fake.flush_calls == [True, True, True]
        assert ctl.fake.open_requests == 0  # every request released


def test_without_flush_support_the_queued_frame_is_dropped(tmp_path):
    with make_camera(tmp_path) as (camera, ctl):
        fake = ctl.fake
        original = fake.capture_request

        def old_api(wait=None, signal_function=None):  # picamera2 < 0.3.13
            return original(wait, signal_function, flush=None if fake.requests % 2 == 0 else True)

        fake.capture_request = old_api
        frame = camera.capture()
        assert fake.requests == 2 and fake.open_requests == 0
        assert frame.meta["SensorTimestamp"] > 0


def test_a_stale_frame_is_refused(tmp_path):
    with make_camera(tmp_path) as (camera, ctl):
        fake = ctl.fake
        fake.capture_request = lambda **kw: type(fake).capture_request(fake)  # ignores flush: stale
        fake.wait_queued()
        with pytest.raises(CameraError, match="stale frame"):
            camera.capture()
        assert fake.open_requests == 0


@pytest.mark.parametrize(("fmt", "magic"), [("png", b"\x89PNG"), ("dng", b"II*\x00")])
def test_other_formats(tmp_path, fmt, magic):
    with make_camera(tmp_path, format=fmt) as (camera, ctl):
        frame = camera.capture()
        assert frame.ext == fmt and frame.data.startswith(magic)
        assert (ctl.fake.config["raw"] is not None) is (fmt == "dng")


def test_preview_is_a_small_jpeg_from_the_lores_stream(tmp_path):
    with make_camera(tmp_path) as (camera, _):
        img = cv2.imdecode(np.frombuffer(camera.preview(), np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (120, 160, 3)


def test_after_a_failure_the_camera_stays_faulted(tmp_path):
    with make_camera(tmp_path) as (camera, ctl):
        ctl.unplug()
        with pytest.raises(CameraError, match="ribbon cable"):
            camera.capture()
        ctl.fake.unplugged = False
        with pytest.raises(CameraError, match="earlier failure"):
            camera.capture()


def test_no_such_camera(tmp_path):
    from rig.camera.picam import PicamCamera

    cfg = CameraConfig(backend="picam")
    cfg = type(cfg)(backend="picam", picam=type(cfg.picam)(camera_num=1))
    with pytest.raises(CameraError, match="no Pi camera found as camera 1"):
        PicamCamera(cfg, picamera2_module=make_module())


def test_missing_picamera2_says_how_to_install(monkeypatch):
    from rig.camera.picam import PicamCamera

    monkeypatch.setitem(sys.modules, "picamera2", None)
    with pytest.raises(
        BackendUnavailable, match=r"picamera2 backend unavailable: install with `pip install rig\[pi\]`"
    ):
        PicamCamera(CameraConfig(backend="picam"))


def test_close_stops_and_closes_the_camera_once(tmp_path):
    with make_camera(tmp_path) as (camera, ctl):
        camera.close()
        camera.close()
        assert ctl.fake.closed and not ctl.fake.started


@pytest.mark.hardware
def test_real_pi_camera_still():
    from rig.camera.picam import PicamCamera

    camera = PicamCamera(CameraConfig(backend="picam"))
    try:
        assert camera.capture().data[:2] == b"\xff\xd8"
    finally:
        camera.close()
