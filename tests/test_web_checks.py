"""The per-frame checks in the web API (issue 14): a paused run is resumed over HTTP, the current
run's coverage map and growing result are served, the stack detail lists verdicts, bad check
options are a 400 with nothing moved."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from rig.machine import Machine
from tests.test_web import Api, idle, sim_config, wait_for


@pytest.fixture
def machine(tmp_path):  # the web tests' rig, with two missed flashes in a row (shots 3 and 4)
    cfg = sim_config(tmp_path / "stacks")
    sim = dataclasses.replace(cfg.camera.sim, width=160, height=120, dark_captures=(3, 4))
    cfg = dataclasses.replace(cfg, camera=dataclasses.replace(cfg.camera, sim=sim))
    m = Machine.build(cfg, profiles_dir=tmp_path / "profiles")
    yield m
    m.close()


def test_a_paused_run_resumes_over_http_and_the_phone_sees_coverage(api: Api, machine: Machine) -> None:
    assert api.post("/api/resume", {}).status_code == 409  # nothing to resume
    r = api.post("/api/start", {"profile": {"slices": 5, "step_um": 60, "settle_s": 0, "retries": 1}})
    assert r.status_code == 202, r.get_json()
    paused = wait_for(lambda: (s := machine.sequencer.status()).state == "paused" and s, what="paused")
    assert "slice 3" in paused.error
    checks = api.get("/api/run/checks").get_json()
    assert checks["caught"] == 0 and checks["coverage"] and checks["composite"]
    for key in ("coverage", "composite"):
        img = api.get(checks[key])
        assert img.status_code == 200
        assert cv2.imdecode(np.frombuffer(img.data, np.uint8), cv2.IMREAD_COLOR) is not None
    assert api.post("/api/resume", {}).status_code == 202
    status = idle(machine)
    assert status.outcome == "completed"
    after = api.get("/api/run/checks").get_json()
    assert after["caught"] == 2 and after["summary"][0].startswith("checks: 2 shot(s) turned down")
    detail = api.get(f"/api/stacks/{after['stack']}").get_json()
    third = detail["frame_list"][2]
    assert third["verdict"] == "reshot" and third["shots"] == 3
    assert detail["coverage"]["image"] == "coverage.png" and detail["check_summary"]
    rejected = third["checks"]["rejected"][0]["file"]
    assert api.get(f"/stacks/{after['stack']}/file/{rejected}").status_code == 200
    assert Path(status.folder, "coverage.png").is_file()


@pytest.mark.parametrize(
    "profile, option",
    [
        ({"retries": 11}, "retries"),
        ({"sharpness_tolerance": 0.99}, "sharpness_tolerance"),
        ({"settle_s": "later"}, "settle_s"),
        ({"on_failed_check": "ignore"}, "on_failed_check"),
    ],
)
def test_bad_check_options_are_a_400_and_nothing_moves(api: Api, machine: Machine, profile, option) -> None:
    before = machine.rail.position()
    r = api.post("/api/start", {"profile": {"slices": 3, **profile}})
    assert r.status_code == 400 and option in r.get_json()["error"]
    assert machine.rail.position() == before and not machine.sequencer.status().busy


@pytest.fixture
def plain_machine(tmp_path):  # the web tests' rig without injected faults
    cfg = sim_config(tmp_path / "stacks")
    sim = dataclasses.replace(cfg.camera.sim, width=160, height=120)
    m = Machine.build(
        dataclasses.replace(cfg, camera=dataclasses.replace(cfg.camera, sim=sim)), profiles_dir=tmp_path / "p"
    )
    yield m
    m.close()


@pytest.fixture
def merge_api(plain_machine: Machine):
    from rig.web import create_app

    app = create_app(plain_machine)
    yield Api(app)
    app.extensions["rig"].shutdown()


def test_the_growing_result_is_the_merge_during_capture_s_own(merge_api: Api, plain_machine: Machine) -> None:
    """With a merge during capture the phone's growing result is the merge child's result so far
    (aligned, its focus measure), then its merged image; the quick composite otherwise."""
    api, machine = merge_api, plain_machine
    r = api.post("/api/start", {"profile": {"slices": 4, "step_um": 200, "settle_s": 0, "merge": True}})
    assert r.status_code == 202, r.get_json()
    wait_for(lambda: machine.sequencer.status().frames_saved >= 2, what="two frames")
    assert api.post("/api/pause", {}).status_code == 202
    wait_for(lambda: machine.sequencer.status().state == "paused", what="paused")
    folder = Path(machine.sequencer.status().folder)
    growing = wait_for(
        lambda: (c := api.get("/api/run/checks").get_json())["composite_source"] == "merge" and c,
        timeout=60,
        what="the merge's own growing result",
    )
    assert "/file/merge-preview.jpg" in growing["composite"]
    img = cv2.imdecode(np.frombuffer(api.get(growing["composite"]).data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[:2] == (120, 160)
    assert api.post("/api/resume", {}).status_code == 202
    assert idle(machine).outcome == "completed"
    final = wait_for(
        lambda: (c := api.get("/api/run/checks").get_json())["composite_source"] == "merged" and c,
        timeout=60,
        what="the merged result",
    )
    assert "/file/merged.jpg" in final["composite"] and not (folder / "merge-preview.jpg").exists()
    r = api.post("/api/start", {"profile": {"slices": 3, "step_um": 200, "settle_s": 0}})  # no merge
    assert r.status_code == 202 and idle(machine).outcome == "completed"
    assert api.get("/api/run/checks").get_json()["composite_source"] == "quick"
