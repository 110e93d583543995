"""A merge that cannot fit in memory says so before any work, and a merge killed by the kernel's
out-of-memory killer is reported as such, with no partial output left behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from rig.cli import main
from rig.errors import MergeError
from rig.merge import memory
from rig.merge.child import start_merge


def _stack(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for k in range(n):
        img = cv2.GaussianBlur((rng.random((72, 96, 3)) * 255).astype(np.uint8), (0, 0), 0.5 + k)
        cv2.imwrite(str(folder / f"s{k}.png"), img)
    return folder


def test_too_little_memory_is_a_clear_error_before_any_output(tmp_path, capsys, monkeypatch):
    src = _stack(tmp_path / "s")
    monkeypatch.setattr(memory, "available_mb", lambda: (20.0, 5.0))
    out = tmp_path / "out.tif"
    assert main(["merge", str(src), "-o", str(out), "--depthmap", str(tmp_path / "d.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(src) in err[0] and "needs about" in err[0] and "20 MB available" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]
    # enough memory with swap: merges (with a warning in the log)
    monkeypatch.setattr(memory, "available_mb", lambda: (20.0, 4000.0))
    assert main(["merge", str(src), "-o", str(out)]) == 0 and out.is_file()


def test_memory_estimate_follows_the_measured_figures():
    # bench/merge_bench.py: 2 MP 8-bit 152 MB, 2 MP 16-bit 185 MB, 12 MP 8-bit 643 MB
    assert memory.estimate_mb(1600, 1200, deep=False) == pytest.approx(152, rel=0.1)
    assert memory.estimate_mb(1600, 1200, deep=True) == pytest.approx(185, rel=0.1)
    assert memory.estimate_mb(4000, 3000, deep=False) == pytest.approx(643, rel=0.1)
    assert memory.estimate_mb(8256, 5504, deep=False, raw=True) > 3000  # 45 MP raw: not on a 2 GB Pi


def test_meminfo_is_read(tmp_path):
    info = tmp_path / "meminfo"
    info.write_text("MemTotal:  1000000 kB\nMemAvailable:  524288 kB\nSwapFree:  102400 kB\n")
    assert memory.available_mb(info) == (512.0, 100.0)
    info.write_text("garbage")
    assert memory.available_mb(info) is None
    assert memory.available_mb(tmp_path / "missing") is None


def test_child_killed_by_the_oom_killer_is_reported_and_leaves_nothing(tmp_path):
    stack = tmp_path / "stack"
    stack.mkdir()  # follow mode waits for stack.json: the child is alive until killed
    out = tmp_path / "merged.tif"
    job = start_merge(stack, out, follow=True)
    deadline = time.monotonic() + 20
    while job.stage() != "waiting for slices" and time.monotonic() < deadline:
        time.sleep(0.05)
    (tmp_path / f".{out.name}.abc.part").write_bytes(b"half")  # what a killed writer leaves
    os.kill(job.pid, signal.SIGKILL)
    with pytest.raises(MergeError, match="killed .*out-of-memory"):
        job.result(timeout=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack"]
