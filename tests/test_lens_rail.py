"""The lens rail: gphoto manualfocusdrive on the virtual camera (with the harness's Canon-style
widget) and picamera2 LensPosition on the stand-in module."""

from __future__ import annotations

import threading

import pytest

from rig.config import MachineConfig, Profile, RailConfig
from rig.config.schema import from_table
from rig.errors import ConfigError, LimitError, MotionError
from tests.harness.rail_lens import make_rail


def test_gphoto_steps_are_single_drives(tmp_path):
    with make_rail(tmp_path, "gphoto") as (rail, ctl):
        assert rail.units == "steps" and rail.position() == 0
        assert rail.move_to(5) == 5
        assert ctl.cam_ctl.focus_log == ["Far 1"] * 5
        assert ctl.cam_ctl.viewfinder == 1  # live view on for the focus drive
        rail.move_to(2)
        assert ctl.cam_ctl.drives() == ["Far 1"] * 5 + ["Near 1"] * 3


def test_canon_waits_for_the_lens_to_stop_before_the_next_drive(tmp_path):
    """libgphoto2 returns before the lens stops; a body drops a drive sent too soon, silently."""
    with make_rail(tmp_path, "gphoto") as (rail, ctl):
        ctl.cam_ctl.canon_too_soon = "drop"
        assert rail.move_to(10) == 10
        assert ctl.cam_ctl.dropped == [] and ctl.cam_ctl.focus_log == ["Far 1"] * 10


def test_canon_waits_longer_while_the_body_keeps_reporting(tmp_path):
    """Events still coming after a drive (focus info, property changes): the lens is not done."""
    import gphoto2 as gp

    with make_rail(tmp_path, "gphoto", camera={"focus_drive_wait_s": 0.06}) as (rail, ctl):
        for delay in (0.05, 0.1, 0.15):
            ctl.cam_ctl.queue_event(delay, gp.GP_EVENT_UNKNOWN, "Focus Info 00 01")
        assert rail.move_to(1) == 1
        assert ctl.cam_ctl.events == []  # every report was waited for before move_to returned


def test_canon_busy_is_retried_with_backoff_and_no_reconnect(tmp_path):
    with make_rail(tmp_path, "gphoto", camera={"focus_drive_wait_s": 0}) as (rail, ctl):
        assert rail.move_to(3) == 3
        cam = ctl.cam_ctl
        assert cam.focus_log == ["Far 1"] * 3 and cam.busy_answers >= 1
        assert cam.calls.count("init") == 1 and cam.viewfinder == 1


def test_a_reconnect_turns_live_view_on_again_for_the_next_drive(tmp_path):
    import gphoto2 as gp

    with make_rail(tmp_path, "gphoto") as (rail, ctl):
        rail.move_to(2)
        ctl.cam_ctl.fail_next("capture", gp.GP_ERROR_IO)  # the link drops once: rig reconnects
        ctl.camera.capture()
        assert ctl.cam_ctl.calls.count("init") == 2 and ctl.cam_ctl.viewfinder == 0  # live view ended
        assert rail.move_to(4) == 4
        assert ctl.cam_ctl.focus_log == ["Far 1"] * 4 and ctl.cam_ctl.viewfinder == 1


def test_gphoto_backlash_approaches_from_far_side(tmp_path):
    with make_rail(tmp_path, "gphoto", lens={"backlash_steps": 2}) as (rail, ctl):
        rail.move_to(5)
        rail.move_to(3)
        assert ctl.cam_ctl.drives() == ["Far 1"] * 5 + ["Near 1"] * 4 + ["Far 1"] * 2
        assert rail.position() == 3


