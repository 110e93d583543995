"""The web API through the Flask test client: commands, 400/409 semantics, SSE, MJPEG, profiles.

Security (host, pairing, CSRF, control lock) is in test_web_security.py, the gallery in
test_web_gallery.py, the fuzzing in test_web_fuzz.py and ``rig serve`` in test_web_serve.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rig.config import MachineConfig, Profile  # noqa: E402
from rig.machine import Machine  # noqa: E402
from rig.web import create_app  # noqa: E402


def sim_config(root: Path, *, time_scale: float = 0.0, max_live_viewers: int = 4) -> MachineConfig:
    """The simulated rig, small and fast: 320x240 frames, instant (or scaled) moves."""
    cfg = MachineConfig()
    return dataclasses.replace(
        cfg,
        rail=dataclasses.replace(cfg.rail, sim=dataclasses.replace(cfg.rail.sim, time_scale=time_scale)),
        camera=dataclasses.replace(cfg.camera, sim=dataclasses.replace(cfg.camera.sim, width=320, height=240)),
        output=dataclasses.replace(cfg.output, root=str(root), min_free_mb=0),
        web=dataclasses.replace(cfg.web, max_live_viewers=max_live_viewers),
    )


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Api:
    """A test client that carries the CSRF token like the pages do."""

    def __init__(self, app: Any, **environ: Any) -> None:
        self.client = app.test_client()
        if environ:
            self.client.environ_base.update(environ)
        self.csrf = self.client.get("/api/session").get_json()["csrf"]

    def get(self, url: str, **kw: Any) -> Any:
        response = self.client.get(url, **kw)
        endless = response.mimetype == "text/event-stream" or response.mimetype.startswith("multipart/")
        if not endless:  # a served file: read it and close its handle (the streams' tests close them)
            response.get_data()
            response.close()
        return response

    def call(self, method: str, url: str, body: Any = None, **kw: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        if body is not None:
            kw["json"] = body
        return self.client.open(url, method=method, headers=headers, **kw)

    def post(self, url: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", url, body, **kw)


def idle(machine: Machine) -> Any:
    return wait_for(lambda: (s := machine.sequencer.status()) and not s.busy and s, what="idle")


def start_long(api: Api) -> Any:
    """A stack that stays in its first settle until cancelled."""
    r = api.post("/api/start", {"profile": {"slices": 5, "settle_s": 60, "start_um": 1000, "step_um": 100}})
    assert r.status_code == 202, r.get_json()
    return r


# ------------------------------------------------------------------ pages
@pytest.mark.parametrize("path", ["/", "/jog", "/live", "/gallery", "/profiles", "/system", "/pair"])
def test_every_page_renders(api: Api, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 200
    assert b"<nav" in r.data and b"app.js" in r.data
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_unknown_page_is_a_404_page_and_unknown_api_is_json(api: Api) -> None:
    r = api.get("/nope")
    assert r.status_code == 404 and b"<html" in r.data
    r = api.get("/api/nope")
    assert r.status_code == 404 and r.get_json()["status"] == 404
    assert api.get("/gallery/../../etc").status_code == 404


def test_method_not_allowed_is_json(api: Api) -> None:
    r = api.get("/api/start")
    assert r.status_code == 405 and "error" in r.get_json()


# ------------------------------------------------------------------ status and commands
def test_session_and_status(api: Api) -> None:
    s = api.get("/api/session").get_json()
    assert s["csrf"] == api.csrf and s["paired"] and not s["lan"]
    st = api.get("/api/status").get_json()
    assert st["status"]["state"] == "idle" and st["control"]["held"] is False and st["merge"] is None
    assert api.get("/api/status").headers["Cache-Control"] == "no-store"


def test_start_runs_to_completion(api: Api, machine: Machine) -> None:
    r = api.post("/api/start", {"profile": {"slices": 3, "settle_s": 0, "step_um": 50}})
    assert r.status_code == 202
    body = r.get_json()
    assert body["status"]["slices"] == 3 and body["control"]["mine"]
    s = idle(machine)
    assert s.outcome.value == "completed" and s.frames_saved == 3 and s.slice == 3


def test_start_with_a_saved_profile_and_overrides(api: Api, machine: Machine) -> None:
    assert api.call("PUT", "/api/profiles/coin", {"slices": 4, "settle_s": 0, "step_um": 10}).status_code == 200
    r = api.post("/api/start", {"name": "coin", "profile": {"slices": 2}})
    assert r.status_code == 202 and r.get_json()["status"]["slices"] == 2
    assert r.get_json()["status"]["profile"] == "coin"
    idle(machine)
    r = api.post("/api/start", {"name": "nosuch"})
    assert r.status_code == 400 and "no profile named" in r.get_json()["error"]


def test_start_while_running_is_409_and_cancel_while_idle_is_409(api: Api, machine: Machine) -> None:
    r = api.post("/api/cancel")
    assert r.status_code == 409 and "nothing to cancel" in r.get_json()["error"]
    start_long(api)
    r = api.post("/api/start", {"profile": {"slices": 2}})
    assert r.status_code == 409 and r.get_json()["code"] == "state"
    assert api.post("/api/jog", {"delta": 10}).status_code == 409
    r = api.post("/api/cancel")
    assert r.status_code == 202
    s = idle(machine)
    assert s.outcome.value == "cancelled"
    assert s.position == pytest.approx(1000)  # returned to the start


def test_estop_fault_and_reset(api: Api, machine: Machine) -> None:
    start_long(api)
    r = api.post("/api/estop")
    assert r.status_code == 200
    wait_for(lambda: machine.sequencer.status().state.value == "fault", what="fault")
    assert api.post("/api/start", {"profile": {"slices": 2}}).status_code == 409
    assert api.post("/api/jog", {"delta": 1}).status_code == 409
    assert api.post("/api/reset").status_code == 200
    assert api.post("/api/reset").status_code == 409
    assert machine.sequencer.status().state.value == "idle"


def test_jog_and_plan(api: Api, machine: Machine) -> None:
    assert api.post("/api/jog", {"delta": 250}).status_code == 202
    idle(machine)
    assert machine.sequencer.status().position == pytest.approx(250)
    assert api.post("/api/jog", {"target": 100}).status_code == 202
    idle(machine)
    assert machine.sequencer.status().position == pytest.approx(100)
    p = api.post("/api/plan", {"profile": {"start_um": 100, "end_um": 1100, "step_um": 100}}).get_json()
    assert p.pop("estimate")["warnings"] == []  # no battery here, plenty of disk
    assert p.pop("optics") is None and p.pop("coverage") == []  # no [optics], no range swept yet
    assert p.pop("calibration") is None  # rig calibrate has not run
    assert p == {"slices": 11, "step": 100.0, "start": 100.0, "end": 1100.0, "travel": 1000.0, "units": "um"}


def test_plan_uses_the_stored_calibration(api: Api, machine: Machine) -> None:
    """A rail measured to move 0.375 um per step (0.3125 configured) and to have 30 um of backlash:
    a 60 um step is 50 um as the rail counts, the first slice is approached from 45 um before it."""
    from rig.calibration import Calibration, calibration_path, save_calibration

    measured = Calibration("um", 30.0, 0.1, 0.375, machine.config.source, "now", "measured")
    save_calibration(calibration_path(machine.config), measured)
    optics = {"magnification": 2, "f_number": 4}
    p = api.post("/api/plan", {"profile": {"start_um": 1000, "slices": 3, "step_um": 60}, "optics": optics}).get_json()
    assert p["calibration"] == {"um_per_step": 0.375, "rail_per_um": 0.833333, "backlash": 30.0, "take_up": 45.0}
    assert p["step"] == pytest.approx(50.0) and p["end"] == pytest.approx(1100.0)
    assert p["optics"]["step"] == pytest.approx(p["optics"]["step_um"] / 1.2, rel=1e-3)  # real um -> rail um
    near_end = api.post("/api/plan", {"profile": {"start_um": 20, "slices": 3, "step_um": 60}}).get_json()
    assert "beyond the soft limits" in near_end["error"] and "take up the backlash" in near_end["error"]


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"delta": 10, "target": 10}, "exactly one"),
        ({}, "exactly one"),
        ({"delta": "10"}, "must be a number"),
        ({"delta": True}, "must be a number"),
        ({"delta": 1e300}, "from"),
        ({"target": -5}, "outside the soft limits"),
        ({"target": 10, "speed": 3}, "unknown field 'speed'"),
    ],
)
def test_jog_bad_input_is_400(api: Api, body: dict, fragment: str) -> None:
    r = api.post("/api/jog", body)
    assert r.status_code == 400 and fragment in r.get_json()["error"]


BAD_STARTS = [
    ('{"profile": {"slices": NaN}}', "NaN"),
    ('{"profile": {"step_um": Infinity}}', "Infinity"),
    ('{"profile": {"step_um": -Infinity}}', "Infinity"),
    ('{"profile": {"step_um": 1e999}}', "finite"),
    ('{"profile": {"slices": -3}}', "option 'slices'"),
    ('{"profile": {"slices": 100000}}', "option 'slices'"),
    ('{"profile": {"slices": "ten"}}', "whole number"),
    ('{"profile": {"slices": 2.5}}', "whole number"),
    ('{"profile": {"slices": true}}', "whole number"),
    ('{"profile": {"settle_s": -1}}', "option 'settle_s'"),
    ('{"profile": {"settle_s": null}}', "required"),
    ('{"profile": {"mode": "fast"}}', "option 'mode'"),
    ('{"profile": {"slices": 5, "colour": "red"}}', "unknown option 'colour'"),
    ('{"profile": {"slices": 5}, "extra": 1}', "unknown field 'extra'"),
    ('{"profile": [1, 2]}', "must be a JSON object"),
    ('{"name": 7}', "must be a string"),
    ('{"name": "../../etc/passwd"}', "not allowed"),
    ('{"profile": {"out": "/tmp/x"}}', "counter"),
    ('{"profile": {"start_um": 0, "end_um": 1e6, "slices": 10}}', "soft limits"),
    ('{"profile": {"start_um": 5, "end_um": 5}}', "equal"),
    ("[1, 2, 3]", "JSON object"),
    ('"start"', "JSON object"),
    ("{not json", "not valid JSON"),
    ("[" * 5000 + "]" * 5000, "JSON"),
]


@pytest.mark.parametrize("raw, fragment", BAD_STARTS)
def test_start_bad_input_is_400_with_a_message(api: Api, machine: Machine, raw: str, fragment: str) -> None:
    r = api.client.post("/api/start", data=raw, content_type="application/json", headers={"X-CSRF-Token": api.csrf})
    assert r.status_code == 400, r.get_json()
    assert fragment in r.get_json()["error"]
    assert not machine.sequencer.status().busy


def test_body_must_be_json_and_small(api: Api) -> None:
    r = api.client.post(
        "/api/cancel", data="x=1", content_type="application/x-www-form-urlencoded", headers={"X-CSRF-Token": api.csrf}
    )
    assert r.status_code == 415
    r = api.client.post(
        "/api/start", data="{" + " " * 70000 + "}", content_type="application/json", headers={"X-CSRF-Token": api.csrf}
    )
    assert r.status_code == 413
    r = api.client.post(
        "/api/start", data=b"\xff\xfe{}", content_type="application/json", headers={"X-CSRF-Token": api.csrf}
    )
    assert r.status_code == 400
    assert api.post("/api/cancel", {"force": True}).status_code == 400  # cancel takes no fields


# ------------------------------------------------------------------ profiles
def test_profiles_crud(api: Api) -> None:
    assert api.get("/api/profiles").get_json()["profiles"] == []
    r = api.call("PUT", "/api/profiles/macro 5x", {"slices": 30, "step_um": 25.5, "description": "coin"})
    assert r.status_code == 200 and r.get_json()["profile"]["slices"] == 30
    got = api.get("/api/profiles/macro 5x").get_json()
    assert got["profile"]["step_um"] == 25.5 and got["profile"]["description"] == "coin"
    assert [p["name"] for p in api.get("/api/profiles").get_json()["profiles"]] == ["macro 5x"]
    r = api.call("PUT", "/api/profiles/macro 5x", {"slices": 1})
    assert r.status_code == 400 and "slices" in r.get_json()["error"]
    assert api.get("/api/profiles/macro 5x").get_json()["profile"]["slices"] == 30  # unchanged
    assert api.call("PUT", "/api/profiles/.hidden", {}).status_code == 400
    assert api.call("PUT", "/api/profiles/x", [1]).status_code == 400
    assert api.get("/api/profiles/missing").status_code == 404
    assert api.call("DELETE", "/api/profiles/macro 5x").status_code == 200
    assert api.call("DELETE", "/api/profiles/macro 5x").status_code == 404
    assert api.get("/api/profiles/bad..name.").status_code == 400


def test_profile_schema_matches_the_profile_dataclass(api: Api) -> None:
    fields = {f["name"]: f for f in api.get("/api/profile-schema").get_json()["fields"]}
    assert set(fields) == {
        "slices",
        "step_um",
        "start_um",
        "end_um",
        "settle_s",
        "check_frames",
        "retries",
        "brightness_tolerance",
        "sharpness_tolerance",
        "on_failed_check",
        "exposure_s",
        "mode",
        "out",
        "return_to_start",
        "merge",
        "description",
        "magnification",
        "lens",
        "jpeg_quality",
        "jpeg_long_edge_px",
        "optics",
        "camera_settings",
    }
    assert fields["slices"]["range"] == [2, 999] and fields["mode"]["choices"] == ["full", "preview-images", "preview"]
    assert fields["retries"]["range"] == [0, 10] and fields["settle_s"]["words"] == ["auto"]


def test_system(api: Api) -> None:
    d = api.get("/api/system").get_json()
    assert d["rail"]["ok"] and d["camera"]["ok"] and d["config"]["rail"]["backend"] == "sim"
    assert d["disk"]["free_mb"] > 0 and "web" in d


# ------------------------------------------------------------------ streams
class SSEReader:
    def __init__(self, resp: Any) -> None:
        self.chunks = iter(resp.response)
        self.buf = ""

    def read(self, count: int) -> list[tuple[str, dict]]:
        events: list[tuple[str, dict]] = []
        while len(events) < count:
            while "\n\n" not in self.buf:
                self.buf += next(self.chunks).decode()
            block, self.buf = self.buf.split("\n\n", 1)
            kind = data = None
            for line in block.splitlines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
            if kind:
                events.append((kind, data))
        return events


def test_sse_sends_a_snapshot_then_changes(api: Api, machine: Machine) -> None:
    resp = api.get("/api/events", buffered=False)
    try:
        assert resp.mimetype == "text/event-stream"
        reader = SSEReader(resp)
        ((kind, snap),) = reader.read(1)
        assert kind == "snapshot" and snap["status"]["state"] == "idle" and "control" in snap
        assert api.post("/api/jog", {"delta": 5}).status_code == 202
        events = reader.read(2)
        assert any(k == "status" and d["state"] == "jogging" for k, d in events), events
    finally:
        resp.close()
    idle(machine)
    wait_for(lambda: app_state(api).sse_clients == 0, what="the stream to close")


def app_state(api: Api) -> Any:
    return api.client.application.extensions["rig"]


def test_mjpeg_live_view_and_viewer_limit(tmp_path: Path) -> None:
    m = Machine.build(sim_config(tmp_path, max_live_viewers=1), profiles_dir=tmp_path / "p")
    app = create_app(m)
    try:
        api = Api(app)
        resp = api.get("/live.mjpg", buffered=False)
        try:
            first = next(iter(resp.response))
            assert first.startswith(b"--frame\r\nContent-Type: image/jpeg") and b"\xff\xd8" in first
            r = api.get("/live.mjpg")
            assert r.status_code == 503 and "limited" in r.get_json()["error"]
        finally:
            resp.close()
        wait_for(lambda: app.extensions["rig"].preview.viewers == 0, what="the viewer to leave")
        one = api.get("/live.jpg")
        assert one.status_code == 200 and one.data[:2] == b"\xff\xd8"
    finally:
        app.extensions["rig"].shutdown()
        m.close()


# ------------------------------------------------------------------ output templates
OUTSIDE_ROOT = [
    "{elsewhere}/@GRP/@GCT4",  # absolute (like /etc/@GRP/@GCT4, but harmless if it were accepted)
    "../../@GRP/@GCT4",
    "../@GRP/@GCT4",
    "x/../../@GRP/@GCT4",
    "@GRP/../../@GCT4",
    "~/@GRP/@GCT4",
    "{root}/../@GRP/@GCT4",
    "escape/@GRP/@GCT4",  # a symlink inside output.root that leads out of it
]


@pytest.mark.parametrize("out", OUTSIDE_ROOT)
def test_output_templates_outside_the_root_are_400(api: Api, machine: Machine, tmp_path: Path, out: str) -> None:
    """A paired phone must not make the rig write outside output.root: start, saving a profile,
    and starting from a saved profile (as the CLI may write one) all refuse such a template."""
    root = Path(machine.config.output.root)
    root.mkdir(parents=True, exist_ok=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "escape").symlink_to(elsewhere)
    out = out.format(root=root, elsewhere=elsewhere)

    def written() -> list[Path]:
        return sorted(p for p in tmp_path.rglob("*") if p.relative_to(tmp_path).parts[0] != "profiles")

    before = written()
    r = api.post("/api/start", {"profile": {"out": out, "slices": 2, "settle_s": 0}})
    assert r.status_code == 400, r.get_json()
    assert "outside output.root" in r.get_json()["error"] and "'out'" in r.get_json()["error"]
    r = api.call("PUT", "/api/profiles/x", {"out": out, "slices": 2})
    assert r.status_code == 400 and "outside output.root" in r.get_json()["error"]
    assert api.get("/api/profiles/x").status_code == 404  # not saved
    machine.profiles.save("cli", Profile(slices=2, settle_s=0, out=out))  # the CLI allows it
    r = api.post("/api/start", {"name": "cli"})
    assert r.status_code == 400 and "profile 'cli'" in r.get_json()["error"], r.get_json()
    r = api.post("/api/start", {"name": "cli", "profile": {"slices": 3}})
    assert r.status_code == 400
    assert not machine.sequencer.status().busy
    assert written() == before  # nothing written anywhere


def test_output_templates_inside_the_root_are_accepted(api: Api, machine: Machine) -> None:
    root = Path(machine.config.output.root)
    for out in ("coins/@GRP/@GCT4", f"{root}/abs/@UGRP/@PROFILE-@GCT3", "a/./b/@GRP/@GCT4"):
        r = api.call("PUT", "/api/profiles/x", {"out": out, "slices": 2, "settle_s": 0})
        assert r.status_code == 200, (out, r.get_json())
        assert api.post("/api/start", {"name": "x"}).status_code == 202, out
        status = idle(machine)
        assert status.state.value != "fault"
        assert os.path.realpath(status.folder).startswith(str(root.resolve()) + os.sep), status.folder


@pytest.mark.parametrize(
    "out",
    [
        "@GRP/" + "x" * 300 + "@GCT4",
        "a" * 256 + "/@GRP/@GCT4",
        "@GRP-" + "é" * 200 + "/@GCT4",  # 400 bytes, 200 characters
    ],
)
def test_over_long_names_in_out_are_400(api: Api, machine: Machine, out: str) -> None:
    r = api.post("/api/start", {"profile": {"out": out, "slices": 2, "settle_s": 0}})
    assert r.status_code == 400, r.get_json()
    assert "too long" in r.get_json()["error"]
    r = api.call("PUT", "/api/profiles/x", {"out": out, "slices": 2})
    assert r.status_code == 400 and "too long" in r.get_json()["error"]
    assert not machine.sequencer.status().busy
