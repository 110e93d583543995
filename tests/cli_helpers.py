"""``rig`` as a user runs it: child processes of ``python -m rig.cli``, and the check that a
stack folder's manifest and frames are intact."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

RIG = [sys.executable, "-m", "rig.cli"]


def rig(*args: str, env=None, **kw) -> subprocess.CompletedProcess:
    """Run ``rig ARGS`` to the end, output captured (text)."""
    return subprocess.run([*RIG, *args], capture_output=True, text=True, timeout=120, env=env, **kw)


def end(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Kill ``proc`` if it still runs, reap it and close its pipes (no leaked file handles)."""
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=timeout)


def start_rig(*args: str, env=None, stderr=subprocess.PIPE) -> subprocess.Popen:
    """Start ``rig ARGS`` unbuffered, stdout (and by default stderr) piped (text)."""
    env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
    return subprocess.Popen([*RIG, *args], stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)


def check_frames_intact(folder: Path) -> dict:
    """The manifest (valid JSON, always) and every frame it lists, byte for byte."""
    data = json.loads((folder / "stack.json").read_text())
    for frame in data["frames"]:
        blob = (folder / frame["file"]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == frame["sha256"], frame["file"]
    return data
