"""Issue 15, resume: ``rig stack --resume STACK_DIR`` and the gallery's Resume finish a stack
that did not, into the same folder, from the first missing or unverified slice; bad input is
a one-line error (exit 2 / HTTP 409) that moves and changes nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from rig.cli import main
from rig.config import Profile, load_config
from rig.machine import Machine
from rig.web import create_app
from tests.cli_helpers import check_frames_intact
from tests.test_web import Api, idle, wait_for

SIM = """
[rail.sim]
time_scale = 0
start_um = 500
[camera.sim]
width = 64
height = 48
[output]
root = "{root}"
min_free_mb = 0
"""
SLICES = 6


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "sim.toml"
    path.write_text(SIM.format(root=tmp_path / "stacks"))
    return path


def cancelled_stack(config: Path, after: int = 2) -> Path:
    """A stack cancelled once ``after`` frames were saved (a user's Cancel, or a pulled battery)."""
    with Machine.build(load_config(config)) as m:
        status = m.start_stack(Profile(slices=SLICES, step_um=40, settle_s=0.2), "coin")
        wait_for(lambda: m.sequencer.status().frames_saved >= after, what="frames")
        m.sequencer.cancel()
        status = m.sequencer.wait(20)
        assert status.outcome == "cancelled"
        return Path(status.folder or "")


def snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_resume_finishes_a_cancelled_stack_in_the_same_folder(config: Path, capsys: Any) -> None:
    folder = cancelled_stack(config)
    before = json.loads((folder / "stack.json").read_text())
    kept = len(before["frames"])
    assert 2 <= kept < SLICES
    rc = main(["stack", "--config", str(config), "--resume", str(folder), "--confirm-position"])
    assert rc == 0, capsys.readouterr().err
    data = check_frames_intact(folder)
    assert data["outcome"] == "completed"
    assert [f["index"] for f in data["frames"]] == list(range(1, SLICES + 1))
    assert [f["position_um"] for f in data["frames"]] == data["planned_positions"]
    assert data["frames"][:kept] == before["frames"]  # the frames shot before are kept as they were
    (resume,) = data["resumes"]
    assert resume["from_slice"] == kept + 1 and resume["previous_outcome"] == "cancelled"
    assert resume["position"] == "confirmed" and resume["dropped"] == []
    assert len({f["file"] for f in data["frames"]}) == SLICES


def test_resume_shoots_again_from_the_first_unverified_frame_and_keeps_its_file(config: Path) -> None:
    folder = cancelled_stack(config, after=3)
    data = json.loads((folder / "stack.json").read_text())
    bad = folder / data["frames"][1]["file"]
    bad.write_bytes(bad.read_bytes()[:-10])  # frame 2 damaged
    damaged = bad.read_bytes()
    assert main(["stack", "--config", str(config), "--resume", str(folder), "--confirm-position"]) == 0
    after = check_frames_intact(folder)
    assert [f["index"] for f in after["frames"]] == list(range(1, SLICES + 1))
    assert after["frames"][0] == data["frames"][0]
    dropped = after["resumes"][0]["dropped"]
    assert after["resumes"][0]["from_slice"] == 2 and dropped[0]["file"] == bad.name
    assert "bytes" in dropped[0]["why"] or "sha256" in dropped[0]["why"]
    assert bad.read_bytes() == damaged  # never overwritten: reported, and the new shots use new names
    assert bad.name not in {f["file"] for f in after["frames"]}


def _refused(config: Path, folder: Path, capsys: Any, needle: str, *extra: str) -> None:
    before = snapshot(folder) if folder.is_dir() else {}
    rc = main(["stack", "--config", str(config), "--resume", str(folder), *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert (snapshot(folder) if folder.is_dir() else {}) == before


def test_resume_refuses_what_it_cannot_resume(config: Path, tmp_path: Path, capsys: Any) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    _refused(config, plain, capsys, "not a rig stack", "--confirm-position")
    folder = cancelled_stack(config)
    _refused(config, folder, capsys, "no home switch")  # not confirmed (no terminal to ask on)
    other = tmp_path / "other.toml"
    other.write_text("[rail]\nmax_um = 40000\n" + SIM.format(root=tmp_path / "stacks"))
    _refused(other, folder, capsys, "different machine config", "--confirm-position")
    assert main(["stack", "--config", str(config), "--resume", str(folder), "--confirm-position"]) == 0
    capsys.readouterr()
    _refused(config, folder, capsys, "already completed", "--confirm-position")


def test_gallery_resume_needs_the_position_confirmed_and_finishes(config: Path) -> None:
    folder = cancelled_stack(config)
    m = Machine.build(load_config(config))
    app = create_app(m)
    try:
        api = Api(app)
        stacks = api.get("/api/stacks").get_json()["stacks"]
        sid = next(s["id"] for s in stacks if s["name"] == folder.name)
        before = snapshot(folder)
        r = api.post(f"/api/stacks/{sid}/resume", {})
        assert r.status_code == 409 and "no home switch" in r.get_json()["error"]
        assert snapshot(folder) == before
        r = api.post(f"/api/stacks/{sid}/resume", {"position_confirmed": True})
        assert r.status_code == 202, r.get_json()
        status = idle(m)
        assert status.outcome == "completed" and status.frames_saved == SLICES
        r = api.post(f"/api/stacks/{sid}/resume", {"position_confirmed": True})
        assert r.status_code == 409 and "already completed" in r.get_json()["error"]
    finally:
        app.extensions["rig"].shutdown()
        m.close()
