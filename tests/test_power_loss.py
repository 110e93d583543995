"""What systemd and a pulled plug do to a running stack, with real processes on the
simulated rig (moves take real time):

* SIGTERM (``systemctl stop rig``, a poweroff, the shutdown button) during a stack: the
  rail stops, every saved frame stays intact, the manifest says ``interrupted``;
* SIGKILL mid-stack (the nearest a test gets to a power cut: no handler runs): the next
  ``rig serve`` shows the stack as interrupted, keeps its frames and moves nothing.

Both for ``rig serve`` (what rig.service runs) and ``rig stack`` (the command line).
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.cli_helpers import check_frames_intact, end, start_rig

SIM = """
[rail]
max_speed_mm_s = 2.0
accel_mm_s2 = 10.0
[rail.sim]
time_scale = 1.0
start_um = 500
[camera.sim]
width = 96
height = 72
[output]
root = "{root}"
min_free_mb = 0
"""
PROFILE = {"slices": 40, "step_um": 50, "settle_s": 0.12, "return_to_start": False}


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "rig.toml"
    path.write_text(SIM.format(root=tmp_path / "stacks"))
    return path


def stack_folders(tmp_path) -> list[Path]:
    root = tmp_path / "stacks"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []


def wait_frames(tmp_path, n: int, timeout: float = 30) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in stack_folders(tmp_path):
            manifest = folder / "stack.json"
            if manifest.exists() and len(json.loads(manifest.read_text())["frames"]) >= n:
                return folder
        time.sleep(0.02)
    raise AssertionError(f"{n} frames did not appear")


def frames_listed(folder: Path) -> int:
    """Frames ``stack.json`` lists right now (a frame saved between this read and a signal
    counts as the one in flight)."""
    return len(json.loads((folder / "stack.json").read_text())["frames"])


class Serve:
    """``rig serve`` in a child process, on a free port, driven over its JSON API."""

    def __init__(self, config: Path) -> None:
        args = ("serve", "--config", str(config), "--host", "127.0.0.1", "--port", "0")
        self.proc = start_rig(*args, stderr=subprocess.STDOUT)
        self.lines: list[str] = []
        self._port = threading.Event()
        self.url = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self._port.wait(60):
            self.proc.kill()
            raise AssertionError("rig serve did not start:\n" + "".join(self.lines))
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = self.get("/api/session")["csrf"]

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line)
            m = re.search(r"serving on (http://127\.0\.0\.1:\d+)/", line)
            if m:
                self.url = m.group(1)
                self._port.set()

    def get(self, path: str) -> dict:
        with self.opener.open(self.url + path, timeout=10) as resp:
            return json.loads(resp.read())

    def post(self, path: str, body: dict) -> dict:
        req = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "X-CSRF-Token": self.csrf},
        )
        with self.opener.open(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self, sig: int, timeout: float = 40) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def output(self) -> str:
        return "".join(self.lines)

    def close(self) -> None:
        """Kill it if it still runs, reap it, close its output pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(10)
        self.proc.stdout.close()  # type: ignore[union-attr]


@pytest.fixture
def serve(config):
    started: list[Serve] = []

    def start() -> Serve:
        s = Serve(config)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


def test_sigterm_to_rig_serve_mid_stack_stops_the_rail_and_marks_interrupted(tmp_path, serve):
    rig = serve()
    rig.post("/api/start", {"name": "field", "profile": PROFILE})
    folder = wait_frames(tmp_path, 4)
    t_term = time.time()
    saved_at_term = frames_listed(folder)
    assert rig.stop(signal.SIGTERM) == 0, rig.output()
    t_exit = time.time()
    data = check_frames_intact(folder)
    assert data["outcome"] == "interrupted", rig.output()
    assert 4 <= len(data["frames"]) < PROFILE["slices"]
    assert len(data["frames"]) <= saved_at_term + 2  # the stack stopped: at most the shot in flight after SIGTERM
    assert t_exit - t_term < 10
    assert "cancelled (interrupted)" in rig.output()


def test_after_sigkill_of_rig_serve_a_restart_shows_the_interrupted_stack_and_moves_nothing(tmp_path, serve):
    rig = serve()
    rig.post("/api/start", {"name": "field", "profile": PROFILE})
    folder = wait_frames(tmp_path, 4)
    rig.close()  # SIGKILL, a power cut: no handler runs
    before = check_frames_intact(folder)
    assert before["outcome"] == "running"
    _restart_shows_interrupted_and_moves_nothing(tmp_path, serve, folder, len(before["frames"]))


def _restart_shows_interrupted_and_moves_nothing(tmp_path, serve, folder: Path, n_frames: int) -> None:
    rig = serve()
    data = check_frames_intact(folder)
    assert data["outcome"] == "interrupted" and len(data["frames"]) == n_frames
    assert "marked interrupted" in rig.output()
    listed = rig.get("/api/stacks")
    assert str(folder) in listed["interrupted"]
    first = rig.get("/api/status")["status"]
    assert first["state"] == "idle" and first["position"] == 500  # the sim rail's power-on position
    time.sleep(1.0)
    second = rig.get("/api/status")["status"]
    assert second["state"] == "idle" and second["position"] == first["position"]
    assert stack_folders(tmp_path) == [folder]  # no new stack started by itself
    assert rig.stop(signal.SIGTERM) == 0
    assert check_frames_intact(folder)["outcome"] == "interrupted"


def _start_stack(config: Path) -> subprocess.Popen:
    args = ["--slices", str(PROFILE["slices"]), "--step-um", "50", "--settle-s", str(PROFILE["settle_s"])]
    return start_rig("stack", "--config", str(config), *args, "--no-return")


def test_sigterm_to_rig_stack_mid_stack_marks_interrupted(tmp_path, config):
    proc = _start_stack(config)
    folder = wait_frames(tmp_path, 4)
    saved_at_term = frames_listed(folder)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0, "an interrupted stack must not look like success"
    data = check_frames_intact(folder)
    assert data["outcome"] == "interrupted", err
    assert 4 <= len(data["frames"]) < PROFILE["slices"]
    assert len(data["frames"]) <= saved_at_term + 2  # at most the shot in flight after SIGTERM


def test_after_sigkill_of_rig_stack_rig_serve_shows_it_interrupted(tmp_path, config, serve):
    proc = _start_stack(config)
    folder = wait_frames(tmp_path, 4)
    end(proc)  # SIGKILL: a power cut
    before = check_frames_intact(folder)
    assert before["outcome"] == "running"
    _restart_shows_interrupted_and_moves_nothing(tmp_path, serve, folder, len(before["frames"]))
