"""Contract harness: the StackShot rail over a pty pair against a fake StackShot that decodes
the real frames (tests/fakes/stackshot.py). The fake moves at 20 mm/s."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from rig.config import RailConfig
from rig.config.schema import from_table
from tests.fakes.stackshot import FakeStackShot

CONFIG = {
    "backend": "stackshot",
    "min_um": 0,
    "max_um": 20_000,
    "stackshot": {"poll_s": 0.02, "timeout_s": 0.3, "move_timeout_s": 5},
}


class StackShotControl:
    near, far, tol = 1_000.0, 8_000.0, 1.0  # near -> far takes 0.35 s

    def __init__(self, rail, fake: FakeStackShot) -> None:
        self.rail, self.fake = rail, fake

    def trip_limit(self) -> None:
        pytest.skip("the StackShot has no limit-switch inputs")

    def unplug(self) -> None:
        self.fake.unplug()


@contextmanager
def make_rail(tmp_path, fake: FakeStackShot | None = None, **overrides):
    from rig.motion.stackshot import StackShotRail

    fake = fake or FakeStackShot()
    table = {**CONFIG, **overrides, "stackshot": {**CONFIG["stackshot"], **overrides.get("stackshot", {})}}
    try:
        rail = StackShotRail(from_table(RailConfig, table, "harness"), port=fake.port)
    except BaseException:
        fake.close()
        raise
    try:
        yield rail, StackShotControl(rail, fake)
    finally:
        rail.close()
        fake.close()
