"""The lens rail: gphoto manualfocusdrive on the virtual camera (with the harness's Canon-style
widget) and picamera2 LensPosition on the stand-in module."""

from __future__ import annotations

import threading

import pytest

from rig.config import MachineConfig, Profile, RailConfig
from rig.config.schema import from_table
from rig.errors import LimitError, MotionError
from tests.harness.rail_lens import make_rail


def test_gphoto_steps_are_single_drives_with_none_between(tmp_path):
    with make_rail(tmp_path, "gphoto") as (rail, ctl):
        assert rail.units == "steps" and rail.position() == 0
        assert rail.move_to(5) == 5
        assert ctl.cam_ctl.focus_log == ["Far 1", "None"] * 5
        assert ctl.cam_ctl.viewfinder == 1  # live view on for the focus drive
        rail.move_to(2)
        assert ctl.cam_ctl.drives() == ["Far 1"] * 5 + ["Near 1"] * 3


def test_gphoto_backlash_approaches_from_far_side(tmp_path):
    with make_rail(tmp_path, "gphoto", backlash_um=2) as (rail, ctl):
        rail.move_to(5)
        rail.move_to(3)
        assert ctl.cam_ctl.drives() == ["Far 1"] * 5 + ["Near 1"] * 4 + ["Far 1"] * 2
        assert rail.position() == 3


def test_gphoto_coarser_drive_choice(tmp_path):
    with make_rail(tmp_path, "gphoto", lens={"gphoto_step": "Far 3"}) as (rail, ctl):
        rail.move_to(-2)
        assert ctl.cam_ctl.drives() == ["Near 3", "Near 3"]


def test_gphoto_cancel_reports_exactly_the_steps_driven(tmp_path):
    with make_rail(tmp_path, "gphoto") as (rail, ctl):
        abort = threading.Event()
        threading.Timer(0.1, abort.set).start()
        reached = rail.move_to(200, abort=abort)
        assert 0 < reached < 200
        assert reached == len(ctl.cam_ctl.drives())


def test_gphoto_unknown_drive_choice_lists_the_choices(tmp_path):
    with (
        pytest.raises(MotionError, match="offers Near 3, Near 2"),
        make_rail(tmp_path, "gphoto", lens={"gphoto_step": "Far 9"}),
    ):
        pass


def test_gphoto_camera_without_focus_drive(tmp_path):
    from rig.motion.lens import LensRail
    from tests.harness.camera_gphoto import make_camera

    # the plain virtual camera has no manualfocusdrive
    with make_camera(tmp_path, focus=False) as (camera, _), pytest.raises(MotionError, match="no manual focus"):
        LensRail(RailConfig(backend="lens"), camera=camera)


def test_driver_and_camera_must_match(tmp_path):
    from rig.motion.lens import LensRail
    from tests.harness.camera_picam import make_camera

    with make_camera(tmp_path) as (camera, _), pytest.raises(MotionError, match="needs camera.backend = 'gphoto'"):
        LensRail(RailConfig(backend="lens"), camera=camera)
    with pytest.raises(MotionError, match="needs a camera"):
        LensRail(RailConfig(backend="lens"), camera=None)


def test_picam_sets_lens_position_in_manual_mode_and_follows_the_lens(tmp_path):
    with make_rail(tmp_path, "picam") as (rail, ctl):
        assert rail.position() == 20  # the fake lens starts at 1.0 dioptre = 20 x 0.05
        assert rail.move_to(100) == 100
        fake = ctl.cam_ctl.fake
        assert fake.controls == {"AfMode": 0, "LensPosition": pytest.approx(5.0)}
        assert fake.lens == pytest.approx(5.0)  # the lens really got there before move_to returned


def test_picam_refuses_positions_beyond_the_lens(tmp_path):
    with make_rail(tmp_path, "picam", max_um=400) as (rail, _), pytest.raises(LimitError, match="outside the lens"):
        rail.move_to(350)  # 17.5 dioptres; the lens stops at 15


def test_a_cancelled_stack_returns_focus_by_the_steps_actually_driven(tmp_path):
    from rig.machine import Machine
    from tests.harness.camera_gphoto import CONFIG, GphotoControl

    ctl = GphotoControl(focus=True, drive_s=0.004)
    table = {
        "rail": {"backend": "lens", "min_um": -100, "max_um": 500, "lens": {"driver": "gphoto"}},
        "camera": CONFIG,
        "output": {"root": str(tmp_path), "min_free_mb": 0},
    }
    machine = Machine.build(from_table(MachineConfig, table, "t"), camera_kwargs={"camera_factory": ctl.factory})
    try:
        machine.sequencer.start(Profile(slices=20, step_um=10, settle_s=0.02, return_to_start=True))
        while machine.sequencer.status().frames_saved < 2:
            threading.Event().wait(0.01)
        machine.sequencer.cancel()
        status = machine.sequencer.wait(10)
        assert status.outcome == "cancelled" and status.state == "idle", status.error
        drives = ctl.drives()
        assert drives.count("Far 1") == drives.count("Near 1") > 10  # focus is back where it started
        assert machine.rail.position() == 0
    finally:
        machine.close()
        ctl.raw.exit()
