"""First contact with real cameras: each behaviour the stand-ins copy, checked on the real thing.

Deselected by default; on a Pi with the hardware attached run, for example,
``RIG_HW_BODY=canon python -m pytest tests/test_hw_real_cameras.py -m hardware -k gphoto -s``.
docs/hardware-checklist.md says what to run when and what each result means.

* gphoto tests need one body on USB, in live-view-capable mode, lens on AF, and
  ``RIG_HW_BODY`` = ``canon`` or ``nikon``; the RAW+JPEG test needs the body set to RAW+JPEG.
* picam tests need a Camera Module 3 (imx708) on the ribbon cable.
"""

from __future__ import annotations

import os
import time

import pytest

from rig.config import CameraConfig, RailConfig
from rig.config.schema import from_table
from rig.errors import LimitError

pytestmark = pytest.mark.hardware
BODY = os.environ.get("RIG_HW_BODY", "canon")


def gphoto_camera(**options):
    from rig.camera.gphoto import GphotoCamera

    return GphotoCamera(from_table(CameraConfig, {"backend": "gphoto", "gphoto": options}, "hardware"))


def lens_rail(camera, **lens):
    from rig.motion.lens import LensRail

    table = {"backend": "lens", "lens": {"min_steps": -5000, "max_steps": 5000, **lens}}
    return LensRail(from_table(RailConfig, table, "hardware"), camera=camera)


# -- gphoto -------------------------------------------------------------------------------
def test_gphoto_lens_drives_back_and_forth_without_loss():
    """Canon: every drive waits for the lens; Nikon: the default step of 20 units is accepted.
    Look at the live view: focus must end where it started."""
    camera = gphoto_camera()
    try:
        rail = lens_rail(camera, driver="gphoto")
        rail.move_to(20)
        rail.move_to(0)
        print(camera.info())  # busy_answers: how often the body said "busy" (retried)
        assert camera.reconnects == 0
    finally:
        camera.close()


def test_gphoto_busy_is_retried_on_the_same_connection():
    """With no wait after a drive a Canon answers "busy" or drops drives: busy must be retried."""
    if BODY != "canon":
        pytest.skip("Canon only (libgphoto2 waits for Nikon drives itself)")
    camera = gphoto_camera(focus_drive_wait_s=0)
    try:
        rail = lens_rail(camera, driver="gphoto")
        rail.move_to(10)
        rail.move_to(0)
        print("busy answers:", camera.busy_answers)
        assert camera.reconnects == 0 and camera.health()["ok"]
    finally:
        camera.close()


def test_gphoto_live_view_comes_back_after_a_reconnect():
    camera = gphoto_camera()
    try:
        rail = lens_rail(camera, driver="gphoto")
        rail.move_to(2)
        camera._call(camera._reconnect, "reconnect")  # ends live view on the body
        assert rail.move_to(0) == 0
    finally:
        camera.close()


def test_nikon_end_of_travel_is_a_limit_error():
    if BODY != "nikon":
        pytest.skip("Nikon only")
    camera = gphoto_camera()
    try:
        rail = lens_rail(camera, driver="gphoto")
        with pytest.raises(LimitError):
            rail.move_to(5000)  # toward infinity until the body answers -113
        print("end of travel at step", rail.position())
    finally:
        camera.close()


def test_gphoto_raw_plus_jpeg_files_stay_with_their_shot():
    """Body set to RAW+JPEG. Prints how late the second file comes: the wait must cover it."""
    camera = gphoto_camera()
    try:
        for _ in range(3):
            t0 = time.monotonic()
            frame = camera.capture()
            print(frame.meta["camera_path"], [c.meta["camera_path"] for c in frame.companions], time.monotonic() - t0)
            stem = frame.meta["camera_name"].rsplit(".", 1)[0].lower()
            assert [c.meta["camera_name"].rsplit(".", 1)[0].lower() for c in frame.companions] == [stem]
    finally:
        camera.close()


def test_gphoto_a_late_file_is_not_attached_to_the_next_shot():
    """Body set to RAW+JPEG, a wait too short for the second file: it must become a stray."""
    camera = gphoto_camera(extra_files_wait_s=0.01)
    try:
        first, second = camera.capture(), camera.capture()
        for frame in (first, second):
            stem = frame.meta["camera_name"].rsplit(".", 1)[0].lower()
            assert all(c.meta["camera_name"].rsplit(".", 1)[0].lower() == stem for c in frame.companions)
    finally:
        camera.close()


