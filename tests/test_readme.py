"""README.md's examples, run exactly as written (by bash, from the checkout, on the simulated rig),
so a renamed file, command or flag fails the build.

HOME and the XDG folders point at a temporary folder. The README names one stack folder,
``~/rig-stacks/20261123-143000``: it stands for the folder the stack before it printed, so that
folder is renamed to it first. ``rig serve`` is started, asked for its status, and stopped with
SIGTERM as systemd would.

Every example runs, in README order, within its chain: an example that names something in the
home folder (``~/``) or a saved ``--profile`` uses what the examples before it made, so it runs
after them in the same home; any other example starts a chain of its own. The chains are separate
tests, so pytest-xdist runs them side by side.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDER = re.compile(r"~/rig-stacks/(\d{8}-\d{6})")


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)
    return [line.strip() for block in blocks for line in block.splitlines() if line.startswith(".venv/bin/rig ")]


def readme_chains() -> list[list[str]]:
    """The examples in README order, cut before each one that uses nothing an earlier one made."""
    chains: list[list[str]] = []
    for command in readme_commands():
        if chains and ("~/" in command or "--profile" in command):
            chains[-1].append(command)
        else:
            chains.append([command])
    return chains


def test_the_readme_has_examples_to_run():
    commands = readme_commands()
    assert len(commands) >= 5 and any(" serve" in c for c in commands), commands
    assert [c for chain in readme_chains() for c in chain] == commands  # each one, once, in order


@pytest.mark.parametrize(
    "chain", readme_chains(), ids=[f"{i}-{chain[0].split()[1]}" for i, chain in enumerate(readme_chains(), 1)]
)
def test_every_readme_example_runs_as_written(tmp_path, chain):
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "PYTHONUNBUFFERED": "1",
    }
    before = set(os.listdir(ROOT))
    last_folder: Path | None = None
    for command in chain:
        named = FOLDER.search(command)
        if named and last_folder is not None and not (home / "rig-stacks" / named.group(1)).exists():
            last_folder = last_folder.rename(home / "rig-stacks" / named.group(1))
        if re.match(r"\.venv/bin/rig serve\b", command):
            _serve(command, env)
            continue
        result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        printed = result.stdout.strip().splitlines()
        if printed and Path(printed[-1]).is_dir():
            last_folder = Path(printed[-1])
            assert last_folder.is_relative_to(home), command  # runs land in the temporary home
        if " merge" in command and named:
            out = home / "rig-stacks" / named.group(1)
            assert (out / "merged.tif").stat().st_size > 0 and (out / "depth.png").stat().st_size > 0
        if "--merge" in command:
            assert last_folder is not None and (last_folder / "merged.tif").stat().st_size > 0, command
    assert set(os.listdir(ROOT)) == before  # nothing written into the checkout


def _serve(command: str, env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        ["bash", "-c", "exec " + command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        while not (match := re.search(r"serving on (http://[^ ]+/)", lines[-1] if lines else "")):
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, f"{command} exited early:\n" + "".join(lines)
            lines.append(line)
        with urllib.request.urlopen(match.group(1) + "api/status", timeout=30) as response:
            assert response.status == 200
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, "".join(lines) + out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
