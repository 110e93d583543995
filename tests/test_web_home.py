"""The Jog page's Home button: there only when the rail has a home switch (``can_home``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import flask  # noqa: F401 - a core dependency: missing is a failure, not a skip
import pytest

from rig.config import MachineConfig  # noqa: E402
from rig.machine import Machine  # noqa: E402
from rig.web import create_app  # noqa: E402
from rig.web.context import rail_can_home  # noqa: E402
from tests.test_web import Api, sim_config  # noqa: E402


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Any]:
    m = Machine.build(sim_config(tmp_path / "stacks"), profiles_dir=tmp_path / "profiles")
    a = create_app(m)
    yield a
    a.extensions["rig"].shutdown()
    m.close()


def test_the_sim_rail_has_no_home_button_and_home_is_refused(app: Any) -> None:
    c = Api(app)
    assert b'id="jogpad"' in c.get("/jog").data and b'data-testid="home"' not in c.get("/jog").data
    assert c.get("/api/session").get_json()["can_home"] is False
    assert c.get("/api/system").get_json()["can_home"] is False
    r = c.post("/api/home", {})
    assert r.status_code == 409 and "no home switch" in r.get_json()["error"]
    assert c.get("/api/status").get_json()["status"]["state"] == "idle"  # not a fault


def test_a_rail_with_a_home_switch_gets_the_button(app: Any) -> None:
    app.extensions["rig"].can_home = True  # as a gpio rail with rail.gpio.home_pin would
    c = Api(app)
    assert b'data-testid="home"' in c.get("/jog").data
    assert c.get("/api/session").get_json()["can_home"] is True


def _rail(backend: str, **gpio: Any) -> Any:
    cfg = MachineConfig()
    rail = dataclasses.replace(cfg.rail, backend=backend, gpio=dataclasses.replace(cfg.rail.gpio, **gpio))
    return dataclasses.replace(cfg, rail=rail)


class _Rail:
    def __init__(self, health: dict[str, Any]) -> None:
        self._health = health

    def health(self) -> dict[str, Any]:
        return self._health


@pytest.mark.parametrize(
    ("backend", "gpio", "health", "expected"),
    [
        ("sim", {}, {"ok": True}, False),
        ("stackshot", {}, {"ok": True}, False),
        ("lens", {}, {"ok": True}, False),
        ("pico", {}, {"ok": False, "error": "unplugged"}, True),  # homes on its near-end limit switch
        ("gpio", {}, {"ok": True, "switches": {}}, False),
        ("gpio", {"home_pin": 5}, {"ok": True, "switches": {"home": False}}, True),
        ("gpio", {"min_limit_pin": 6}, {"ok": True}, True),  # home_direction backward: the near-end limit
        ("gpio", {"max_limit_pin": 6}, {"ok": True}, False),
        ("gpio", {"max_limit_pin": 6, "home_direction": "forward"}, {"ok": True}, True),
        ("sim", {}, {"ok": True, "can_home": True}, True),  # a backend may say so itself
        ("gpio", {"home_pin": 5}, {"ok": True, "can_home": False}, False),
    ],
)
def test_can_home_from_health_or_config(backend: str, gpio: dict[str, Any], health: dict, expected: bool) -> None:
    st = SimpleNamespace(can_home=None, machine=SimpleNamespace(config=_rail(backend, **gpio), rail=_Rail(health)))
    assert rail_can_home(st) is expected  # type: ignore[arg-type]


def test_a_failing_health_falls_back_to_the_config() -> None:
    class Broken:
        def health(self) -> dict[str, Any]:
            raise OSError("serial port gone")

    st = SimpleNamespace(can_home=None, machine=SimpleNamespace(config=_rail("gpio", home_pin=5), rail=Broken()))
    assert rail_can_home(st) is True  # type: ignore[arg-type]
