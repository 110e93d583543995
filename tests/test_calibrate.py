"""`rig calibrate` on the simulated rig: it recovers the configured backlash and vibration from
the frames alone, stores them per machine config, and refuses a view with no texture."""

from __future__ import annotations

import json
import os
from pathlib import Path

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
