"""``rig serve`` as a real process on 127.0.0.1: URL, SSE over waitress, SIGTERM handling, interrupted runs."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import flask  # noqa: F401 - core dependencies: missing is a failure, not a skip
import pytest
import waitress  # noqa: F401

from rig.cli.cmd_serve import load_or_create_token, sim_config  # noqa: E402


def test_sim_config_moves_in_real_time() -> None:
    cfg = sim_config()
    assert cfg.rail.sim.time_scale == 1 and cfg.rail.backend == "sim" and cfg.camera.backend == "sim"
    assert cfg.web.host == "127.0.0.1"


def test_pairing_token_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "rig" / "pairing-token"
    token = load_or_create_token(path)
    assert re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", token)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == token


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = self.call("GET", "/api/session")[1]["csrf"]

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "X-CSRF-Token": getattr(self, "csrf", "")}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


@pytest.fixture
def served(tmp_path: Path) -> Any:
    home = tmp_path / "home"
    old = home / "rig-stacks" / "20200101-000000"
    old.mkdir(parents=True)
    (old / "stack.json").write_text(json.dumps({"outcome": "running", "frames": [], "started": "2020-01-01"}))
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "serve", "--sim", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    try:
        while True:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if not line:
                raise AssertionError("rig serve exited early:\n" + "".join(lines))
            lines.append(line)
            m = re.search(r"serving on (http://127\.0\.0\.1:\d+/)", line)
            if m:
                break
        yield proc, m.group(1).rstrip("/"), home, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
        proc.stdout.close()  # type: ignore[union-attr]


def test_serve_prints_the_url_streams_and_stops_cleanly_on_sigterm(served: Any) -> None:
    proc, base, home, banner = served
    assert "marked interrupted" in banner
    c = Client(base)
    status, stacks = c.call("GET", "/api/stacks")
    assert status == 200 and stacks["stacks"][0]["outcome"] == "interrupted"
    # SSE through waitress: the snapshot arrives at once
    with urllib.request.urlopen(base + "/api/events", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        first = b""
        while b"event: snapshot" not in first:
            first += r.read1(4096)
    status, body = c.call("POST", "/api/start", {"profile": {"slices": 5, "settle_s": 60, "start_um": 500}})
    assert status == 202, body
    folder = Path(body["status"]["folder"])
    deadline = time.monotonic() + 30
    while c.call("GET", "/api/status")[1]["status"]["state"] != "settling":
        assert time.monotonic() < deadline, "the stack never reached its first settle"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "SIGTERM" in out and "interrupted" in out
    manifest = json.loads((folder / "stack.json").read_text())
    assert manifest["outcome"] == "interrupted"


def test_sigterm_is_never_lost_while_a_client_disconnects(served: Any) -> None:
    """A SIGTERM that lands while waitress handles a closing connection used to be swallowed by
    waitress's channel error handler, so `systemctl stop` hung until SIGKILL."""
    import http.client

    proc, base, _home, _banner = served
    port = int(base.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    assert conn.getresponse().read()
    conn.close()
    proc.send_signal(signal.SIGTERM)  # at once: the server is closing the channel right now
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "SIGTERM: stopping" in out, out


def test_serve_refuses_a_busy_port(tmp_path: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
        r = subprocess.run(
            [sys.executable, "-m", "rig.cli", "serve", "--sim", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        s.close()
    assert r.returncode == 2 and "cannot listen" in r.stderr


# ---------------------------------------------------------------- systemd readiness (Type=notify)
def _datagram_socket(address: str) -> Any:
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(60)
    return sock


def test_notify_sends_to_a_path_and_an_abstract_socket(tmp_path: Path) -> None:
    from rig.cli.sdnotify import notify

    path = str(tmp_path / "notify")
    with _datagram_socket(path) as sock:
        assert notify("READY=1\nSTATUS=ok", {"NOTIFY_SOCKET": path})
        assert sock.recv(4096) == b"READY=1\nSTATUS=ok"
    name = f"rig-test-{os.getpid()}-{time.monotonic_ns()}"
    with _datagram_socket("\0" + name) as sock:
        assert notify("STOPPING=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"STOPPING=1"


def test_notify_outside_systemd_or_to_a_dead_socket_is_harmless(tmp_path: Path) -> None:
    from rig.cli.sdnotify import notify

    assert notify("READY=1", {}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": ""}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": "vsock:2:1234"}) is False


def test_serve_tells_systemd_ready_once_it_listens_and_stopping_on_sigterm(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "NOTIFY_SOCKET": path}
    with _datagram_socket(path) as sock:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rig.cli", "serve", "--sim", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            ready = sock.recv(4096).decode()
            assert ready.startswith("READY=1\nSTATUS=serving on http://127.0.0.1:"), ready
            base = re.search(r"(http://127\.0\.0\.1:\d+)/", ready).group(1)  # type: ignore[union-attr]
            with urllib.request.urlopen(base + "/api/status", timeout=10) as r:  # listening already
                assert r.status == 200
            proc.send_signal(signal.SIGTERM)
            assert sock.recv(4096).decode().startswith("STOPPING=1")
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0, out
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)
            proc.stdout.close()  # type: ignore[union-attr]
