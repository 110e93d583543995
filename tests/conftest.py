"""Shared test set-up.

libgphoto2's virtual camera is chosen per process at import time, so VCAMERADIR is set
here, before anything imports gphoto2. gpiozero gets the mock pin factory.
"""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path
from typing import Any

import pytest

_VCAM = Path(tempfile.mkdtemp(prefix="rig-vcamera-"))
os.environ.setdefault("VCAMERADIR", str(_VCAM))
os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")


def _seed_virtual_camera(folder: Path) -> None:
    """The virtual camera returns a copy of the first JPEG in VCAMERADIR for every capture."""
    if any(folder.glob("*.jpg")):
        return
    import cv2
    import numpy as np

    rng = np.random.default_rng(7)
    img = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(folder / "vcam0001.jpg"), img)


_seed_virtual_camera(Path(os.environ["VCAMERADIR"]))

# The Ctrl-C tests send SIGINT to `rig` processes, as a terminal does. A shell that starts a job in
# the background (`make test &`, `nohup ... &`) starts it with SIGINT ignored, which every child
# inherits, and Python then never raises KeyboardInterrupt. A handled signal is reset to the default
# on exec, so handling it here gives every `rig` process the tests start a terminal's Ctrl-C.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="module", autouse=True)
def _module_config_home(tmp_path_factory):
    """Module-scoped rigs (the browser tests' servers) are built before the per-test home below
    exists: they get a config folder of their module's own, so what one module's rig stored (the
    last range sweep, a calibration: per machine config, rig.range_store) never reaches another
    module's rig, nor the real user's ~/.config."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("module-config")))
        yield


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Profiles and default output never touch the real user's folders (nor the test's tmp_path)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))  # the gallery catalogue


# The web tests' rig and app (tests/test_web*.py): the small simulated rig of
# tests.test_web.sim_config with the Flask app on it; a module may define its own instead.
@pytest.fixture
def machine(tmp_path):
    from rig.machine import Machine
    from tests.test_web import sim_config

    m = Machine.build(sim_config(tmp_path / "stacks"), profiles_dir=tmp_path / "profiles")
    yield m
    m.close()


@pytest.fixture
def app(machine):
    from rig.web import create_app

    app = create_app(machine)
    yield app
    app.extensions["rig"].shutdown()


@pytest.fixture
def api(app):
    from tests.test_web import Api

    return Api(app)


# The suite's longest tests (measured with --durations; the slowest first), started first so that
# pytest-xdist's workers share them and no long test is left running alone at the end. Only the
# order changes: every test still runs. A test not listed keeps its place after these.
SLOW_FIRST = (
    "tests/test_readme.py::test_every_readme_example_runs_as_written",
    "tests/test_browser.py",
    "tests/test_browser_focus.py",
    "tests/test_range_focus.py",
    "tests/test_web_fuzz.py",
    "tests/test_cli_stack.py",
    "tests/test_browser_archive.py",
    "tests/test_browser_field_kit.py",
    "tests/test_merge_batch.py",
    "tests/test_power_loss.py",
    "tests/test_archive.py",
    "firmware/tests/test_fw_pio.py",
    "tests/test_merge.py",
    "tests/test_web_gallery.py",
    "tests/test_calibrate.py",
    "tests/test_install_package.py",
    "tests/test_web_serve.py",
)


def _slow_rank(item: pytest.Item) -> int:
    for rank, prefix in enumerate(SLOW_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(SLOW_FIRST)


# Files whose tests share a module-scoped fixture (one browser and one server, one built wheel, one
# stack): all their tests go to one worker, so it is built once rather than once per worker.
ONE_WORKER_FILES = frozenset(
    {
        "tests/test_browser.py",
        "tests/test_browser_archive.py",
        "tests/test_browser_field_kit.py",
        "tests/test_browser_focus.py",
        "tests/test_install_package.py",
        "tests/test_merge.py",
        "tests/test_systemd.py",
        "tests/test_web_fuzz.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_slow_rank)  # stable: the order within a file (and of the rest) is kept


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`pytest -n N` (dist "load", as `make test` runs it): tests are handed out one by one in the
    order above, except that a file of ONE_WORKER_FILES is one unit. (pytest-xdist's own
    ``--dist loadgroup`` cannot do this under pytest 9: it renames ``item._nodeid``, which pytest 9
    no longer reads.)"""
    if config.getvalue("dist") != "load":
        return None  # any other --dist: pytest-xdist's own scheduler
    from xdist.scheduler import LoadScopeScheduling

    class SlowFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in ONE_WORKER_FILES else nodeid

    config.option.loadscopereorder = False  # keep the order of pytest_collection_modifyitems
    return SlowFirst(config, log)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`pytest -n auto` (as `make test` runs it): two workers per core and one more (at most 16).
    Many tests spend much of their time waiting (a child process, a browser, a settle time, a
    real-time rail): on 2 cores the suite kept them busy only 1.3 of the time with 3 workers
    (pytest 186 s) and took 153 s with 5. PYTEST_XDIST_AUTO_NUM_WORKERS still wins."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    return min(2 * len(os.sched_getaffinity(0)) + 1, 16)
