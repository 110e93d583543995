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
    """The lores array is stride-wide (160 px padded to 192): the padding is cut off."""
    with make_camera(tmp_path) as (camera, ctl):
        assert ctl.fake.camera_config["lores"]["stride"] > 160
        img = cv2.imdecode(np.frombuffer(camera.preview(), np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (120, 160, 3)
        assert int(img.max()) - int(img.min()) < 12  # a flat grey frame: no padding garbage at the edge


def test_a_preview_larger_than_the_still_is_refused_at_load():
    from rig.config.schema import from_table
    from rig.errors import ConfigError

    table = {"backend": "picam", "picam": {"width": 320, "height": 240, "preview_width": 640}}
    with pytest.raises(ConfigError, match="preview_width .* must not exceed camera.picam.width"):
        from_table(CameraConfig, table, "rig.toml")


def test_a_preview_larger_than_the_sensor_is_a_clear_error(tmp_path):
    from rig.camera.picam import PicamCamera
    from rig.config.schema import from_table

    module = make_module()
    module.Picamera2.sensor_size = (640, 480)
    table = {"backend": "picam", "picam": {"preview_width": 800, "preview_height": 600}}
    with pytest.raises(CameraError, match="preview 800x600 is larger than the still size 640x480"):
        PicamCamera(from_table(CameraConfig, table, "t"), picamera2_module=module)


def test_settling_counts_only_frames_exposed_after_the_call(tmp_path):
    """picamera2 first hands out the frame already queued, exposed before the call."""
    with make_camera(tmp_path) as (camera, ctl):
        fake = ctl.fake
        fake.wait_queued()
        before = len(fake.delivered)
        called = time.monotonic_ns()
        camera.wait_frames(3)
        fresh = [f for f in fake.delivered[before:] if f["SensorTimestamp"] - 1000 * f["ExposureTime"] >= called]
        assert len(fresh) == 3


def test_exposure_and_colour_are_locked_from_the_first_frame_of_a_stack(tmp_path):
    with make_camera(tmp_path) as (camera, ctl):
        fake = ctl.fake
        camera.stack_started()
        first = camera.capture()
        fake.scene_light, fake.scene_tint = 2.0, 1.3  # a cloud passes, the light turns warmer
        camera.wait_frames(2)  # the move to the next slice: the lock reaches the sensor
        second = camera.capture()
        for key in ("ExposureTime", "AnalogueGain", "ColourGains"):
            assert second.meta[key] == first.meta[key], key
        camera.stack_started()  # the next stack meters afresh
        camera.wait_frames(2)
        third = camera.capture()
        assert third.meta["ExposureTime"] != first.meta["ExposureTime"]
        assert third.meta["ColourGains"] != first.meta["ColourGains"]


def test_exposure_keeps_following_the_light_when_not_locked(tmp_path):
    with make_camera(tmp_path, lock_exposure=False) as (camera, ctl):
        camera.stack_started()
        first = camera.capture()
        ctl.fake.scene_light = 2.0
        camera.wait_frames(2)
        assert camera.capture().meta["ExposureTime"] != first.meta["ExposureTime"]
        assert "AeEnable" not in ctl.fake.controls


def test_a_request_that_never_completes_times_out_and_the_camera_still_closes(tmp_path):
    """On a dead ribbon cable only a numeric wait returns; the stuck job must be flushed, or
    picamera2 cannot stop (or close) the camera."""
    with make_camera(tmp_path) as (camera, ctl):
        fake = ctl.fake
        fake.hang()
        with pytest.raises(CameraError, match="timed out"):
            camera.capture()
        assert all(isinstance(w, (int, float)) and w is not True for w in fake.waits)
        assert fake.stuck_jobs == 0  # cancel_all_and_flush
        camera.close()
        assert fake.closed


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
