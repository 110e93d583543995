"""One contract, every camera backend, each on its emulator.

A harness module ``tests/harness/camera_<backend>.py`` exposes ``make_camera(tmp_path)``, a
context manager yielding ``(camera, ctl)``. ``ctl`` has ``unplug()``, ``card_full()`` and
``timeout()`` (each makes the *next* capture fail that way, or calls ``pytest.skip`` when the
backend cannot notice), and the flags ``returns_frames`` (False: frames stay on the camera's
card) and ``has_preview``.
"""

from __future__ import annotations

import threading
import time

import pytest

from rig.camera.base import Camera, Frame, looks_complete
from rig.errors import CameraError
from tests.harness.discover import harness_params, make

BACKENDS = ("sim", "gphoto", "shutter", "picam")


@pytest.fixture(params=harness_params("camera", BACKENDS))
def rig_camera(request, tmp_path):
    with make("camera", request.param, tmp_path) as (camera, ctl):
        yield camera, ctl


def test_speaks_the_protocol(rig_camera):
    camera, _ = rig_camera
    assert isinstance(camera, Camera)
    health = camera.health()
    assert health["ok"] is True and isinstance(health["backend"], str)
    info = camera.info()
    assert isinstance(info, dict) and info.get("model")


def test_captures_verified_frames_or_says_they_stay_on_the_card(rig_camera):
    camera, ctl = rig_camera
    frames = [camera.capture() for _ in range(3)]
    if not ctl.returns_frames:
        assert frames == [None, None, None]
        return
    for frame in frames:
        assert isinstance(frame, Frame)
        assert frame.ext == frame.ext.lower() and frame.ext
        assert len(frame.data) > 100
        assert looks_complete(frame.data, frame.ext)
        camera.frame_saved(frame)
    assert camera.health()["ok"] is True


def test_preview_is_a_jpeg_or_a_clear_camera_error(rig_camera):
    camera, ctl = rig_camera
    if ctl.has_preview:
        data = camera.preview()
        assert looks_complete(data, "jpg")
    else:
        with pytest.raises(CameraError) as info:
            camera.preview()
        assert str(info.value)


def test_release_is_idempotent_and_any_thread_may_call_it(rig_camera):
    camera, _ = rig_camera
    camera.release()
    thread = threading.Thread(target=camera.release)
    thread.start()
    thread.join(2)
    camera.release()
    assert camera.health()["ok"] is True
    camera.capture()  # still usable after a release


def _assert_clear_failure(camera, words):
    t0 = time.monotonic()
    with pytest.raises(CameraError) as info:
        camera.capture()
    assert time.monotonic() - t0 < 10
    message = str(info.value).lower()
    assert any(w in message for w in words), message
    return message


def test_unplugged_camera_gives_a_clear_error(rig_camera):
    camera, ctl = rig_camera
    camera.capture()
    ctl.unplug()
    _assert_clear_failure(camera, ("unplug", "disconnect", "not found", "no camera", "lost"))
    assert camera.health()["ok"] is False


def test_full_card_gives_a_clear_error(rig_camera):
    camera, ctl = rig_camera
    ctl.card_full()
    _assert_clear_failure(camera, ("full",))


def test_capture_timeout_gives_a_clear_error(rig_camera):
    camera, ctl = rig_camera
    ctl.timeout()
    _assert_clear_failure(camera, ("timed out", "timeout"))


def test_close_is_idempotent_and_final(rig_camera):
    camera, _ = rig_camera
    camera.close()
    camera.close()
    with pytest.raises(CameraError):
        camera.capture()
    camera.release()  # harmless after close
