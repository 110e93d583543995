"""Issue 15: a stack whose every frame was saved but whose return move failed is ``completed``
(noted in ``error``) and merged; the rig itself still ends in FAULT."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from rig.config import CameraConfig, MachineConfig, OutputConfig, Profile, RailConfig, SimRailConfig
from rig.machine import Machine
from rig.sequencer import Outcome, State
from tests.test_sequencer import SMALL


def test_completed_stack_whose_return_move_fails_is_completed_and_merged(tmp_path: Path) -> None:
    # moves: slice 1, 2, 3, then the return: the 4th move fails
    cfg = MachineConfig(
        rail=RailConfig(sim=SimRailConfig(time_scale=0.0, start_um=1000.0, fail_after_moves=4)),
        camera=CameraConfig(sim=dataclasses.replace(SMALL, width=64, height=48)),
        output=OutputConfig(root=str(tmp_path / "out"), min_free_mb=0),
    )
    m = Machine.build(cfg, profiles_dir=tmp_path / "profiles")
    try:
        status = m.start_stack(Profile(slices=3, step_um=50, settle_s=0, merge=True), "coin")
        status = m.sequencer.wait(20)
        assert status.state == State.FAULT and "simulated rail fault" in (status.error or "")
        assert status.outcome == Outcome.COMPLETED
        folder = Path(status.folder or "")
        data = json.loads((folder / "stack.json").read_text())
        assert data["outcome"] == "completed" and len(data["frames"]) == 3
        assert "return" in data["error"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            merge = json.loads((folder / "stack.json").read_text()).get("merge") or {}
            if merge.get("state") not in (None, "running"):
                break
            time.sleep(0.05)
        assert merge.get("state") == "done", merge
        assert (folder / "merged.jpg").is_file()
    finally:
        m.close()
