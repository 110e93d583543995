"""``rig plan``: depth of field and step from the optics, and its bad input."""

from __future__ import annotations

import json
import math

import pytest

from rig.cli import main
from rig.errors import UsageError
from rig.optics import Optics, dof_dioptres, plan_stack
from tests.cli_helpers import rig


def plan_json(capsys, *args: str) -> dict:
    assert main(["plan", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_macro_lens_geometric_term_is_the_textbook_formula():
    # 2 N c (1 + M) / M^2 with c = two pixels, plus the diffraction term lambda / NA^2
    optics = Optics(magnification=2.0, f_number=4.0, pixel_um=3.0)
    geometric = 2 * 4.0 * 6.0 * (1 + 2.0) / 2.0**2
    na = 2.0 / (2 * 4.0 * 3.0)
    assert optics.numerical_aperture == pytest.approx(na)
    assert optics.effective_f_number == pytest.approx(12.0)
    assert optics.dof_um == pytest.approx(geometric + 0.55 / na**2)


def test_objective_depth_of_field_is_berek_formula():
    # a 10x NA 0.25 objective on 4 um pixels: 0.55/0.0625 + 8/(10*0.25) = 8.8 + 3.2 um
    assert Optics(magnification=10, na=0.25, pixel_um=4).dof_um == pytest.approx(12.0)


def test_stopping_down_or_more_magnification_changes_dof_the_way_a_photographer_expects():
    base = Optics(magnification=1, f_number=8).dof_um
    assert Optics(magnification=1, f_number=16).dof_um > base
    assert Optics(magnification=5, f_number=8).dof_um < base
    assert Optics(magnification=1, f_number=8, pixel_um=8).dof_um > base


def test_cli_json_has_dof_step_and_slices_for_a_range(capsys):
    out = plan_json(capsys, "--magnification", "5", "--na", "0.14", "--start-um", "0", "--end-um", "1500")
    assert out["dof_um"] == pytest.approx(0.55 / 0.14**2 + 8 / (5 * 0.14), abs=0.01)
    assert out["step_um"] == pytest.approx(out["dof_um"] * 0.75, abs=0.01)
    # every depth from start to end lies within half a step of a slice
    assert (out["slices"] - 1) * out["step_um"] >= 1500
    assert (out["slices"] - 2) * out["step_um"] < 1500


def test_cli_without_a_range_prints_no_slices_and_overlap_sets_the_step(capsys):
    out = plan_json(capsys, "--magnification", "1", "--f-number", "8", "--overlap", "0")
    assert "slices" not in out
    assert out["step_um"] == pytest.approx(out["dof_um"], abs=0.002)


def test_cli_text_output_as_a_user_runs_it():
    done = rig("plan", "--magnification", "2", "--f-number", "5.6", "--start-um", "1000", "--end-um", "3000")
    assert done.returncode == 0, done.stderr
    assert "depth of field:" in done.stdout and "step:" in done.stdout and "slices" in done.stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--magnification", "0", "--f-number", "8"], "--magnification"),
        (["--magnification", "-1", "--f-number", "8"], "--magnification"),
        (["--magnification", "51", "--f-number", "8"], "--magnification"),
        (["--magnification", "nan", "--f-number", "8"], "--magnification"),
        (["--magnification", "2", "--f-number", "0.5"], "--f-number"),
        (["--magnification", "2", "--f-number", "200"], "--f-number"),
        (["--magnification", "2", "--na", "0"], "--na"),
        (["--magnification", "2", "--na", "1.6"], "--na"),
        (["--magnification", "2", "--na", "inf"], "--na"),
        (["--magnification", "2", "--f-number", "8", "--pixel-um", "0.4"], "--pixel-um"),
        (["--magnification", "2", "--f-number", "8", "--pixel-um", "21"], "--pixel-um"),
        (["--magnification", "2", "--f-number", "8", "--overlap", "0.95"], "--overlap"),
        (["--magnification", "2", "--f-number", "8", "--start-um", "-5", "--end-um", "100"], "--start-um"),
        (["--magnification", "2", "--f-number", "8", "--start-um", "0", "--end-um", "1e9"], "--end-um"),
    ],
)
def test_bad_input_is_one_line_naming_the_value_and_its_range(capsys, args, named):
    assert main(["plan", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rig: error: ") and len(err.splitlines()) == 1
    assert named in err and ("must be" in err or "outside" in err)


def test_a_range_needs_both_ends_and_some_travel():
    optics = Optics(magnification=1, f_number=8)
    with pytest.raises(UsageError, match="both"):
        plan_stack(optics, start_um=0.0)
    with pytest.raises(UsageError, match="same position"):
        plan_stack(optics, start_um=5.0, end_um=5.0)


def test_either_f_number_or_na_is_required():
    with pytest.raises(UsageError, match="either"):
        Optics(magnification=1)
    with pytest.raises(UsageError, match="either"):
        Optics(magnification=1, f_number=8, na=0.1)
    with pytest.raises(SystemExit) as stop:  # argparse: one of the two is required
        main(["plan", "--magnification", "1"])
    assert stop.value.code == 2


def test_pi_camera_lens_plans_in_dioptres():
    # Camera Module 3: f = 4.74 mm, f/1.8, 1.4 um pixels -> about 0.45 D, the same at every distance
    depth = dof_dioptres(1.8, 4.74, 1.4)
    assert depth == pytest.approx(2 * 2.8e-6 * 1.8 / 4.74e-3**2)
    assert 0.3 < depth < 0.6
    assert math.isfinite(depth)