def test_gphoto_settings_are_read_and_set_on_the_body():
    """Prints what the body offers; sets each widget to another listed value and back."""
    from rig.camera_settings import apply, read

    camera = gphoto_camera()
    try:
        before = {s.name: s for s in read(camera)}
        for s in before.values():
            print(s.name, "=", s.value, s.choices or s.range)
        assert {"iso", "shutter_speed", "aperture"} <= set(before), "the widget names differ on this body"
        changed = {n: next(c for c in s.choices or () if c != s.value) for n, s in before.items() if s.choices}
        changed.pop("format", None)  # a RAW choice changes the files per shot: leave it
        assert {s.name: s.value for s in apply(camera, changed) if s.name in changed} == changed
        apply(camera, {n: before[n].value for n in changed})
    finally:
        camera.close()


# -- picam --------------------------------------------------------------------------------
@pytest.fixture
def picam():
    from rig.camera.picam import PicamCamera

    camera = PicamCamera(CameraConfig(backend="picam"))
    yield camera
    camera.close()


def test_picam_advertised_and_real_lens_range(picam):
    """libcamera before mid-2025 advertises 0..32 dioptres; the imx708's map stops at 15."""
    print("advertised:", picam._cam.camera_controls["LensPosition"], "used:", picam.lens_range())
    picam.set_lens_position(20.0)
    reported = [picam.lens_position() for _ in range(30)]
    assert max(reported) <= 15.0 + 1e-6  # clamped
    assert len(set(reported[-5:])) == 1  # and the reported position stops changing there


def test_picam_lens_moves_at_most_one_and_a_half_dioptres_per_frame(picam):
    picam.set_lens_position(0.0)
    picam.wait_frames(15)
    picam.set_lens_position(15.0)
    reported = [picam.lens_position() for _ in range(20)]
    steps = [b - a for a, b in zip(reported, reported[1:], strict=False)]
    assert max(steps) <= 1.5 + 1e-6 and reported[-1] == pytest.approx(15.0)


def test_picam_rail_direction_and_motor_steps(picam):
    """Step 0 is the closest focus; higher steps are farther. Steps are whole 1/32 dioptres."""
    rail = lens_rail(picam, driver="picam", min_steps=0, max_steps=240)
    rail.move_to(0)
    assert picam.lens_position() == pytest.approx(15.0, abs=0.04)
    rail.move_to(240)
    assert picam.lens_position() == pytest.approx(0.0, abs=0.04)
    assert picam.lens_motor_step() == pytest.approx(1 / 32)


def test_picam_first_metadata_is_the_queued_frame(picam):
    """The stand-in's queue: a frame completed before the call comes first."""
    time.sleep(0.2)
    called = time.monotonic_ns()
    md = picam._cam.capture_metadata(wait=2)
    assert md["SensorTimestamp"] - 1000 * md["ExposureTime"] < called


def test_picam_exposure_locked_after_the_first_frame(picam):
    picam.stack_started()
    first = picam.capture()
    picam.wait_frames(3)
    for _ in range(2):
        frame = picam.capture()
        for key in ("ExposureTime", "AnalogueGain", "ColourGains"):
            assert frame.meta[key] == first.meta[key], key


def test_picam_fixed_iso_and_shutter_reach_the_frame_and_survive_the_lock(picam):
    """AnalogueGain/ExposureTime set through rig's settings are in the frames' metadata, also
    after a stack's start re-arms auto exposure."""
    from rig.camera_settings import apply

    apply(picam, {"iso": "400", "shutter_speed": "1/125"})
    picam.stack_started()
    picam.wait_frames(3)
    for _ in range(2):
        meta = picam.capture().meta
        assert meta["AnalogueGain"] == pytest.approx(4.0, rel=0.05)
        assert meta["ExposureTime"] == pytest.approx(8000, rel=0.05)
    apply(picam, {"iso": "auto", "shutter_speed": "auto"})


def test_picam_numeric_wait_times_out_and_flush_lets_it_close(picam):
    cam = picam._cam
    with pytest.raises(TimeoutError):
        cam.capture_request(flush=time.monotonic_ns() + 10**10, wait=0.2)  # a frame 10 s ahead
    cam.cancel_all_and_flush()
    picam.close()  # stops and closes without hanging


def test_picam_lores_stride_and_preview_size(picam):
    request = picam._cam.capture_request(wait=2)
    try:
        print("lores array:", request.make_array("lores").shape, "configured:", picam.preview_size)
    finally:
        request.release()
    import cv2
    import numpy as np

    img = cv2.imdecode(np.frombuffer(picam.preview(), np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[:2] == (picam.preview_size[1], picam.preview_size[0])


def test_picam_lores_larger_than_main_is_refused_by_picamera2():
    from picamera2 import Picamera2

    cam = Picamera2()
    try:
        config = cam.create_still_configuration(main={"size": (640, 480)}, lores={"size": (800, 600)})
        with pytest.raises(RuntimeError, match="lores stream dimensions may not exceed main stream"):
            cam.configure(config)
    finally:
        cam.close()
