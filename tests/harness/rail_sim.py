"""Contract harness: the simulated rail, time-scaled so moves take real time."""

from __future__ import annotations

from contextlib import contextmanager

from rig.config import RailConfig
from rig.config.schema import from_table
from rig.motion.sim import SimRail

CONFIG = {
    "backend": "sim",
    "min_um": 0,
    "max_um": 20_000,
    "max_speed_mm_s": 20,
    "accel_mm_s2": 200,
    "sim": {"time_scale": 1.0},
}


class SimRailControl:
    near, far, tol = 1_000.0, 8_000.0, 1e-6  # near -> far takes ~0.45 s
    faults_disable_driver = False  # the sequencer's safe state disables it

    def __init__(self, rail: SimRail) -> None:
        self.rail = rail

    def trip_limit(self) -> None:
        self.rail.inject_fault("limit switch tripped (simulated)")

    def unplug(self) -> None:
        self.rail.inject_fault("rail disconnected (simulated unplug)")

    def driver_enabled(self) -> bool:
        return self.rail.enabled


@contextmanager
def make_rail(tmp_path):
    rail = SimRail(from_table(RailConfig, CONFIG, "harness"))
    try:
        yield rail, SimRailControl(rail)
    finally:
        rail.close()
