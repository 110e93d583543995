"""Shared test set-up.

libgphoto2's virtual camera is chosen per process at import time, so VCAMERADIR is set
here, before anything imports gphoto2. gpiozero gets the mock pin factory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
