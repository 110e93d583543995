"""The wheel that `rig install` pip-installs into /opt/rig/venv (non-editable) carries the web UI.

The templates and static files live in the checkout's top-level web/ folder; pyproject.toml
ships them as the data package ``rig._web``. These tests build the wheel offline from a copy
of the sources, look inside it, install it into a temporary folder and run ``rig serve`` from
there, far from the checkout, to see that it finds its pages.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rig.web.app import WEB_DIR, find_web_dir

CHECKOUT = Path(__file__).resolve().parents[1]
CAN_BUILD = (  # setuptools >= 77 (SPDX licence) and pip, plus bdist_wheel from wheel or setuptools itself
    "import setuptools.build_meta, pip\n"
    "assert int(setuptools.__version__.split('.')[0]) >= 77\n"
    "try:\n import wheel\nexcept ImportError:\n import setuptools.command.bdist_wheel"
)


def _builder() -> str | None:
    """A Python that can build the wheel offline: setuptools plus bdist_wheel, no downloads."""
    for python in (sys.executable, "/usr/bin/python3"):
        if os.path.exists(python) and subprocess.run([python, "-c", CAN_BUILD], capture_output=True).returncode == 0:
            return python
    return None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = _builder()
    if python is None:
        pytest.fail("no Python here has setuptools and wheel to build a wheel offline (pip install -e '.[dev]')")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a clean copy: no build/ leftovers, nothing written into the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(CHECKOUT / name, src / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("rig", "web"):
        shutil.copytree(CHECKOUT / name, src / name, ignore=junk)
    done = subprocess.run(
        [python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"), "."],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (found,) = (tmp / "dist").glob("rig-*.whl")
    return found


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    code = {
        ".".join(p.parent.relative_to(CHECKOUT).parts)
        for p in (CHECKOUT / "rig").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    data = {"rig._web"} | {f"rig._web.{d.name}" for d in WEB_DIR.iterdir() if d.is_dir() and d.name != "__pycache__"}
    assert listed == code | data


def test_the_wheel_holds_the_templates_static_files_and_all_modules(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in sorted(WEB_DIR.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            assert f"rig/_web/{path.relative_to(WEB_DIR).as_posix()}" in names
    for path in sorted((CHECKOUT / "rig").rglob("*.py")):
        assert path.relative_to(CHECKOUT).as_posix() in names
    assert "rig/_web/templates/base.html" in names and "rig/_web/static/app.js" in names
    assert not any(n.startswith("web/") for n in names)


@pytest.fixture
def installed(wheel: Path, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", "--target", site, wheel],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if k != "RIG_WEB_DIR"}
    env |= {"PYTHONPATH": str(site), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    env["PYTHONUNBUFFERED"] = "1"
    yield site, env


def test_an_installed_rig_finds_its_web_files_away_from_the_checkout(installed: tuple[Path, dict[str, str]]) -> None:
    site, env = installed
    probe = "import rig.web.app as a; print(a.__file__); print(a.find_web_dir())"
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=site.parent, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    module, web = out.stdout.split()
    assert Path(module).is_relative_to(site), module  # the installed copy, not the checkout
    assert Path(web) == site / "rig" / "_web"


def test_rig_serve_from_the_installed_wheel_serves_pages_and_static_files(
    installed: tuple[Path, dict[str, str]],
) -> None:
    site, env = installed
    proc = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "serve", "--sim", "--port", "0"],
        cwd=site.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = []
        while True:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            assert line, "rig serve exited early:\n" + "".join(lines)
            lines.append(line)
            m = re.search(r"serving on http://127\.0\.0\.1:(\d+)/", line)
            if m:
                break
        conn = http.client.HTTPConnection("127.0.0.1", int(m.group(1)), timeout=10)
        for path, expected in (("/", b"<!doctype html>"), ("/static/app.js", b"EventSource"), ("/jog", b"jog.js")):
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            assert resp.status == 200 and expected in body, (path, resp.status, body[:300])
        conn.close()
    finally:
        proc.terminate()
        try:
            assert proc.wait(30) == 0, "rig serve did not stop cleanly on SIGTERM"
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)  # reap it and close its pipe


def test_web_dir_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RIG_WEB_DIR", raising=False)
    assert find_web_dir() == WEB_DIR  # the checkout (editable install): rig/_web does not exist here
    assert find_web_dir(tmp_path) == tmp_path
    monkeypatch.setenv("RIG_WEB_DIR", str(tmp_path / "env"))
    assert find_web_dir() == tmp_path / "env"
    assert find_web_dir(tmp_path) == tmp_path  # an explicit folder wins


def test_create_app_refuses_a_folder_without_templates(tmp_path: Path) -> None:
    from rig.errors import RigError
    from rig.machine import Machine
    from tests.test_web import sim_config

    machine = Machine.build(sim_config(tmp_path / "stacks"), profiles_dir=tmp_path / "profiles")
    try:
        from rig.web import create_app

        with pytest.raises(RigError, match="web UI's files are missing"):
            create_app(machine, web_dir=tmp_path)
    finally:
        machine.close()
