"""`rig calibrate` on the simulated rig: it recovers the configured backlash and vibration from
the frames alone, stores them per machine config, and refuses a view with no texture."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from rig.calibration_store import calibration_path
from rig.config import Profile, load_config
from rig.plan import Plan
from rig.run_estimate import estimate
from tests.cli_helpers import rig

CONFIG = """
[rail.sim]
start_um = 300
backlash_um = {backlash}
vibration_s = {vibration}
[camera.sim]
width = 160
height = 120
subject = "{subject}"
"""


def write(tmp_path: Path, backlash: float = 40.0, vibration: float = 0.3, subject: str = "coin") -> Path:
    path = tmp_path / f"rig-{subject}.toml"
    path.write_text(CONFIG.format(backlash=backlash, vibration=vibration, subject=subject))
    return path


def test_calibrate_recovers_backlash_and_vibration(tmp_path):
    backlash, vibration = 60.0, 0.25
    config = write(tmp_path, backlash, vibration)
    result = rig("calibrate", "--config", str(config), "--json", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["backlash_um"] == pytest.approx(backlash, rel=0.1)
    assert data["settle_s"] == pytest.approx(vibration, rel=0.2)
    assert data["um_per_step"] == pytest.approx(1000 / 3200)
    stored = json.loads(calibration_path(load_config(config)).read_text())
    assert stored["backlash_um"] == data["backlash_um"] and Path(data["saved"]) == calibration_path(load_config(config))


def test_the_run_estimate_uses_the_calibrated_settle_for_auto(tmp_path):
    cfg = load_config(write(tmp_path, vibration=2.0))
    profile = Profile(slices=10, step_um=50, settle_s="auto")
    plan = Plan.build(profile, cfg.rail.travel, 300.0, "um")
    before = estimate(plan, profile, cfg, 300.0, None).duration_s
    path = calibration_path(cfg)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"settle_s": 2.0, "backlash_um": 0.0}))
    after = estimate(plan, profile, cfg, 300.0, None).duration_s
    assert after - before == pytest.approx(10 * (2.0 - 0.5), abs=0.01)


def test_calibrate_refuses_a_view_without_texture_before_moving(tmp_path):
    config = write(tmp_path, subject="blank")
    result = rig("calibrate", "--config", str(config), "--json", env=dict(os.environ))
    assert result.returncode == 2
    assert result.stderr.strip().startswith("rig: error: no texture in view")
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert not calibration_path(load_config(config)).exists()


def test_calibrate_at_the_simulated_rails_end_says_how_to_start_it_elsewhere(tmp_path):
    config = tmp_path / "rig.toml"
    config.write_text("[camera.sim]\nwidth = 160\nheight = 120\n")  # the rail at its default start, 0
    result = rig("calibrate", "--config", str(config), env=dict(os.environ))
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "beyond the soft limits 0..100000 um" in line and "[rail.sim] start_um = 500" in line
    assert not calibration_path(load_config(config)).exists()


STEP_TARGET = """
[rail.sim]
start_um = 2000
true_um_per_step = {true}
backlash_um = 40
[camera.sim]
width = 160
height = 120
subject = "step"
depth_um = 600
near_um = 2000
"""


def test_calibrate_measures_the_real_distance_per_step_on_a_two_plane_target(tmp_path):
    """The sim rail moves 0.375 um per step where rail.steps_per_mm (3200) says 0.3125: the plate
    600 um above the card comes into focus 600 / 1.2 um of reported travel apart."""
    config = tmp_path / "step.toml"
    config.write_text(STEP_TARGET.format(true=0.375))
    result = rig("calibrate", "--config", str(config), "--target-depth-um", "600", "--json", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["um_per_step"] == pytest.approx(0.375, rel=0.1) and data["um_per_step_source"] == "measured"
    assert data["backlash_um"] == pytest.approx(40 / 1.2, rel=0.1)  # in the rail's (reported) um


def test_calibrate_refuses_a_target_depth_on_a_target_without_two_planes(tmp_path):
    config = tmp_path / "coin.toml"
    config.write_text(STEP_TARGET.format(true=0.375).replace('"step"', '"coin"'))  # a relief, not two planes
    result = rig("calibrate", "--config", str(config), "--target-depth-um", "600", env=dict(os.environ))
    assert result.returncode == 2 and "did not show two planes" in result.stderr
    assert not calibration_path(load_config(config)).exists()


def skewed_machine(tmp_path: Path):
    from rig.config import CameraConfig, MachineConfig, OutputConfig, RailConfig, SimCameraConfig, SimRailConfig
    from rig.machine import Machine

    cfg = MachineConfig(  # the rail really moves 1.2x what it reports, and loses 40 um on each reversal
        rail=RailConfig(sim=SimRailConfig(start_um=2000, true_um_per_step=0.375, backlash_um=40)),
        camera=CameraConfig(sim=SimCameraConfig(width=64, height=48)),
        output=OutputConfig(root=str(tmp_path / "out"), min_free_mb=0),
    )
    return Machine.build(cfg, profiles_dir=tmp_path / "profiles")


def store_calibration(machine, um_per_step: float, backlash_um: float) -> None:
    from rig.calibration import Calibration, save_calibration

    result = Calibration("um", backlash_um, 0.0, um_per_step, machine.config.source, "now", "measured")
    save_calibration(calibration_path(machine.config), result)


@pytest.mark.parametrize("calibrated", [True, False])
def test_a_stack_on_a_calibrated_rail_has_the_real_step_and_no_backlash_at_the_first_slice(tmp_path, calibrated):
    """Where the camera really was at each slice (the sim carriage): 50 um apart, the first gap too,
    once the calibration is stored; without it the step is 1.2x and the first gap loses the lash."""
    with skewed_machine(tmp_path) as m:
        if calibrated:
            store_calibration(m, um_per_step=0.375, backlash_um=40 / 1.2)  # what rig calibrate measures here
        m.rail.move_to(2100)
        m.rail.move_to(2000)  # the last move was backward: the lash is on the wrong side
        seen: list[float] = []
        capture = m.camera.capture

        def watched():
            seen.append(m.rail.optical_position())
            return capture()

        m.camera.capture = watched
        m.sequencer.start(Profile(slices=5, step_um=50, settle_s=0, check_frames=False), "cal")
        assert m.sequencer.wait(30).outcome.value == "completed"
    gaps = np.diff(seen)
    if calibrated:
        assert gaps == pytest.approx([50.0] * 4, abs=1.0)
    else:
        assert gaps[1:] == pytest.approx([60.0] * 3, abs=1.0) and gaps[0] == pytest.approx(20.0, abs=1.0)


def test_the_plan_turns_a_step_in_um_into_lens_drive_steps_with_the_measured_depth_per_step(tmp_path):
    from rig.calibration_store import rail_calibration
    from rig.config import MachineConfig, RailConfig

    cfg = MachineConfig(rail=RailConfig(backend="lens", min_um=-500, max_um=500))
    assert rail_calibration(cfg) is None
    path = calibration_path(cfg)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"units": "steps", "um_per_step": 8.0, "um_per_step_source": "measured"}))
    plan = Plan.build(Profile(slices=4, step_um=40), cfg.rail.travel, 0.0, "steps", rail_calibration(cfg))
    assert plan.targets == (0.0, 5.0, 10.0, 15.0)  # 40 um of focus depth = 5 drive steps of 8 um
    ranged = Plan.build(
        Profile(start_um=0, end_um=20, step_um=40), cfg.rail.travel, 0.0, "steps", rail_calibration(cfg)
    )
    assert ranged.targets == (0.0, 5.0, 10.0, 15.0, 20.0)  # start and end are the drive's own positions


LENS_TARGET = """
[rail]
backend = "lens"
[rail.lens]
driver = "picam"
dioptres_per_step = 0.0625
min_steps = 0
max_steps = 240
[camera.sim]
width = 160
height = 120
subject = "step"
depth_um = 600
near_um = 2000
lens_um_per_dioptre = {um_per_dioptre}
"""


def test_rig_calibrate_on_the_simulated_lens_drive_measures_the_depth_of_one_drive_step(tmp_path):
    """The lens rail (picam driver) on the simulated camera's own focus motor, end to end: one drive
    step is 1/16 dioptre, and a dioptre moves focus 128 um, so a step is 8 um of depth; the rig
    knows only steps and finds the 600 um between the target's planes 75 steps apart."""
    config = tmp_path / "lens.toml"
    config.write_text(LENS_TARGET.format(um_per_dioptre=128))
    args = ("calibrate", "--config", str(config), "--target-depth-um", "600", "--sweep", "75", "--json")
    result = rig(*args, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["units"] == "steps" and data["um_per_step_source"] == "measured"
    assert data["um_per_step"] == pytest.approx(8.0, rel=0.1)
    assert data["backlash_steps"] == pytest.approx(0.0, abs=1.0)  # the lens goes where it is sent
    stored = json.loads(calibration_path(load_config(config)).read_text())
    assert stored["um_per_step"] == data["um_per_step"]  # the planner's µm -> drive steps use it


def test_the_lens_rail_refuses_a_simulated_camera_without_a_focus_motor(tmp_path):
    from rig.errors import MotionError
    from rig.machine import Machine

    config = tmp_path / "lens.toml"
    config.write_text(LENS_TARGET.format(um_per_dioptre=0))
    with pytest.raises(MotionError, match=r"no focus motor \(camera\.sim\.lens_um_per_dioptre = 0\)"):
        Machine.build(load_config(config), profiles_dir=tmp_path / "profiles")


def test_a_gap_fill_slice_is_approached_like_the_others_when_the_backlash_is_calibrated(tmp_path):
    """The gap fill goes back against the stack's direction: with the calibrated backlash taken up,
    the carriage stands as far behind the reported position there as at every other slice."""
    from rig.config import CameraConfig, MachineConfig, OutputConfig, RailConfig, SimCameraConfig, SimRailConfig
    from rig.machine import Machine

    cfg = MachineConfig(  # move 1: the take-up before slice 1; move 8 (slice 7) is lost
        rail=RailConfig(sim=SimRailConfig(start_um=200, backlash_um=40, skip_moves=(8,))),
        camera=CameraConfig(sim=SimCameraConfig(width=160, height=120)),
        output=OutputConfig(root=str(tmp_path / "out"), min_free_mb=0),
    )
    with Machine.build(cfg, profiles_dir=tmp_path / "profiles") as m:
        store_calibration(m, um_per_step=0.3125, backlash_um=40)
        lag: list[float] = []
        capture = m.camera.capture

        def watched():
            lag.append(m.rail.position() - m.rail.optical_position())
            return capture()

        m.camera.capture = watched
        m.sequencer.start(Profile(slices=12, step_um=80, settle_s=0), "gap")
        status = m.sequencer.wait(60)
        frames = json.loads((Path(status.folder) / "stack.json").read_text())["frames"]
    assert [f["position_um"] for f in frames if f.get("gap_fill")] == [680.0]
    assert len(lag) == 13 and lag[-1] == pytest.approx(40.0)  # the gap fill's shot, after the reversal
    assert lag[:6] == pytest.approx([40.0] * 6) and lag[7:] == pytest.approx([40.0] * 6)  # slice 7: its move was lost
