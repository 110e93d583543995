"""Issue 15, pause: ``POST /api/pause`` stops the run between slices and holds position;
``POST /api/resume`` goes on from where it stopped, with every frame saved once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rig.events import EventKind
from rig.machine import Machine
from rig.web import create_app
from tests.test_web import Api, idle, sim_config, wait_for


def test_pause_holds_position_between_slices_and_resume_finishes(tmp_path: Path) -> None:
    m = Machine.build(sim_config(tmp_path / "stacks"), profiles_dir=tmp_path / "profiles")
    app = create_app(m)
    sub = m.bus.subscribe(maxsize=10_000)
    try:
        api = Api(app)
        assert api.post("/api/pause", {}).status_code == 409  # nothing runs
        r = api.post("/api/start", {"profile": {"slices": 6, "step_um": 100, "start_um": 1000, "settle_s": 0.05}})
        assert r.status_code == 202
        assert api.post("/api/pause", {}).status_code == 202
        s = wait_for(lambda: (st := m.sequencer.status()).state == "paused" and st, what="paused")
        held_at, saved = s.position, s.frames_saved
        assert saved < 6 and s.busy
        # while paused: nothing moves, nothing is shot; a second pause is harmless
        assert api.post("/api/pause", {}).status_code == 202
        assert m.sequencer.status().position == held_at and m.sequencer.status().frames_saved == saved
        assert api.post("/api/start", {"profile": {"slices": 2}}).status_code == 409
        r = api.post("/api/resume", {})
        assert r.status_code == 202, r.get_json()
        status = idle(m)
        assert status.outcome == "completed" and status.frames_saved == 6
        data = json.loads((Path(status.folder or "") / "stack.json").read_text())
        assert [f["index"] for f in data["frames"]] == [1, 2, 3, 4, 5, 6]
        assert api.post("/api/resume", {}).status_code == 409  # not paused
        states: list[Any] = []
        while (e := sub.get(timeout=0)) is not None:
            states.append(e.payload.get("state") if e.kind == EventKind.STATUS else None)
        assert "paused" in states
    finally:
        app.extensions["rig"].shutdown()
        m.close()


def test_cancel_while_paused_returns_to_the_start(tmp_path: Path) -> None:
    m = Machine.build(sim_config(tmp_path / "stacks"), profiles_dir=tmp_path / "profiles")
    app = create_app(m)
    try:
        api = Api(app)
        api.post("/api/start", {"profile": {"slices": 5, "step_um": 100, "start_um": 1000, "settle_s": 0.05}})
        api.post("/api/pause", {})
        wait_for(lambda: m.sequencer.status().state == "paused", what="paused")
        assert api.post("/api/cancel", {}).status_code == 202
        status = idle(m)
        assert status.outcome == "cancelled" and m.rail.position() == 1000
    finally:
        app.extensions["rig"].shutdown()
        m.close()
