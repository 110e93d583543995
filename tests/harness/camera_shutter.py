"""Contract harness: the wired shutter release on gpiozero's MockFactory (focus 23, shutter 24)."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from rig.config import CameraConfig
from rig.config.schema import from_table

FOCUS, SHUTTER = 23, 24
CONFIG = {
    "backend": "shutter",
    "shutter": {"focus_pin": FOCUS, "shutter_pin": SHUTTER, "prefocus_s": 0.02, "pulse_s": 0.02, "exposure_s": 0.02},
}


class ShutterControl:
    returns_frames = False  # frames stay on the camera's card
    has_preview = False

    def __init__(self, camera, factory) -> None:
        self.camera, self.factory = camera, factory

    def pin(self, number: int):
        return self.factory.pin(number)

    def unplug(self) -> None:
        pytest.skip("a release cable gives no feedback: an unplugged camera cannot be detected")

    def card_full(self) -> None:
        pytest.skip("a release cable gives no feedback: a full card cannot be detected")

    def timeout(self) -> None:
        pytest.skip("a release cable gives no feedback: a capture cannot time out")


@contextmanager
def make_camera(tmp_path, wait=None, **overrides):
    """``wait``: ``event.wait`` in virtual time (tests/fakes/clock.py), or real time."""
    from gpiozero.pins.mock import MockFactory

    from rig.camera.shutter import ShutterCamera

    table = {**CONFIG, "shutter": {**CONFIG["shutter"], **overrides}}
    factory = MockFactory()
    kw = {"wait": wait} if wait is not None else {}
    camera = ShutterCamera(from_table(CameraConfig, table, "harness"), pin_factory=factory, **kw)
    try:
        yield camera, ShutterControl(camera, factory)
    finally:
        camera.close()
        factory.reset()
