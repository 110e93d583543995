"""A page (re)loaded while a stack runs gets the running stack's settings (``run``) from the
status and the SSE snapshot, so the Stack page shows them instead of blank defaults."""

from __future__ import annotations

from typing import Any

import flask  # noqa: F401 - a core dependency: missing is a failure, not a skip
import pytest

from rig.config import Profile  # noqa: E402
from rig.machine import Machine  # noqa: E402
from tests.test_web import Api, SSEReader, idle, start_long  # noqa: E402


def test_status_and_snapshot_carry_the_running_stacks_settings(api: Api, machine: Machine) -> None:
    assert api.get("/api/status").get_json()["run"] is None
    machine.profiles.save("coin", Profile(slices=12, step_um=80, mode="preview-images"))
    r = api.post("/api/start", {"name": "coin", "profile": {"slices": 25, "settle_s": 60, "start_um": 1000}})
    assert r.status_code == 202
    run = r.get_json()["run"]
    assert run["name"] == "coin" and run["run_id"] == r.get_json()["status"]["run_id"]
    p = run["profile"]
    assert (p["slices"], p["step_um"], p["settle_s"], p["mode"], p["start_um"]) == (25, 80, 60, "preview-images", 1000)
    assert api.get("/api/status").get_json()["run"] == run
    resp = api.get("/api/events", buffered=False)
    try:
        ((kind, snap),) = SSEReader(resp).read(1)
        assert kind == "snapshot" and snap["run"] == run
    finally:
        resp.close()
    assert api.post("/api/cancel", {}).status_code == 202
    idle(machine)
    assert api.get("/api/status").get_json()["run"] is None  # nothing runs


def test_unsaved_settings_and_jogs(api: Api, machine: Machine) -> None:
    start_long(api)
    run: Any = api.get("/api/status").get_json()["run"]
    assert run["name"] is None and run["profile"]["slices"] == 5 and run["profile"]["settle_s"] == 60
    api.post("/api/cancel", {})
    idle(machine)
    assert api.post("/api/jog", {"delta": 5}).status_code == 202
    assert api.get("/api/status").get_json()["run"] is None  # a jog is not a stack
    idle(machine)


@pytest.mark.parametrize("path", ["/", "/jog", "/live", "/gallery", "/profiles", "/system", "/pair"])
def test_every_page_has_the_reconnect_overlay_and_knows_its_server(api: Api, path: str) -> None:
    html = api.get(path).get_data(as_text=True)
    boot = api.client.application.extensions["rig"].boot
    assert 'data-testid="offline"' in html and "rig not running – reconnecting…" in html
    assert f'<meta name="boot" content="{boot}">' in html  # a page from an earlier server reloads


def test_the_snapshot_names_the_server_run(api: Api) -> None:
    resp = api.get("/api/events", buffered=False)
    try:
        ((_, snap),) = SSEReader(resp).read(1)
        assert snap["boot"] == api.client.application.extensions["rig"].boot and len(snap["boot"]) == 16
    finally:
        resp.close()
