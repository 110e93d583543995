"""The field kit through the web API: the clock offer's endpoint and the stack.json flag, the
battery and card warnings before a run, field-kit mode's defaults. The clock is a SystemClock
with a fake timedatectl (tests.test_field_kit_parts.FakeTimedatectl), the battery a fake
/sys/class/power_supply tree."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

from rig.clock_sync import SystemClock
from rig.config import Profile
from rig.machine import Machine
from rig.paths import free_mb
from rig.web import create_app
from tests.test_field_kit_parts import PHONE_TIME, FakeTimedatectl, supply
from tests.test_web import Api, idle, sim_config

TOKEN = "abcd-efgh-jkmn"


@pytest.fixture
def timedated() -> FakeTimedatectl:
    return FakeTimedatectl(synchronized="no")


@pytest.fixture
def power(tmp_path) -> Path:
    root = tmp_path / "power_supply"
    supply(root, "AC", type="Mains", online=0)
    supply(root, "BAT0", type="Battery", present=1, status="Discharging", capacity=73, time_to_empty_now=1800)
    return root


def build(tmp_path, timedated, power, **system) -> Machine:
    cfg = sim_config(tmp_path / "stacks")
    cfg = dataclasses.replace(cfg, system=dataclasses.replace(cfg.system, **system))
    clock = SystemClock(root=tmp_path / "no-rtc", run=timedated, now=time.time)
    return Machine.build(cfg, profiles_dir=tmp_path / "profiles", clock=clock, power_root=power)


@pytest.fixture
def kit(tmp_path, timedated, power):
    m = build(tmp_path, timedated, power, field_kit=True)
    app = create_app(m)
    yield m, app
    app.extensions["rig"].shutdown()
    m.close()


def start_and_finish(api: Api, machine: Machine) -> dict:
    r = api.post("/api/start", {"profile": {"slices": 2, "settle_s": 0, "step_um": 10}})
    assert r.status_code == 202, r.get_json()
    status = idle(machine)
    return json.loads((Path(status.folder) / "stack.json").read_text())


def test_system_reports_the_clock_and_battery(kit):
    machine, app = kit
    d = Api(app).get("/api/system").get_json()
    assert d["clock"]["synchronized"] is False and d["clock"]["source"] == "none"
    assert d["battery"]["percent"] == 73 and d["battery"]["time_left_s"] == 1800
    assert d["field_kit"] is True


def test_without_battery_hardware_nothing_is_reported(tmp_path, timedated):
    m = build(tmp_path, timedated, tmp_path / "absent")
    app = create_app(m)
    try:
        api = Api(app)
        assert api.get("/api/system").get_json()["battery"] is None
        plan = api.post("/api/plan", {"profile": {"slices": 900, "settle_s": 600}}).get_json()
        assert plan["estimate"]["battery_s"] is None and plan["estimate"]["warnings"] == []
    finally:
        app.extensions["rig"].shutdown()
        m.close()


def test_setting_the_clock_from_a_browser_and_the_stack_flag(kit, timedated):
    machine, app = kit
    api = Api(app)
    assert start_and_finish(api, machine)["clock_synchronized"] is False
    (listed,) = api.get("/api/stacks").get_json()["stacks"]
    assert listed["clock_synchronized"] is False  # the gallery says the folder's date may be wrong
    newest = next(Path(machine.config.output.root).rglob("stack.json"))  # the one stack so far
    os.utime(newest, (PHONE_TIME - 3 * 86400, PHONE_TIME - 3 * 86400))  # the rig's clock said 3 days earlier

    r = api.post("/api/clock", {"time": PHONE_TIME})
    assert r.status_code == 400 and r.get_json()["code"] == "confirm"
    assert "3.0 days from the newest stack" in r.get_json()["error"]
    assert timedated.time_set is None and timedated.ntp is True  # nothing changed

    r = api.post("/api/clock", {"time": PHONE_TIME, "confirm": True})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["clock"] | {"now": 0} == {"synchronized": True, "source": "browser", "now": 0}
    assert timedated.time_set == "2026-12-06 10:30:00 UTC" and timedated.ntp is True
    assert api.get("/api/system").get_json()["clock"]["synchronized"] is True
    assert start_and_finish(api, machine)["clock_synchronized"] is True
    r = api.post("/api/clock", {"time": PHONE_TIME})  # once synchronised, never again from a browser
    assert r.status_code == 400 and "already synchronised" in r.get_json()["error"]


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        ({}, "time"),
        ({"time": "noon"}, "time"),
        ({"time": 1e10 * 10}, "time"),
        ({"time": 5.0}, "not a plausible date"),
        ({"time": PHONE_TIME, "confirm": "yes"}, "confirm"),
        ({"time": PHONE_TIME, "zone": "UTC"}, "zone"),
    ],
)
def test_bad_clock_requests_are_one_line_errors(kit, timedated, payload, named):
    _, app = kit
    r = Api(app).post("/api/clock", payload)
    assert r.status_code == 400, r.get_json()
    error = r.get_json()["error"]
    assert named in error and "\n" not in error
    assert timedated.time_set is None and [c for c in timedated.calls if c[1] != "show"] == []


def test_the_clock_needs_pairing_and_control(tmp_path, timedated, power):
    m = build(tmp_path, timedated, power)
    app = create_app(m, token=TOKEN, host="0.0.0.0", addresses=lambda: ["192.168.1.20"])
    try:
        lan = {"REMOTE_ADDR": "192.168.1.50", "HTTP_HOST": "192.168.1.20:8080"}
        stranger = Api(app, **lan)
        assert stranger.post("/api/clock", {"time": PHONE_TIME}).status_code == 401
        phone = Api(app, **lan)
        assert phone.get(f"/pair?token={TOKEN}").status_code == 303  # the QR code's link: pairs this phone
        kiosk = Api(app)
        assert kiosk.post("/api/control", {"action": "take"}).status_code == 200
        r = phone.post("/api/clock", {"time": PHONE_TIME})
        assert r.status_code == 409 and r.get_json()["code"] == "control"
        assert timedated.time_set is None
        kiosk.post("/api/control", {"action": "release"})
        assert phone.post("/api/clock", {"time": PHONE_TIME}).status_code == 200
    finally:
        app.extensions["rig"].shutdown()
        m.close()


def test_plan_warns_when_the_battery_would_run_out(kit):
    _, app = kit
    api = Api(app)
    short = api.post("/api/plan", {"profile": {"slices": 5, "settle_s": 1}}).get_json()["estimate"]
    assert short["warnings"] == [] and short["battery_s"] == 1800 and 5 <= short["duration_s"] < 60
    long = api.post("/api/plan", {"profile": {"slices": 100, "settle_s": 30}}).get_json()["estimate"]
    assert long["duration_s"] > 3000
    assert long["warnings"] == ["the stack takes about 50 min; the battery has about 30 min left"]


def test_plan_warns_when_the_card_would_fill_up(tmp_path, timedated):
    cfg = sim_config(tmp_path / "stacks")
    (tmp_path / "stacks").mkdir()
    usable_mb = 5.0  # min_free_mb set just below the free space: about 5 MB left for stacks
    out = dataclasses.replace(cfg.output, min_free_mb=free_mb(tmp_path / "stacks") - usable_mb)
    camera = dataclasses.replace(cfg.camera, sim=dataclasses.replace(cfg.camera.sim, width=1600, height=1200))
    m = Machine.build(dataclasses.replace(cfg, output=out, camera=camera), clock=SystemClock(run=timedated))
    app = create_app(m)
    try:
        api = Api(app)
        small = api.post("/api/plan", {"profile": {"slices": 2, "settle_s": 0}}).get_json()["estimate"]
        assert small["warnings"] == [] and small["size_mb"] == pytest.approx(2 * 1600 * 1200 * 0.6 / 1e6, abs=0.1)
        big = api.post("/api/plan", {"profile": {"slices": 200, "settle_s": 0}}).get_json()["estimate"]
        assert len(big["warnings"]) == 1 and big["warnings"][0].startswith("the stack needs about 230 MB; the card has")
        sweep = api.post("/api/plan", {"profile": {"slices": 200, "mode": "preview"}}).get_json()["estimate"]
        assert sweep["size_mb"] == 0 and sweep["warnings"] == []
    finally:
        app.extensions["rig"].shutdown()
        m.close()


def test_field_kit_mode_releases_the_rail_between_stacks(tmp_path, timedated, power):
    for system, rail_option, released in ((True, None, True), (False, None, False), (True, False, False)):
        cfg = sim_config(tmp_path / "stacks")
        cfg = dataclasses.replace(
            cfg,
            system=dataclasses.replace(cfg.system, field_kit=system),
            rail=dataclasses.replace(cfg.rail, disable_when_idle=rail_option),
        )
        with Machine.build(cfg, clock=SystemClock(run=timedated)) as m:
            assert m.config.rail.disable_when_idle is released
            m.sequencer.start(Profile(slices=2, settle_s=0), "t")
            idle(m)
            assert m.rail.health()["enabled"] is (not released)


def test_the_status_stream_carries_the_battery_and_its_changes(kit, power, monkeypatch):
    from tests.test_web import SSEReader

    monkeypatch.setattr("rig.web.stream.SYSTEM_S", 0.0)  # look for a change at every tick
    monkeypatch.setattr("rig.web.fieldkit.SUMMARY_MAX_AGE_S", 0.0)
    _, app = kit
    resp = Api(app).get("/api/events", buffered=False)
    try:
        reader = SSEReader(resp)
        ((kind, snap),) = reader.read(1)
        assert kind == "snapshot" and snap["system"]["battery"]["percent"] == 73
        assert snap["system"]["clock"]["synchronized"] is False and snap["system"]["screen_blank_s"] == 120
        (power / "BAT0" / "capacity").write_text("72\n")
        ((kind, system),) = reader.read(1)
        assert kind == "system" and system["battery"]["percent"] == 72
    finally:
        resp.close()


def test_rig_serve_shows_the_hotspot_kept_beside_its_config(tmp_path):
    """`rig serve --config /etc/rig/rig.toml` reads /etc/rig/hotspot.toml (the installer's)."""
    import re
    import subprocess
    import sys
    import urllib.request

    from rig.hotspot import Hotspot, hotspot_toml

    (tmp_path / "rig.toml").write_text(f'[output]\nroot = "{tmp_path / "stacks"}"\n')
    (tmp_path / "hotspot.toml").write_text(hotspot_toml(Hotspot(ssid="kit-42", passphrase="pass-word-9")))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "rig.cli", "serve", "--config", str(tmp_path / "rig.toml"), "--port", "0"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        while not (m := re.search(r"serving on (http://127\.0\.0\.1:\d+)/", lines[-1] if lines else "")):
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, "rig serve exited early:\n" + "".join(lines)
            lines.append(line)
        with urllib.request.urlopen(m.group(1) + "/system", timeout=10) as r:
            page = r.read().decode()
        assert 'data-testid="wifi-qr"' in page and "kit-42" in page and "pass-word-9" in page
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # reaps it and closes its pipe (no ResourceWarning)
