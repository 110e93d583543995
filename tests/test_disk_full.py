"""Issue 15, disk: a reserve kept during the run, ``stack.json`` never left ``running`` by a
full disk, ``rig serve`` starting on a full disk, and startup reconciliation (unlisted whole
frames adopted as ``recovered``, stale temporary files removed).

The full disk is a real one: a small tmpfs (needs root to mount; skipped otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.config import CameraConfig, MachineConfig, OutputConfig, Profile, RailConfig, SimCameraConfig, SimRailConfig
from rig.machine import Machine
from rig.recovery import OWN_FILES, reconcile
from tests.cli_helpers import check_frames_intact, start_rig


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {r.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path, leave_bytes: int) -> None:
    """Fill ``disk`` until ``leave_bytes`` are free."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(disk / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, free - leave_bytes))


def machine(root: Path, min_free_mb: float = 0.0) -> Machine:
    cfg = MachineConfig(
        rail=RailConfig(sim=SimRailConfig(time_scale=0.0, start_um=500.0)),
        camera=CameraConfig(sim=SimCameraConfig(width=320, height=240, noise=0.05)),
        output=OutputConfig(root=str(root), min_free_mb=min_free_mb),
    )
    return Machine.build(cfg)


def assert_accounted(folder: Path) -> dict:
    """stack.json final, every frame it lists intact, every other file reported nowhere: none."""
    data = check_frames_intact(folder)
    assert data["outcome"] != "running", data["outcome"]
    listed = {f["file"] for f in data["frames"]} | {"stack.json"}
    listed |= {p.name for p in folder.iterdir() if p.name in OWN_FILES}  # coverage map, growing result
    assert sorted(p.name for p in folder.iterdir()) == sorted(listed), "unlisted or temporary files left"
    return data


@pytest.mark.parametrize("leave_kb", [1100, 1160, 1250, 1400, 1700])
def test_a_disk_that_fills_mid_run_never_leaves_running_or_unlisted_frames(small_disk: Path, leave_kb: int) -> None:
    root = small_disk / "stacks"
    root.mkdir()
    fill(small_disk, leave_kb * 1024)
    with machine(root) as m:
        status = m.sequencer.start(Profile(slices=40, step_um=20, settle_s=0), "fill")
        status = m.sequencer.wait(60)
        assert not status.busy
    data = assert_accounted(Path(status.folder or ""))
    assert data["outcome"] in ("completed", "failed")
    if data["outcome"] == "failed":
        assert "disk" in data["error"] or "space" in data["error"], data["error"]


def test_the_run_stops_at_the_reserve_before_the_disk_is_full(small_disk: Path) -> None:
    root = small_disk / "stacks"
    root.mkdir()
    fill(small_disk, 2_000_000)
    with machine(root, min_free_mb=0.6) as m:
        status = m.sequencer.start(Profile(slices=60, step_um=20, settle_s=0), "reserve")
        status = m.sequencer.wait(60)
    data = assert_accounted(Path(status.folder or ""))
    assert data["outcome"] == "failed" and "reserve" in data["error"]
    assert 0 < len(data["frames"]) < 60
    st = os.statvfs(small_disk)
    assert st.f_bavail * st.f_frsize > 600_000  # the reserve was kept


def _interrupted_run(root: Path, slices: int = 5) -> Path:
    """A run as a SIGKILL right after saving frame 4 leaves it: listed up to frame 3, frame 4 on
    disk and unlisted, a writer's temporary file, the reserve, outcome running."""
    with machine(root) as m:
        status = m.sequencer.start(Profile(slices=slices, step_um=20, settle_s=0), "kill")
        status = m.sequencer.wait(30)
    folder = Path(status.folder or "")
    data = json.loads((folder / "stack.json").read_text())
    data["frames"] = data["frames"][:3]
    data["outcome"], data["error"], data["ended"] = "running", None, None
    (folder / "stack.json").write_text(json.dumps(data))
    for f in ("0005.jpg",):
        (folder / f).unlink()
    (folder / ".0005.jpg.999999999.tmp").write_bytes(b"\xff\xd8half a frame")
    (folder / ".rig-reserve").write_bytes(b"\0" * 1024)
    return folder


def test_startup_adopts_whole_unlisted_frames_and_removes_stale_temp_files(tmp_path: Path) -> None:
    folder = _interrupted_run(tmp_path / "stacks")
    report = reconcile(tmp_path / "stacks")
    data = assert_accounted(folder)
    assert data["outcome"] == "interrupted"
    assert [f["index"] for f in data["frames"]] == [1, 2, 3, 4]
    assert data["frames"][3]["file"] == "0004.jpg" and data["frames"][3]["recovered"] is True
    assert data["frames"][3]["position_um"] == data["planned_positions"][3]
    assert not any(f.get("recovered") for f in data["frames"][:3])
    assert report.interrupted == [str(folder)] and len(report.removed) == 2 and report.not_updated == []


def test_a_damaged_unlisted_frame_is_reported_not_adopted(tmp_path: Path) -> None:
    folder = _interrupted_run(tmp_path / "stacks")
    blob = (folder / "0004.jpg").read_bytes()
    (folder / "0004.jpg").write_bytes(blob[: len(blob) // 2] + b"\xff\xd9")
    report = reconcile(tmp_path / "stacks")
    data = json.loads((folder / "stack.json").read_text())
    assert len(data["frames"]) == 3 and data["outcome"] == "interrupted"
    assert report.unlisted == [str(folder / "0004.jpg")]


def test_rig_serve_starts_on_a_full_disk_and_says_which_stack_it_cannot_update(
    small_disk: Path, tmp_path: Path
) -> None:
    root = small_disk / "stacks"
    folder = _interrupted_run(root)
    for leftover in (".rig-reserve", ".0005.jpg.999999999.tmp"):  # nothing to free: the disk stays full
        (folder / leftover).unlink()
    fill(small_disk, 0)
    config = tmp_path / "rig.toml"
    config.write_text(f'[output]\nroot = "{root}"\nmin_free_mb = 0\n[rail.sim]\ntime_scale = 0\n')
    proc = start_rig("serve", "--config", str(config), "--port", "0", stderr=subprocess.STDOUT)
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "serving on" in line or len(lines) > 50:
                break
        text = "".join(lines)
        assert "serving on" in text, text
        assert "could not be updated" in text and folder.name in text
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # reaps it and closes its pipes
    assert json.loads((folder / "stack.json").read_text())["outcome"] == "running"  # untouched, reported
