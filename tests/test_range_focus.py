"""Finding the subject's range, planning from the optics, the magnified live view (issue 13):
`rig range`, POST/GET /api/range, the optics answer of POST /api/plan, /live/view.jpg."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from rig.camera import scene as scene_module
from rig.camera.scene import Scene
from rig.config import MachineConfig, Profile, load_config
from rig.config.schema import from_table
from rig.errors import ConfigError, UsageError
from rig.machine import Machine
from rig.range_sweep import MAX_FRAMES
from tests.cli_helpers import rig
from tests.test_web import Api, sim_config, wait_for

SIM_DOF_UM = 2.0 / MachineConfig().camera.sim.blur_px_per_mm * 1000.0  # blur within 1 px either side (bench/)
TOLERANCE_UM = max(SIM_DOF_UM, 100.0)


_make_scene = scene_module.make_scene


@functools.lru_cache(maxsize=3)
def make_scene(subject: str, width: int, height: int, depth_um: float, seed: int) -> Scene:
    """``rig.camera.scene.make_scene``, each full-size scene made once per test worker (it is
    deterministic per seed), its arrays read-only so that nothing can change it for the next test."""
    made = _make_scene(subject, width, height, depth_um, seed)
    for array in vars(made).values():
        if array is not None:
            array.setflags(write=False)
    return made


@pytest.fixture(autouse=True)
def _each_scene_made_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scene_module, "make_scene", make_scene)  # what the simulated camera calls


def ranged_config(root: Path, subject: str = "coin", near: float = 0.0, depth: float = 1500.0) -> MachineConfig:
    """The simulated rig with full-size frames (400x300 previews) and a subject where asked."""
    base = sim_config(root)
    cam = dataclasses.replace(base.camera.sim, width=1600, height=1200, subject=subject, near_um=near, depth_um=depth)
    rail = dataclasses.replace(base.rail, min_um=-50_000, max_um=50_000)
    return dataclasses.replace(base, camera=dataclasses.replace(base.camera, sim=cam), rail=rail)


@pytest.mark.parametrize(("subject", "near", "depth"), [("coin", 0, 1500), ("bug", 3000, 800), ("coin", -2000, 3000)])
def test_the_range_found_is_within_a_depth_of_field_of_the_subject(
    tmp_path: Path, subject: str, near: float, depth: float
) -> None:
    cfg = ranged_config(tmp_path, subject, near, depth)
    scene = make_scene(subject, cfg.camera.sim.width, cfg.camera.sim.height, depth, cfg.camera.sim.seed)
    true_near, true_far = near + float(scene.depth_um.min()), near + float(scene.depth_um.max())
    with Machine.build(cfg) as machine:
        before = machine.rail.position()
        rendered = machine.camera._frames_rendered
        machine.sequencer.find_range(near - 3000, near + depth + 3000)
        status = machine.sequencer.wait(60)
        result = machine.sequencer.last_range()
        assert status.state == "idle" and machine.rail.position() == pytest.approx(before)  # moved back
        assert machine.camera._frames_rendered - rendered <= MAX_FRAMES
    assert result is not None and result.found, result
    assert abs(result.start - true_near) <= TOLERANCE_UM, (result, true_near)
    assert abs(result.end - true_far) <= TOLERANCE_UM, (result, true_far)


def test_a_subject_with_no_detail_in_the_sweep_gets_no_range(tmp_path: Path) -> None:
    with Machine.build(ranged_config(tmp_path, near=30_000)) as machine:
        machine.sequencer.find_range(0, 6000)  # the subject is 24 mm beyond: a grey blur everywhere
        machine.sequencer.wait(60)
        result = machine.sequencer.last_range()
    assert result is not None and not result.found
    assert result.start is None and "no detail" in (result.message or "")


def test_cancel_stops_the_sweep_and_the_rail_returns(tmp_path: Path) -> None:
    cfg = ranged_config(tmp_path)
    cfg = dataclasses.replace(
        cfg, rail=dataclasses.replace(cfg.rail, sim=dataclasses.replace(cfg.rail.sim, time_scale=1.0))
    )
    with Machine.build(cfg) as machine:
        seq = machine.sequencer
        seq.find_range(0, 20_000)  # real-time moves: 4 s across
        wait_for(lambda: seq.status().state == "ranging" and seq.status().slice >= 2, what="the sweep under way")
        seq.cancel()
        status = seq.wait(30)
        assert status.state == "idle" and machine.rail.position() == pytest.approx(0.0)
        result = seq.last_range()
        assert result is not None and not result.found and "cancelled" in (result.message or "")


def test_rig_range_prints_start_and_end(tmp_path: Path) -> None:
    cfg = tmp_path / "rig.toml"
    cfg.write_text(
        '[camera.sim]\nwidth = 1600\nheight = 1200\nnear_um = 2000\ndepth_um = 800\n[output]\nroot = "'
        + str(tmp_path / "stacks")
        + '"\n'
    )
    r = rig("range", "--config", str(cfg), "--from-um", "0", "--to-um", "6000", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert abs(out["start_um"] - 2000) <= TOLERANCE_UM and abs(out["end_um"] - 2800) <= TOLERANCE_UM
    assert out["frames"] <= MAX_FRAMES
    bad = rig("range", "--config", str(cfg), "--from-um", "0", "--to-um", "300000")
    assert bad.returncode == 2 and "--to-um = 300000" in bad.stderr and "soft limits" in bad.stderr
    none = rig("range", "--config", str(cfg), "--from-um", "40000", "--to-um", "50000")
    assert none.returncode == 1 and "no detail" in none.stderr


# ------------------------------------------------------------------ the web side
@pytest.fixture
def big_api(tmp_path: Path) -> Any:
    from rig.web import create_app

    machine = Machine.build(ranged_config(tmp_path, near=2000, depth=800), profiles_dir=tmp_path / "profiles")
    app = create_app(machine)
    yield Api(app), machine
    app.extensions["rig"].shutdown()
    machine.close()


def test_post_api_range_then_the_plan_warns_when_the_range_misses_the_subject(big_api: Any) -> None:
    api, machine = big_api
    assert api.get("/api/range").get_json() == {"range": None}
    assert api.post("/api/range", {"from_um": 0}).status_code == 400
    r = api.post("/api/range", {"from_um": 0, "to_um": 90_000})
    assert r.status_code == 400 and "to_um = 90000" in r.get_json()["error"]
    r = api.post("/api/range", {"from_um": 0, "to_um": 6000})
    assert r.status_code == 202 and r.get_json()["status"]["state"] in ("ranging", "returning", "idle")
    wait_for(lambda: not machine.sequencer.status().busy, 60, "the sweep to end")
    found = api.get("/api/range").get_json()["range"]
    assert found["found"] and abs(found["start_um"] - 2000) <= TOLERANCE_UM
    # a plan that stops half-way through the subject says so before anything moves
    plan = api.post("/api/plan", {"profile": {"start_um": 2000, "end_um": 2400, "step_um": 50}}).get_json()
    assert any("far side" in w for w in plan["coverage"]), plan
    # the found range itself, shot to its end (slices, so the last slice lands on the end)
    slices = math.ceil(abs(found["end_um"] - found["start_um"]) / 50) + 1
    profile = {"start_um": found["start_um"], "end_um": found["end_um"], "slices": slices}
    plan = api.post("/api/plan", {"profile": profile})
    assert plan.get_json()["coverage"] == []


def test_plan_answers_from_the_optics_in_the_body_or_the_profile(api: Api) -> None:
    body = {"profile": {"start_um": 0, "end_um": 1500}, "optics": {"magnification": 5, "na": 0.14}}
    ans = api.post("/api/plan", body).get_json()
    assert ans["optics"]["dof_um"] == pytest.approx(39.5, abs=0.1)
    assert ans["optics"]["step_um"] == pytest.approx(29.6, abs=0.1) and ans["optics"]["slices"] == 52
    profile = {"start_um": 0, "end_um": 1500, "step_um": 60, "optics": {"magnification": 5, "na": 0.14}}
    ans = api.post("/api/plan", {"profile": profile}).get_json()
    assert ans["optics"]["slices"] == 52 and any("exceeds the depth of field" in w for w in ans["coverage"])
    for optics, word in (({"magnification": 0, "na": 0.1}, "magnification"), ({"magnification": 5, "na": 1.6}, "na")):
        r = api.post("/api/plan", {"profile": {}, "optics": optics})
        assert r.status_code == 400 and f"optics.{word}" in r.get_json()["error"]


def test_profile_optics_table_is_validated_like_every_option() -> None:
    p = from_table(Profile, {"optics": {"magnification": 2, "f_number": 8, "pixel_um": 3.9}}, "p.toml").checked()
    assert p.optics is not None and p.optics.f_number == 8
    for bad, word in (
        ({"magnification": 60, "f_number": 8}, "optics.magnification"),
        ({"magnification": 2, "f_number": 0.5}, "optics.f_number"),
        ({"magnification": 2, "f_number": 8, "pixel_um": 30}, "optics.pixel_um"),
        ({"magnification": 2}, "f_number"),
        ({"magnification": 2, "f_number": 8, "iso": 100}, "optics.iso"),
    ):
        with pytest.raises(ConfigError, match=word):
            from_table(Profile, {"optics": bad}, "p.toml").checked()


def test_pi_camera_lens_drive_plans_in_dioptres() -> None:
    from rig.config import ProfileOptics, RailConfig
    from rig.optics import dof_dioptres
    from rig.optics_rail import plan_optics

    rail = dataclasses.replace(RailConfig(), backend="lens")
    rail = dataclasses.replace(rail, lens=dataclasses.replace(rail.lens, driver="picam", dioptres_per_step=1 / 32))
    answer = plan_optics(ProfileOptics(f_number=1.8, focal_mm=4.74, pixel_um=1.4), rail, 0, 100)
    dof = dof_dioptres(1.8, 4.74, 1.4)
    assert answer.units == "steps" and answer.dof_dioptres == pytest.approx(dof)
    assert answer.step * (1 / 32) <= dof * 0.75 + 1e-9 and answer.step >= 1  # whole lens steps, the overlap kept
    assert answer.slices == int(np.ceil(100 / answer.step)) + 1
    with pytest.raises(UsageError, match="focal_mm"):
        plan_optics(ProfileOptics(f_number=1.8), rail)


def test_the_magnified_view_is_a_crop_never_the_full_frame(big_api: Any) -> None:
    api, machine = big_api
    whole = cv2.imdecode(np.frombuffer(api.get("/live/view.jpg").data, np.uint8), 1)
    assert whole.shape[:2] == (300, 400)  # the preview frame
    for zoom, shape in ((4, (300, 400)), (8, (150, 200))):
        r = api.get(f"/live/view.jpg?zoom={zoom}&x=0.2&y=0.7")
        assert r.status_code == 200
        assert cv2.imdecode(np.frombuffer(r.data, np.uint8), 1).shape[:2] == shape  # 100 %: sensor pixels
    assert api.get("/live/view.jpg?zoom=3").status_code == 400
    assert api.get("/live/view.jpg?x=2").status_code == 400
    # peaking paints the sharp edges magenta when the subject is in focus, and nothing when it is not
    machine.sequencer.jog(target=2400)
    wait_for(lambda: not machine.sequencer.status().busy)
    peaked = cv2.imdecode(np.frombuffer(api.get("/live/view.jpg?zoom=2&peaking=1").data, np.uint8), 1)
    magenta = (peaked[:, :, 0] > 180) & (peaked[:, :, 1] < 100) & (peaked[:, :, 2] > 180)
    assert magenta.mean() > 0.01
    machine.sequencer.jog(target=20000)
    wait_for(lambda: not machine.sequencer.status().busy)
    blurred = cv2.imdecode(np.frombuffer(api.get("/live/view.jpg?zoom=2&peaking=1").data, np.uint8), 1)
    assert ((blurred[:, :, 0] > 180) & (blurred[:, :, 1] < 100) & (blurred[:, :, 2] > 180)).mean() < 0.001


def test_rig_stack_warns_before_moving_when_the_step_exceeds_the_depth_of_field(tmp_path: Path) -> None:
    import os

    folder = tmp_path / "config" / "rig" / "profiles"
    folder.mkdir(parents=True)
    (folder / "obj.toml").write_text("slices = 2\nstep_um = 60\nsettle_s = 0\n[optics]\nmagnification = 5\nna = 0.14\n")
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "config"))
    out = str(tmp_path / "stacks" / "@GRP" / "@GCT4")
    small = tmp_path / "small.toml"  # the depth of field comes from the optics, not the frame size
    small.write_text("[camera.sim]\nwidth = 160\nheight = 120\n")
    r = rig("stack", "--config", str(small), "--profile", "obj", "--out", out, env=env)
    assert r.returncode == 0, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("rig: warning: the step (60.0 µm) exceeds the depth of field (39.5 µm)"), r.stderr
    r = rig("stack", "--config", str(small), "--profile", "obj", "--step-um", "25", "--out", out, env=env)
    assert r.returncode == 0 and "warning" not in r.stderr


# ------------------------------------------------------------------ camera settings
def test_camera_settings_from_the_api_change_the_picture_and_bad_ones_change_nothing(big_api: Any) -> None:
    api, machine = big_api

    def brightness() -> float:
        return float(cv2.imdecode(np.frombuffer(api.get("/live/view.jpg").data, np.uint8), 0).mean())

    names = {s["name"]: s for s in api.get("/api/camera").get_json()["settings"]}
    assert names["exposure_ev"]["range"] == [-3.0, 3.0] and names["format"]["value"] == "jpg"
    before = brightness()
    r = api.post("/api/camera", {"set": {"exposure_ev": -1, "format": "png"}})
    assert r.status_code == 200, r.get_json()
    assert brightness() < before * 0.6  # one stop darker
    for bad, word in (
        ({"iso": 100}, "unknown camera setting 'iso'"),
        ({"exposure_ev": 9, "format": "jpg"}, "from -3 to 3"),
    ):
        r = api.post("/api/camera", {"set": bad})
        assert r.status_code == 400 and word in r.get_json()["error"]
    assert {s["name"]: s["value"] for s in api.get("/api/camera").get_json()["settings"]}["format"] == "png"
    machine.sequencer.start(Profile(slices=2, step_um=10, settle_s=0))
    machine.sequencer.wait(30)
    folder = Path(machine.sequencer.status().folder or "")
    frames = [p.suffix for p in folder.iterdir() if p.name[0].isdigit()]  # not coverage.png, composite.jpg
    assert frames == [".png", ".png"]


def test_rig_camera_lists_and_refuses_unknown_settings() -> None:
    r = rig("camera", "--set", "exposure_ev=-2", "--json")
    assert r.returncode == 0, r.stderr
    values = {s["name"]: s["value"] for s in json.loads(r.stdout)["settings"]}
    assert values["exposure_ev"] == "-2"
    bad = rig("camera", "--set", "iso=100")
    assert bad.returncode == 2 and "unknown camera setting 'iso'" in bad.stderr and "exposure_ev" in bad.stderr
    bad = rig("camera", "--set", "exposure_ev")
    assert bad.returncode == 2 and "NAME=VALUE" in bad.stderr


def test_a_profiles_camera_settings_are_applied_at_start_and_a_bad_one_moves_nothing(api: Api, machine: Any) -> None:
    r = api.post("/api/start", {"profile": {"slices": 2, "settle_s": 0, "camera_settings": ["exposure_ev=-2"]}})
    assert r.status_code == 202, r.get_json()
    machine.sequencer.wait(30)
    assert machine.camera._exposure_ev == -2.0
    before = machine.rail.position()
    r = api.post("/api/start", {"profile": {"slices": 2, "settle_s": 0, "camera_settings": ["iso=100"]}})
    assert r.status_code == 400 and "unknown camera setting 'iso'" in r.get_json()["error"]
    assert machine.sequencer.status().state.value == "idle" and machine.rail.position() == before


# ------------------------------------------------------------------ the range kept between processes
def test_rig_range_then_rig_stack_warns_before_anything_moves(tmp_path: Path, capsys: Any) -> None:
    """Two commands, two machines: only the stored answer links them (rig.range_store)."""
    from rig.cli import main

    cfg = tmp_path / "rig.toml"
    cfg.write_text(
        f'[camera.sim]\nwidth = 480\nheight = 360\nnear_um = 2000\ndepth_um = 800\n[output]\nroot = "{tmp_path}"\n'
    )
    assert main(["range", "--config", str(cfg), "--from-um", "0", "--to-um", "6000", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["found"] and found["at"]
    args = ["stack", "--config", str(cfg), "--start-um", "2000", "--end-um", "2300", "--slices", "2", "--settle-s", "0"]
    assert main(args) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("rig: warning: the range misses the subject's far side: 2"), err
    assert "from the range sweep of " in err[0]
    assert err[1].startswith("rig: stack folder")  # the warning came before the run started
    with Machine.build(load_config(cfg)) as machine:  # the server after a restart: the Stack page's plan
        from rig.range_store import RangeStore
        from rig.web import create_app

        seq = machine.sequencer
        assert seq.known_range() == seq.last_range() and seq.last_range().to_dict() == found
        app = create_app(machine)
        try:
            plan = Api(app).post("/api/plan", {"profile": {"start_um": 2000, "end_um": 2300, "step_um": 100}})
            assert any("far side" in w and "range sweep of" in w for w in plan.get_json()["coverage"])
        finally:
            app.extensions["rig"].shutdown()
        seq.find_range(0, 6000)  # a sweep cut short says nothing about the subject: the stored answer stays
        seq.cancel()
        seq.wait(30)
        assert "cancelled" in (seq.last_range().message or "") and seq.known_range().to_dict() == found
        assert RangeStore.for_config(machine.config).load("um").to_dict() == found


def test_a_damaged_stored_range_is_ignored(tmp_path: Path) -> None:
    from rig.range_store import RangeStore
    from rig.range_sweep import RangeResult

    store = RangeStore(tmp_path / "range.json")
    store.save(RangeResult(100.0, 900.0, "um", 12, (0.0, 2000.0), at="2026-12-06T09:00:00+00:00"))
    assert store.load("um") == RangeResult(100.0, 900.0, "um", 12, (0.0, 2000.0), at="2026-12-06T09:00:00+00:00")
    assert store.load("steps") is None  # another rail's units: not this rig's answer
    for text in ("{", '{"start_um": "x"}', "[]"):
        store.path.write_text(text)
        assert store.load("um") is None
