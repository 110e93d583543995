"""`rig stack`, `rig check`, `rig profile` as a user runs them (real subprocesses)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.cli_helpers import check_frames_intact, end, rig, start_rig

SIM = """
[rail.sim]
time_scale = {scale}
start_um = 500
[camera.sim]
width = 96
height = 72
[output]
root = "{root}"
min_free_mb = 0
"""


@pytest.fixture
def config(tmp_path):
    def make(scale: float = 0.0) -> Path:
        path = tmp_path / f"sim-{scale}.toml"
        path.write_text(SIM.format(scale=scale, root=tmp_path / "stacks"))
        return path

    return make


def folders(tmp_path) -> list[Path]:
    root = tmp_path / "stacks"
    return sorted(root.iterdir()) if root.exists() else []


def test_stack_runs_and_prints_the_folder(tmp_path, config):
    result = rig("stack", "--config", str(config()), "--slices", "30", "--step-um", "50", "--settle-s", "0")
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.strip())
    assert folder.parent == tmp_path / "stacks"
    data = check_frames_intact(folder)
    assert data["outcome"] == "completed" and len(data["frames"]) == 30
    assert data["frames"][-1]["position_um"] == 500 + 29 * 50


def test_version_and_check(config):
    assert rig("--version").stdout.strip() == "rig 0.1.0"
    result = rig("check", "--config", str(config()))
    assert result.returncode == 0, result.stderr
    assert "rail:    sim" in result.stdout and "travel 0..100000 um" in result.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--slices", "1"], "'--slices' = 1: out of range"),
        (["--slices", "100000"], "'--slices' = 100000: out of range"),
        (["--step-um", "-5"], "'--step-um' = -5.0: out of range"),
        (["--step-um", "nan"], "'--step-um' = nan: must be a finite number"),
        (["--slices", "50", "--step-um", "5000"], "beyond the soft limits"),
        (["--out", "@GRP/@NOPE"], "unknown token '@NOPE'"),
        (["--profile", "missing"], "no profile named 'missing'"),
        (["--step-um", "abc"], "'abc' is not a number"),
        (["--out", "a" * 300 + "/@GRP/@GCT4"], "too long"),
        (["--out", "@GRP/" + "b" * 300 + "@GCT4"], "too long"),
        (["--slices", "12", "--out", "@GRP/@GCT1"], "1-digit counter"),
    ],
)
def test_bad_input_exits_2_before_touching_anything(tmp_path, config, args, needle):
    result = rig("stack", "--config", str(config()), *args)
    assert result.returncode == 2
    assert needle in result.stderr
    lines = result.stderr.strip().splitlines()
    ours = [line for line in lines if not line.startswith(("usage:", " "))]  # argparse adds its usage lines
    assert len(ours) == 1 and needle in ours[0]
    assert folders(tmp_path) == []


def test_unwritable_output_folder(tmp_path, config):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    result = rig("stack", "--config", str(config()), "--out", f"{blocker}/@GRP/@GCT4")
    assert result.returncode == 2 and "is not a folder" in result.stderr
    assert blocker.read_text() == "not a folder"


@pytest.mark.parametrize("text, needle", [("[rail]\nmax_um = nan\n", "rail.max_um"), ("[rail\n", "not valid TOML")])
def test_malformed_config_exits_2(tmp_path, text, needle):
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    result = rig("stack", "--config", str(bad))
    assert result.returncode == 2 and needle in result.stderr and str(bad) in result.stderr


def _start_slow_stack(config, *extra):
    return start_rig(
        "stack", "--config", str(config(1.0)), "--slices", "30", "--step-um", "50", "--settle-s", "0.15", *extra
    )


def _wait_frames(tmp_path, n, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in folders(tmp_path):
            if len(list(folder.glob("[0-9]*.jpg"))) >= n:
                return folder
        time.sleep(0.02)
    raise AssertionError("frames did not appear")


def test_ctrl_c_cancels_returns_and_exits_130(tmp_path, config):
    proc = _start_slow_stack(config)
    folder = _wait_frames(tmp_path, 4)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    data = check_frames_intact(folder)
    assert data["outcome"] == "cancelled" and 4 <= len(data["frames"]) < 30
    assert "cancelling, returning the rail" in err


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_hangup_stop_safely_as_interrupted(tmp_path, config, sig):
    proc = _start_slow_stack(config)
    folder = _wait_frames(tmp_path, 3)
    proc.send_signal(sig)
    proc.communicate(timeout=30)
    assert proc.returncode == 143
    data = check_frames_intact(folder)
    assert data["outcome"] == "interrupted" and 3 <= len(data["frames"]) < 30


def test_sigkill_mid_run_leaves_saved_frames_and_a_valid_manifest(tmp_path, config):
    proc = _start_slow_stack(config)
    folder = _wait_frames(tmp_path, 5)
    end(proc)  # SIGKILL
    data = check_frames_intact(folder)
    assert data["outcome"] == "running" and len(data["frames"]) >= 4
    listed = {f["file"] for f in data["frames"]}
    on_disk = {p.name for p in folder.glob("[0-9]*.jpg")}  # frames (not composite.jpg)
    assert listed <= on_disk and len(on_disk - listed) <= 1  # at most the frame being recorded


def test_profile_commands(tmp_path, config, monkeypatch, capsys):
    """`rig profile` in-process (``rig.cli.main``; README's example runs it as a process); the
    stack that uses the saved profile is a real ``rig`` process."""
    from rig.cli import main

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))

    def profile(*args: str) -> tuple[int, str, str]:
        try:
            code = main(["profile", *args])
        except SystemExit as exit:  # argparse's own errors
            code = int(exit.code or 0)
        out = capsys.readouterr()
        return code, out.out, out.err

    assert "(no profiles" in profile("list")[1]
    code, _, err = profile("save", "coin", "--slices", "12", "--step-um", "40", "--settle-s", "0")
    assert code == 0, err
    assert (tmp_path / "xdg/rig/profiles/coin.toml").exists()
    assert profile("list")[1].split() == ["coin"]
    shown = profile("show", "coin")[1]
    assert "slices = 12" in shown and "step_um = 40.0" in shown
    code, _, err = profile("save", "coin", "--slices", "1")
    assert code == 2 and "out of range" in err
    assert "slices = 12" in profile("show", "coin")[1]  # untouched
    run = rig("stack", "--config", str(config()), "--profile", "coin", env=dict(os.environ))
    assert run.returncode == 0, run.stderr
    assert len(check_frames_intact(Path(run.stdout.strip()))["frames"]) == 12
    assert profile("delete", "coin")[0] == 0
    assert profile("show", "coin")[0] == 2


def test_stack_with_merge_writes_the_merged_image_beside_the_frames(tmp_path, config):
    result = rig("stack", "--config", str(config()), "--slices", "6", "--step-um", "250", "--settle-s", "0", "--merge")
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.strip())
    assert "merged into" in result.stderr
    for name in ("merged.tif", "merged.jpg", "depth.png"):
        assert (folder / name).stat().st_size > 1000, name
    assert check_frames_intact(folder)["outcome"] == "completed"


def test_cancelled_stack_is_not_merged(tmp_path, config):
    proc = _start_slow_stack(config, "--merge")
    folder = _wait_frames(tmp_path, 3)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert not (folder / "merged.tif").exists() and not list(folder.glob(".*part*"))
    assert check_frames_intact(folder)["outcome"] == "cancelled"


def test_stack_with_merge_records_the_merge_in_stack_json(tmp_path, config):
    result = rig("stack", "--config", str(config()), "--slices", "4", "--step-um", "300", "--settle-s", "0", "--merge")
    assert result.returncode == 0, result.stderr
    merge = check_frames_intact(Path(result.stdout.strip()))["merge"]
    assert merge["state"] == "done" and merge["error"] is None and merge["finished"]
    assert merge["outputs"] == ["merged.tif", "merged.jpg", "depth.png"]


def test_a_cancelled_stack_records_its_merge_as_cancelled(tmp_path, config):
    proc = _start_slow_stack(config, "--merge")
    folder = _wait_frames(tmp_path, 2)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    data = check_frames_intact(folder)
    assert data["outcome"] == "cancelled" and data["merge"]["state"] == "cancelled" and not data["merge"]["outputs"]
