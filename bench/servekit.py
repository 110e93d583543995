"""Helpers the reliability bench scripts share: a ``rig serve`` child process on a simulated
rig, and a JSON client that carries the CSRF token like the pages do."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SIM_CONFIG = """
[rail]
max_speed_mm_s = 20.0
[rail.sim]
time_scale = {time_scale}
start_um = 500
{rail_extra}
[camera.sim]
width = {width}
height = {height}
[output]
root = "{root}"
min_free_mb = {min_free_mb}
[web]
threads = {threads}
max_live_viewers = {max_live_viewers}
"""


def write_config(
    folder: Path,
    *,
    time_scale: float = 0.0,
    width: int = 640,
    height: int = 480,
    min_free_mb: float = 0,
    rail_extra: str = "",
    threads: int = 32,
    max_live_viewers: int = 24,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "rig.toml"
    path.write_text(
        SIM_CONFIG.format(
            time_scale=time_scale,
            width=width,
            height=height,
            root=folder / "stacks",
            min_free_mb=min_free_mb,
            rail_extra=rail_extra,
            threads=threads,
            max_live_viewers=max_live_viewers,
        )
    )
    return path


class Serve:
    """``rig serve --config CONFIG --port 0`` as a child process."""

    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rig.cli", "serve", "--config", str(config), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
            cwd=ROOT,
        )
        self.output: list[str] = []
        self.base = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            m = re.search(r"serving on (http://\S+?)/ ", line)
            if m:
                self.base = m.group(1)
                break
        if not self.base:
            raise RuntimeError("rig serve did not start:\n" + "".join(self.output))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int | None = None) -> int:
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
        try:
            return self.proc.wait(60)
        finally:
            if self.proc.stdout:
                self.proc.stdout.close()


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.csrf = ""
        self.csrf = self.call("GET", "/api/session")[1]["csrf"]

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "X-CSRF-Token": self.csrf}
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def status(self) -> dict[str, Any]:
        return self.call("GET", "/api/status")[1]["status"]

    def wait_idle(self, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = self.status()
            if not s["busy"]:
                return s
            time.sleep(0.05)
        raise TimeoutError("the rig stayed busy")
