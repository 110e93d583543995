"""The field kit's shutdown button on gpiozero's MockFactory (GPIOZERO_PIN_FACTORY=mock)."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from rig.config import (
    CameraConfig,
    MachineConfig,
    OutputConfig,
    Profile,
    RailConfig,
    SimCameraConfig,
    SimRailConfig,
    SystemConfig,
)
from rig.machine import Machine
from rig.sequencer import Outcome, State
from rig.shutdown_button import ShutdownButton, main

PIN = 26
HOLD = 0.15


@pytest.fixture(autouse=True)
def factory():
    """A private MockFactory per test: no pin state leaks between tests."""
    mock = MockFactory()
    yield mock
    mock.close()


@pytest.fixture
def pin(factory):
    return factory.pin(PIN)


class Recorder:
    def __init__(self, code: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.code = code
        self.called = threading.Event()

    def __call__(self, argv):
        self.calls.append(list(argv))
        self.called.set()
        return self.code


def cfg(**kw) -> SystemConfig:
    return SystemConfig(**{"shutdown_pin": PIN, "shutdown_hold_s": HOLD, **kw})


def test_held_long_enough_stops_then_powers_off(factory, pin):
    order: list[str] = []
    runner = Recorder()
    with ShutdownButton(
        cfg(), before_poweroff=lambda: order.append("stop"), runner=runner, pin_factory=factory
    ) as button:
        assert button.armed
        pin.drive_low()  # active low: pressed
        assert runner.called.wait(5), "poweroff never ran"
        order.append("poweroff")
        pin.drive_high()
    assert order == ["stop", "poweroff"]
    assert runner.calls == [["systemctl", "poweroff"]]


def test_a_short_press_does_nothing(factory, pin):
    runner = Recorder()
    with ShutdownButton(cfg(), runner=runner, pin_factory=factory):
        for _ in range(3):
            pin.drive_low()
            time.sleep(HOLD / 5)
            pin.drive_high()
            time.sleep(0.02)
        time.sleep(HOLD * 3)
    assert runner.calls == []


def test_fires_once_and_uses_the_configured_command(factory, pin):
    runner = Recorder()
    with ShutdownButton(
        cfg(poweroff_command="/usr/bin/sudo -n /sbin/poweroff --no-wall"), runner=runner, pin_factory=factory
    ):
        pin.drive_low()
        assert runner.called.wait(5)
        time.sleep(HOLD * 2)
        pin.drive_high()
        pin.drive_low()
        time.sleep(HOLD * 3)
    assert runner.calls == [["/usr/bin/sudo", "-n", "/sbin/poweroff", "--no-wall"]]


def test_a_failed_poweroff_can_be_retried(factory, pin):
    runner = Recorder(code=1)
    with ShutdownButton(cfg(), runner=runner, pin_factory=factory):
        pin.drive_low()
        assert runner.called.wait(5)
        runner.called.clear()
        pin.drive_high()
        pin.drive_low()
        assert runner.called.wait(5)
    assert len(runner.calls) == 2


def test_a_stop_error_never_blocks_the_poweroff(factory, pin):
    runner = Recorder()

    def broken():
        raise RuntimeError("rail link lost")

    with ShutdownButton(cfg(), before_poweroff=broken, runner=runner, pin_factory=factory):
        pin.drive_low()
        assert runner.called.wait(5)


def test_pressed_at_start_is_not_armed_until_released(factory, pin, monkeypatch):
    # A button stuck closed (or wired for the other polarity) when the service starts: the
    # pull-up cannot raise the line. A wiring fault must not become a boot loop of power-offs.
    drive_high = pin.drive_high
    monkeypatch.setattr(pin, "drive_high", lambda: None)
    pin.drive_low()
    runner = Recorder()
    with ShutdownButton(cfg(), runner=runner, pin_factory=factory) as button:
        assert not button.armed
        time.sleep(HOLD * 3)
        assert runner.calls == []
        drive_high()  # released at last
        assert button.armed
        pin.drive_low()
        assert runner.called.wait(5)


def test_active_high_button(factory, pin):
    runner = Recorder()
    with ShutdownButton(cfg(shutdown_active_low=False), runner=runner, pin_factory=factory) as button:
        assert button.armed  # pulled down: released
        pin.drive_high()
        assert runner.called.wait(5)


def _machine(tmp_path: Path) -> Machine:
    config = MachineConfig(
        rail=RailConfig(sim=SimRailConfig(time_scale=1.0, start_um=1000.0), max_speed_mm_s=2.0, accel_mm_s2=10.0),
        camera=CameraConfig(sim=dataclasses.replace(SimCameraConfig(), width=96, height=72, noise=0.0)),
        output=OutputConfig(root=str(tmp_path / "out"), min_free_mb=0),
    )
    return Machine.build(config, profiles_dir=tmp_path / "profiles")


def test_stop_safely_interrupts_a_running_stack_and_keeps_its_frames(tmp_path):
    with _machine(tmp_path) as machine:
        seq = machine.sequencer
        seq.start(Profile(slices=40, step_um=50, settle_s=0.05, return_to_start=False), "field")
        deadline = time.monotonic() + 10
        while seq.status().frames_saved < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert machine.stop_safely(timeout_s=10) == "cancelled"
        status = seq.status()
        assert status.state == State.IDLE and status.outcome == Outcome.INTERRUPTED
        data = json.loads((Path(status.folder) / "stack.json").read_text())
        assert data["outcome"] == "interrupted" and 3 <= len(data["frames"]) < 40
        assert all((Path(status.folder) / f["file"]).is_file() for f in data["frames"])
        moved = machine.rail.position()
        time.sleep(0.2)
        assert machine.rail.position() == moved  # stopped, and stays stopped


def test_stop_safely_when_idle_just_stops_the_rail(tmp_path):
    with _machine(tmp_path) as machine:
        assert machine.stop_safely() == "idle"
        assert machine.sequencer.status().state == State.IDLE


def test_button_drives_the_safe_stop_before_the_poweroff(tmp_path, factory, pin):
    runner = Recorder()
    with _machine(tmp_path) as machine:
        seq = machine.sequencer
        seq.start(Profile(slices=40, step_um=50, settle_s=0.05, return_to_start=False), "field")
        seen: list[Outcome | None] = []

        def poweroff(argv):
            seen.append(seq.status().outcome)  # by now the stack must be stopped
            return runner(argv)

        stop = lambda: machine.stop_safely(timeout_s=10)  # noqa: E731
        with ShutdownButton(cfg(), before_poweroff=stop, runner=poweroff, pin_factory=factory):
            pin.drive_low()
            assert runner.called.wait(10)
        assert seen == [Outcome.INTERRUPTED]


def test_service_main_without_a_pin_exits_cleanly(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "rig.toml"
    path.write_text("[system]\nshutdown_hold_s = 3\n")
    assert main(["--config", str(path)]) == 0
    assert "no system.shutdown_pin" in caplog.text


def test_service_main_with_a_bad_config_exits_2(tmp_path):
    path = tmp_path / "rig.toml"
    path.write_text("[system]\nshutdown_pin = 99\n")
    assert main(["--config", str(path)]) == 2
