"""The gphoto camera on libgphoto2's virtual camera: capture target, download verification,
deletion, retries, errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rig.errors import BackendUnavailable, CameraError
from tests.harness.camera_gphoto import make_camera

ROOT = Path(__file__).resolve().parent.parent


def vcam_jpeg() -> bytes:
    return sorted(Path(os.environ["VCAMERADIR"]).glob("*.jpg"))[0].read_bytes()


def test_capture_downloads_the_exact_file_the_camera_took(tmp_path):
    with make_camera(tmp_path) as (camera, ctl):
        frame = camera.capture()
        assert frame.data == vcam_jpeg()
        assert frame.ext == "jpg"
        assert frame.meta["camera_path"].startswith("/store_") and frame.meta["camera_path"].endswith(".JPG")
        assert ctl.raw.get_single_config("capturetarget").get_value() == "Memory card"
        second = camera.capture()
        assert second.meta["camera_path"] != frame.meta["camera_path"]


def test_capture_target_that_silently_switched_to_ram_is_set_back(tmp_path):
    with make_camera(tmp_path) as (camera, ctl):
        widget = ctl.raw.get_single_config("capturetarget")
        widget.set_value("Internal RAM")
        ctl.raw.set_single_config("capturetarget", widget)
        camera.capture()
        assert ctl.raw.get_single_config("capturetarget").get_value() == "Memory card"


@pytest.mark.parametrize(
    ("options", "deletes"), [({}, False), ({"delete_from_card": True}, True), ({"capture_target": "ram"}, True)]
)
def test_frames_are_deleted_from_the_camera_only_when_configured(tmp_path, options, deletes):
    with make_camera(tmp_path, **options) as (camera, ctl):
        frame = camera.capture()
        assert "file_delete" not in ctl.calls  # never before the sequencer saved it
        camera.frame_saved(frame)
        assert ("file_delete" in ctl.calls) is deletes


@pytest.mark.parametrize("target", ["card", "ram"])
def test_raw_plus_jpeg_downloads_every_file_of_the_shot(tmp_path, target):
    """A body set to RAW+JPEG writes two files per shot; in RAM mode a file not fetched is lost."""
    with make_camera(tmp_path, capture_target=target) as (camera, ctl):
        ctl.raw_plus_jpeg = True
        frame = camera.capture()
        assert frame.data == vcam_jpeg() and len(frame.companions) == 1
        other = frame.companions[0]
        assert other.data == vcam_jpeg() and other.meta["camera_path"] != frame.meta["camera_path"]
        assert ctl.calls.count("file_get") == 2 and not ctl.events  # every event drained
        camera.frame_saved(frame)
        assert ctl.calls.count("file_delete") == (2 if target == "ram" else 0)
        ctl.raw_plus_jpeg = False
        assert camera.capture().companions == []  # one file per shot again: nothing extra


def test_no_wait_for_extra_files_when_switched_off(tmp_path):
    with make_camera(tmp_path, extra_files_wait_s=0) as (camera, ctl):
        ctl.raw_plus_jpeg = True
        assert camera.capture().companions == []
        assert "wait_for_event" not in ctl.calls


def test_keep_on_card_only_returns_no_bytes(tmp_path):
    with make_camera(tmp_path, keep_on_card_only=True) as (camera, ctl):
        assert camera.capture() is None
        assert "file_get" not in ctl.calls


def test_one_transient_usb_error_is_retried_with_a_reconnect(tmp_path):
    import gphoto2 as gp

    with make_camera(tmp_path) as (camera, ctl):
        ctl.fail_next("capture", gp.GP_ERROR_IO)
        assert camera.capture().data == vcam_jpeg()
        assert ctl.calls.count("init") == 2
        assert camera.health()["ok"] is True


def test_device_busy_is_retried_without_a_reconnect(tmp_path):
    import gphoto2 as gp

    with make_camera(tmp_path) as (camera, ctl):
        ctl.fail_next("capture", gp.GP_ERROR_CAMERA_BUSY)
        camera.capture()
        assert ctl.calls.count("init") == 1


def test_a_failed_download_is_downloaded_again_not_shot_again(tmp_path):
    import gphoto2 as gp

    with make_camera(tmp_path) as (camera, ctl):
        ctl.fail_next("file_get", gp.GP_ERROR_IO_READ)
        assert camera.capture().data == vcam_jpeg()
        assert ctl.calls.count("capture") == 1 and ctl.calls.count("file_get") == 2


def test_a_second_transient_error_faults(tmp_path):
    import gphoto2 as gp

    with make_camera(tmp_path) as (camera, ctl):
        ctl.fail_next("capture", gp.GP_ERROR_IO, times=2)
        with pytest.raises(CameraError, match="disconnected or not responding"):
            camera.capture()
        assert camera.health()["ok"] is False
        assert camera.capture().data == vcam_jpeg()  # the next capture reconnects first
        assert camera.health()["ok"] is True


def test_a_truncated_download_is_refused(tmp_path):
    with make_camera(tmp_path) as (camera, ctl):
        ctl.truncate_next_download = True
        with pytest.raises(CameraError, match="incomplete"):
            camera.capture()


def test_preview_unsupported_is_a_clear_error(tmp_path):
    with make_camera(tmp_path) as (camera, _), pytest.raises(CameraError, match="no live view"):
        camera.preview()


def test_info_has_model_battery_free_space_and_target(tmp_path):
    with make_camera(tmp_path) as (camera, _):
        info = camera.info()
        assert info["model"] == "Nikon DSC D750"
        assert info["battery"] == "50%" and info["capture_target"] == "Memory card" and info["free_mb"] > 0


def test_no_camera_on_usb(tmp_path):
    import gphoto2 as gp

    from rig.camera.gphoto import GphotoCamera
    from rig.config import CameraConfig

    def nothing():
        raise gp.GPhoto2Error(gp.GP_ERROR_MODEL_NOT_FOUND)

    with pytest.raises(CameraError, match="no camera found on USB"):
        GphotoCamera(CameraConfig(backend="gphoto"), camera_factory=nothing)


def test_missing_library_is_backend_unavailable(monkeypatch):
    from rig.camera.gphoto import GphotoCamera
    from rig.config import CameraConfig

    monkeypatch.setitem(sys.modules, "gphoto2", None)
    with pytest.raises(BackendUnavailable, match="gphoto camera backend unavailable"):
        GphotoCamera(CameraConfig(backend="gphoto"))


def test_the_virtual_cameras_real_store_full_is_reported_as_a_full_card():
    """Filling the virtual camera's store breaks it for the rest of the process: subprocess."""
    code = (
        "from rig.camera.gphoto import GphotoCamera\n"
        "from rig.config import CameraConfig\n"
        "from rig.errors import CameraError\n"
        "cam = GphotoCamera(CameraConfig(backend='gphoto'))\n"
        "for i in range(40):\n"
        "    try:\n"
        "        cam.capture()\n"
        "    except CameraError as exc:\n"
        "        print(i, exc)\n"
        "        break\n"
    )
    env = {**os.environ, "VCAMERADIR": os.environ["VCAMERADIR"]}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    index, _, message = out.stdout.strip().partition(" ")
    assert int(index) == 26, out.stdout
    assert "full" in message


@pytest.mark.hardware
def test_real_camera_captures_a_verified_frame():
    from rig.camera.gphoto import GphotoCamera
    from rig.config import CameraConfig

    camera = GphotoCamera(CameraConfig(backend="gphoto"))
    try:
        frame = camera.capture()
        assert frame is not None and len(frame.data) > 10_000
        print(camera.info())
    finally:
        camera.close()
