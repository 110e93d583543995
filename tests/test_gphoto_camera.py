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
        assert other.ext == "cr2" and other.data.startswith(b"II*\x00")
        assert other.meta["camera_path"] == frame.meta["camera_path"].replace(".JPG", ".CR2")
        assert ctl.calls.count("file_get") == 2 and not ctl.events  # every event drained
        camera.frame_saved(frame)
        assert ctl.calls.count("file_delete") == (2 if target == "ram" else 0)
        ctl.raw_plus_jpeg = False
        assert camera.capture().companions == []  # one file per shot again: nothing extra


def test_a_raw_file_that_arrives_late_joins_its_own_shot(tmp_path):
    """gphoto2 itself waits up to 3 s for a shot's next file; a RAW 0.4 s late is no exception."""
    from rig.config import GphotoCameraConfig

    default_wait = GphotoCameraConfig().extra_files_wait_s
    with make_camera(tmp_path, extra_files_wait_s=default_wait, timeout_s=10) as (camera, ctl):
        ctl.raw_plus_jpeg, ctl.raw_delay_s = True, 0.4
        frames = [camera.capture() for _ in range(2)]
        for frame in frames:
            (other,) = frame.companions
            assert other.meta["camera_path"] == frame.meta["camera_path"].replace(".JPG", ".CR2")


def test_the_wait_for_more_files_shortens_at_capture_complete(tmp_path):
    """As the gphoto2 tool: after CAPTURE_COMPLETE only 0.1 s more, not the whole quiet wait."""
    import gphoto2 as gp

    from tests.harness.camera_gphoto import SimpleNamespace

    with make_camera(tmp_path, extra_files_wait_s=10, timeout_s=5) as (camera, ctl):
        ctl.raw_plus_jpeg = True
        memo = SimpleNamespace(folder="/store_00010001/DCIM/100GPHOT", name="GPH_MEMO.WAV")
        ctl.queue_event(ctl.raw_delay_s + 1.0, gp.GP_EVENT_FILE_ADDED, memo)  # long after complete
        frame = camera.capture()
        assert len(frame.companions) == 1
        assert [data for _, _, data in ctl.events] == [memo]  # not waited for


@pytest.mark.parametrize("target", ["card", "ram"])
def test_a_file_from_an_earlier_shot_is_never_attached_to_the_next(tmp_path, target):
    """A file announced after its shot's wait (or left over from before) is a stray: drained
    before the next trigger, never a companion of another slice; in RAM mode deleted."""
    with make_camera(tmp_path, capture_target=target, extra_files_wait_s=0.05) as (camera, ctl):
        ctl.raw_plus_jpeg, ctl.raw_delay_s = True, 0.3  # later than this body's wait
        frames = [camera.capture()]
        late = frames[0].meta["camera_path"].replace(".JPG", ".CR2")
        ctl.raw_plus_jpeg = False
        while ctl.events:  # shoot on while announced files keep arriving, then once more
            frames.append(camera.capture())
        frames.append(camera.capture())
        for frame in frames:
            for other in frame.companions:
                assert other.meta["camera_path"] == frame.meta["camera_path"].replace(".JPG", ".CR2")
        left = {f"{folder.rstrip('/')}/{name}" for folder, name in ctl.files}
        assert (late in left) is (target == "card")  # RAM: deleted, or it fills the buffer


def test_no_wait_for_extra_files_when_switched_off(tmp_path):
    with make_camera(tmp_path, extra_files_wait_s=0) as (camera, ctl):
        ctl.raw_plus_jpeg = True
        assert camera.capture().companions == []
        ctl.raw_plus_jpeg = False
        assert camera.capture().companions == []  # the late RAW was drained, not attached


def test_files_per_shot_ends_the_wait_once_they_are_in(tmp_path):
    import gphoto2 as gp

    with make_camera(tmp_path, files_per_shot=2, extra_files_wait_s=10, timeout_s=5) as (camera, ctl):
        ctl.raw_plus_jpeg = True
        assert len(camera.capture().companions) == 1
        assert [kind for _, kind, _ in ctl.events] == [gp.GP_EVENT_CAPTURE_COMPLETE]  # not awaited


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


def test_device_busy_is_retried_with_backoff_without_a_reconnect(tmp_path):
    """A body answers "busy" while it is still writing or moving its lens: wait, do not reconnect."""
    import gphoto2 as gp

    with make_camera(tmp_path, timeout_s=5) as (camera, ctl):
        ctl.fail_next("capture", gp.GP_ERROR_CAMERA_BUSY, times=4)
        assert camera.capture().data == vcam_jpeg()
        assert ctl.calls.count("capture") == 5 and ctl.calls.count("init") == 1
        assert camera.health()["ok"] is True


def test_a_camera_that_stays_busy_is_a_clear_error_and_no_reconnect(tmp_path):
    import gphoto2 as gp

    with make_camera(tmp_path, busy_retries=2) as (camera, ctl):
        ctl.fail_next("capture", gp.GP_ERROR_CAMERA_BUSY, times=3)
        with pytest.raises(CameraError, match="busy"):
            camera.capture()
        assert camera.capture().data == vcam_jpeg()
        assert ctl.calls.count("init") == 1  # the link was fine: live view (if on) survives


def test_a_failed_download_is_downloaded_again_not_shot_again(tmp_path):
    import gphoto2 as gp

    with make_camera(tmp_path, timeout_s=10) as (camera, ctl):  # a reconnect can take long under load
        ctl.fail_next("file_get", gp.GP_ERROR_IO_READ)
        assert camera.capture().data == vcam_jpeg()
        assert ctl.calls.count("capture") == 1 and ctl.calls.count("file_get") == 2


def test_a_second_transient_error_faults(tmp_path):
    import gphoto2 as gp

    with make_camera(tmp_path, timeout_s=10) as (camera, ctl):
        ctl.fail_next("capture", gp.GP_ERROR_IO, times=2)
        with pytest.raises(CameraError, match="disconnected or not responding"):
            camera.capture()
        assert camera.health()["ok"] is False
        assert camera.capture().data == vcam_jpeg()  # the next capture reconnects first
        assert camera.health()["ok"] is True


def test_close_after_a_usb_fault_still_ends_the_camera_session(tmp_path):
    """Else the body stays claimed on USB until Python happens to free the camera object."""
    import gphoto2 as gp

    with make_camera(tmp_path, timeout_s=10) as (camera, ctl):
        ctl.fail_next("capture", gp.GP_ERROR_IO, times=2)
        with pytest.raises(CameraError, match="disconnected or not responding"):
            camera.capture()
        assert camera.health()["ok"] is False
        camera.close()
        assert ctl.calls[-1] == "exit"


def test_a_failed_capture_leaves_nothing_that_keeps_the_camera_alive(tmp_path):
    """The camera (its USB session; the virtual camera's process-wide state) goes with the last
    reference to it: a failed call must leave no reference cycle only the garbage collector breaks."""
    import gc

    import gphoto2 as gp

    from tests.harness.camera_gphoto import VIRTUAL_CAMERAS

    gc.disable()
    try:
        with make_camera(tmp_path) as (camera, ctl):
            ctl.fail_next("capture", gp.GP_ERROR_NOT_SUPPORTED)  # not retried: straight to the caller
            with pytest.raises(CameraError, match="capture failed"):
                camera.capture()
        del camera, ctl
        assert len(VIRTUAL_CAMERAS) == 0
    finally:
        gc.enable()


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