def test_the_old_um_names_still_set_the_lens_rails_steps(tmp_path):
    table = {"backend": "lens", "min_um": -7, "max_um": 9, "backlash_um": 2}
    cfg = from_table(RailConfig, table, "old.toml")
    assert cfg.travel == (-7, 9) and cfg.backlash == 2
    new = from_table(RailConfig, {"backend": "lens", "lens": {"min_steps": -7, "max_steps": 9}}, "new.toml")
    assert new.travel == (-7, 9)
    with pytest.raises(ConfigError, match="give only rail.lens.max_steps"):
        from_table(RailConfig, {"backend": "lens", "max_um": 5, "lens": {"max_steps": 9}}, "both.toml")
    with make_rail(tmp_path, "gphoto", backlash_um=2) as (rail, ctl):
        assert rail.limits() == (-50, 250)
        rail.move_to(5)
        rail.move_to(3)
        assert ctl.cam_ctl.drives()[-2:] == ["Far 1"] * 2  # the overshoot, from rail.backlash_um


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
        pytest.raises(MotionError, match="offers Near 1, Near 2, Near 3, None, Far 1"),
        make_rail(tmp_path, "gphoto", lens={"gphoto_step": "Far 9"}),
    ):
        pass


def test_gphoto_camera_without_focus_drive(tmp_path):
    from rig.motion.lens import LensRail
    from tests.harness.camera_gphoto import make_camera

    # the plain virtual camera has no manualfocusdrive
    with make_camera(tmp_path, focus=False) as (camera, _), pytest.raises(MotionError, match="no manual focus"):
        LensRail(RailConfig(backend="lens"), camera=camera)


def test_nikon_default_step_is_twenty_drive_units(tmp_path):
    """One unit ("Far 1") is answered "stepping too small" by Nikon bodies."""
    with make_rail(tmp_path, "nikon") as (rail, ctl):
        assert rail.move_to(3) == 3
        rail.move_to(1)
        assert ctl.cam_ctl.focus_log == [20.0] * 3 + [-20.0] * 2
        assert ctl.cam_ctl.lens_units == 20


def test_nikon_end_of_focus_travel_is_a_limit_error(tmp_path):
    with make_rail(tmp_path, "nikon") as (rail, ctl):
        ctl.cam_ctl.nikon_travel = (-1000, 50)  # two more steps and the lens is at infinity
        with pytest.raises(LimitError, match="end of its focus travel"):
            rail.move_to(5)
        assert rail.position() == 2
        assert rail.move_to(0) == 0  # still usable the other way


def test_nikon_step_too_small_says_so(tmp_path):
    with make_rail(tmp_path, "nikon", lens={"gphoto_step": "2"}) as (rail, _):
        with pytest.raises(LimitError, match="too small"):
            rail.move_to(1)
        assert rail.position() == 0


def test_nikon_drive_after_live_view_ended_turns_it_on_again(tmp_path):
    with make_rail(tmp_path, "nikon") as (rail, ctl):
        rail.move_to(1)
        ctl.cam_ctl.viewfinder = 0  # the body left live view (timeout, button)
        assert rail.move_to(2) == 2 and ctl.cam_ctl.viewfinder == 1


def test_driver_and_camera_must_match(tmp_path):
    from rig.motion.lens import LensRail
    from tests.harness.camera_picam import make_camera

    with make_camera(tmp_path) as (camera, _), pytest.raises(MotionError, match="needs camera.backend = 'gphoto'"):
        LensRail(RailConfig(backend="lens"), camera=camera)
    with pytest.raises(MotionError, match="needs a camera"):
        LensRail(RailConfig(backend="lens"), camera=None)


def test_picam_steps_count_from_closest_focus_toward_infinity(tmp_path):
    """LensPosition 0 is infinity and larger is nearer; rig's positions grow toward far."""
    with make_rail(tmp_path, "picam") as (rail, ctl):
        fake = ctl.cam_ctl.fake
        assert rail.position() == 224  # the lens starts at 1 dioptre = (15 - 1) x 16 steps
        assert rail.move_to(200) == 200
        assert fake.controls == {"AfMode": 0, "LensPosition": pytest.approx(2.5)}
        assert fake.lens == pytest.approx(2.5)  # the lens really got there before move_to returned
        rail.move_to(100)  # nearer
        assert fake.lens == pytest.approx(8.75)


