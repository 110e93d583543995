"""Contract harness: the GPIO stepper rail on gpiozero's MockFactory.

100 steps/mm (10 um per step) at 20 mm/s keeps moves fast; pins: STEP 17, DIR 27, EN 22,
near limit 5, far limit 6, home 13 (switches active low, as wired in docs/hardware.md).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from rig.config import RailConfig
from rig.config.schema import from_table

STEP, DIR, EN, NEAR, FAR, HOME = 17, 27, 22, 5, 6, 13
CONFIG = {
    "backend": "gpio",
    "steps_per_mm": 100,
    "min_um": 0,
    "max_um": 20_000,
    "max_speed_mm_s": 20,
    "accel_mm_s2": 200,
    "gpio": {
        "step_pin": STEP,
        "dir_pin": DIR,
        "enable_pin": EN,
        "min_limit_pin": NEAR,
        "max_limit_pin": FAR,
        "home_pin": HOME,
        "step_pulse_us": 2,
    },
}


def mock_factory():
    from gpiozero.pins.mock import MockFactory

    return MockFactory()


def rising_edges(pin) -> int:
    """STEP pulses recorded by a MockPin."""
    states = [s.state for s in pin.states]
    return sum(1 for a, b in zip(states, states[1:], strict=False) if not a and b)


class SwitchEmulator:
    """A thread that closes a switch while the rail sits at or beyond a position, like a real
    microswitch on the carriage's path."""

    def __init__(self, rail, pin, at_or_below: float | None = None, at_or_above: float | None = None) -> None:
        self.rail, self.pin, self.below, self.above = rail, pin, at_or_below, at_or_above
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pressed = None
        while not self._stop.is_set():
            pos = self.rail.position()
            now = (self.below is not None and pos <= self.below) or (self.above is not None and pos >= self.above)
            if now != pressed:
                (self.pin.drive_low if now else self.pin.drive_high)()
                pressed = now
            time.sleep(0.0003)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)


class GpioRailControl:
    near, far, tol = 1_000.0, 8_000.0, 10.0  # one step is 10 um; near -> far takes ~0.45 s

    def __init__(self, rail, factory) -> None:
        self.rail, self.factory = rail, factory
        self.emulators: list[SwitchEmulator] = []

    def arm_home(self, at_um: float = -200.0) -> SwitchEmulator:
        """Put the home switch on the carriage's path, ``at_um`` by the rail's current reckoning."""
        emulator = SwitchEmulator(self.rail, self.pin(HOME), at_or_below=at_um)
        self.emulators.append(emulator)
        return emulator

    def far_limit_at(self, at_um: float) -> SwitchEmulator:
        """A far-end limit switch that the carriage hits at ``at_um``."""
        emulator = SwitchEmulator(self.rail, self.pin(FAR), at_or_above=at_um)
        self.emulators.append(emulator)
        return emulator

    def pin(self, number: int):
        return self.factory.pin(number)

    def trip_limit(self) -> None:
        self.pin(FAR).drive_low()  # the contract moves toward `far`: the far-end switch is ahead

    def unplug(self) -> None:
        pytest.skip("a step/dir driver gives no feedback: a pulled motor cable cannot be detected")

    def driver_enabled(self) -> bool:
        return not self.pin(EN).state  # EN is active low

    def steps(self) -> int:
        return rising_edges(self.pin(STEP))


@contextmanager
def make_rail(tmp_path, clock=None, **overrides):
    """``clock``: a virtual clock (tests/fakes/clock.py) for the step loop, or real time."""
    from rig.motion.gpio import GpioRail

    table = {**CONFIG, **overrides, "gpio": {**CONFIG["gpio"], **overrides.get("gpio", {})}}
    factory = mock_factory()
    rail = GpioRail(from_table(RailConfig, table, "harness"), pin_factory=factory, clock=clock)
    ctl = GpioRailControl(rail, factory)
    try:
        yield rail, ctl
    finally:
        for emulator in ctl.emulators:
            emulator.close()
        rail.close()
        factory.reset()