def test_picam_range_is_what_the_lens_reaches(tmp_path):
    """libcamera before mid-2025 advertised 0..32 dioptres; the imx708 stops at 15."""
    with make_rail(tmp_path, "picam", lens={"min_steps": -100}) as (rail, ctl):
        with pytest.raises(LimitError, match="outside the lens range 0..15 dioptres"):
            rail.move_to(-10)  # 15.625 dioptres
        assert len(ctl.cam_ctl.fake.delivered) < 5  # refused before following the lens


def test_picam_end_of_travel_is_seen_when_the_position_stops_changing(tmp_path):
    """A sensor rig has no table for: the advertised range is believed until the lens stalls."""
    with make_rail(tmp_path, "picam", camera={"model": "imx519"}, lens={"max_steps": 600}) as (rail, ctl):
        fake = ctl.cam_ctl.fake
        fake.lens_speed = 1.5
        assert rail.position() == 496  # (32 - 1) x 16: step 0 is the advertised 32 dioptres
        with pytest.raises(LimitError, match="end of its travel"):
            rail.move_to(150)  # 32 - 150/16 = 22.6 dioptres; the lens clamps at 15
        assert fake.lens == pytest.approx(15.0)
        assert len(fake.delivered) < 40  # noticed within frames, not after a thousand
        assert rail.position() == pytest.approx(17 * 16)  # (32 - 15) x 16: where it really is


def test_picam_steps_are_whole_lens_motor_steps(tmp_path):
    """One imx708 motor step is 1/32 dioptre: 0.05 would alternate 1 and 2 motor steps."""
    with make_rail(tmp_path, "picam", lens={"dioptres_per_step": 0.05}) as (rail, ctl):
        assert rail.dioptres_per_step == pytest.approx(1 / 16)
        for target in (203, 190, 177):
            rail.move_to(target)
            assert (ctl.cam_ctl.fake.controls["LensPosition"] * 32) % 1 == pytest.approx(0)


def test_picam_refuses_positions_beyond_the_lens(tmp_path):
    with (
        make_rail(tmp_path, "picam", lens={"max_steps": 400}) as (rail, _),
        pytest.raises(LimitError, match="outside the lens"),
    ):
        rail.move_to(350)  # 15 - 21.875: beyond infinity


def test_a_cancelled_stack_returns_focus_by_the_steps_actually_driven(tmp_path):
    from rig.machine import Machine
    from tests.harness.camera_gphoto import (
        CONFIG,
        GphotoControl,
        forget_earlier_virtual_cameras,
        release_virtual_camera,
    )

    forget_earlier_virtual_cameras()
    ctl = GphotoControl(focus=True, drive_s=0.004)
    table = {
        "rail": {"backend": "lens", "min_um": -100, "max_um": 500, "lens": {"driver": "gphoto"}},  # old names
        "camera": {**CONFIG, "gphoto": {**CONFIG["gphoto"], "focus_drive_wait_s": 0.005}},
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
        release_virtual_camera(ctl)


@pytest.mark.parametrize(
    ("text", "travel", "backlash"),
    [
        (  # config/lens-canon.toml as shipped before the step-named keys
            '[rail]\nbackend = "lens"\nmin_um = -2000.0\nmax_um = 2000.0\nbacklash_um = 5.0\napproach = "forward"\n'
            '[rail.lens]\ndriver = "gphoto"\ngphoto_step = "Far 1"\n[camera]\nbackend = "gphoto"\n'
            '[camera.gphoto]\ncapture_target = "card"\ndelete_from_card = false\n',
            (-2000, 2000),
            5,
        ),
        (  # config/picam3-lens.toml as shipped before
            '[rail]\nbackend = "lens"\nmin_um = 0.0\nmax_um = 300.0\n[rail.lens]\ndriver = "picam"\n'
            'dioptres_per_step = 0.05\nsettle_frames = 3\n[camera]\nbackend = "picam"\n[camera.picam]\n'
            'camera_num = 0\nformat = "jpg"\nquality = 95\npreview_width = 640\npreview_height = 480\n',
            (0, 300),
            0,
        ),
    ],
)
def test_config_files_written_with_the_old_names_still_load(tmp_path, text, travel, backlash):
    from rig.config import load_config

    path = tmp_path / "old.toml"
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.rail.travel == travel and cfg.rail.backlash == backlash
