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


class HoldClock:
    """Virtual time for a hold: ``wait(let_go, s)`` returns True when the button is let go, and
    False once the test calls ``elapse()`` (the hold time has passed). No wall-clock windows."""

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self._elapse = threading.Semaphore(0)

    def wait(self, let_go: threading.Event, seconds: float) -> bool:
        assert seconds == HOLD
        self.started += 1
        try:
            while not let_go.is_set():
                if self._elapse.acquire(timeout=0.001):
                    return False
            return True
        finally:
            self.finished += 1

    def elapse(self) -> None:
        wait_until(lambda: self.started > self.finished, "a hold being timed")
        self._elapse.release()

    def settled(self, started: int) -> None:
        """Wait until ``started`` holds have been timed and each has ended."""
        wait_until(lambda: self.started == self.finished == started, f"{started} hold(s) timed")


def wait_until(condition, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


@pytest.fixture
def hold() -> HoldClock:
    return HoldClock()


def cfg(**kw) -> SystemConfig:
    return SystemConfig(**{"shutdown_pin": PIN, "shutdown_hold_s": HOLD, **kw})


def test_held_long_enough_stops_then_powers_off(factory, pin, hold):
    order: list[str] = []
    runner = Recorder()
    with ShutdownButton(
        cfg(), before_poweroff=lambda: order.append("stop"), runner=runner, pin_factory=factory, wait=hold.wait
    ) as button:
        assert button.armed
        pin.drive_low()  # active low: pressed
        hold.elapse()
        assert runner.called.wait(5), "poweroff never ran"
        order.append("poweroff")
        pin.drive_high()
    assert order == ["stop", "poweroff"]
    assert runner.calls == [["systemctl", "poweroff"]]


def test_a_short_press_does_nothing(factory, pin, hold):
    runner = Recorder()
    with ShutdownButton(cfg(), runner=runner, pin_factory=factory, wait=hold.wait):
        for presses in range(1, 4):
            pin.drive_low()
            pin.drive_high()  # let go before the hold time
            hold.settled(presses)
    assert runner.calls == []


def test_fires_once_and_uses_the_configured_command(factory, pin, hold):
    runner = Recorder()
    with ShutdownButton(
        cfg(poweroff_command="/usr/bin/sudo -n /sbin/poweroff --no-wall"),
        runner=runner,
        pin_factory=factory,
        wait=hold.wait,
    ):
        pin.drive_low()
        hold.elapse()
        assert runner.called.wait(5)
        pin.drive_high()
        pin.drive_low()  # held again: already fired, nothing more is timed
        hold.settled(1)
    assert runner.calls == [["/usr/bin/sudo", "-n", "/sbin/poweroff", "--no-wall"]]


def test_a_failed_poweroff_can_be_retried(factory, pin, hold):
    runner = Recorder(code=1)
    with ShutdownButton(cfg(), runner=runner, pin_factory=factory, wait=hold.wait) as button:
        pin.drive_low()
        hold.elapse()
        assert runner.called.wait(5)
        wait_until(lambda: not button.fired.is_set(), "the failed poweroff to re-arm the button")
        runner.called.clear()
        pin.drive_high()
        pin.drive_low()
        hold.elapse()
        assert runner.called.wait(5)
    assert len(runner.calls) == 2


def test_a_stop_error_never_blocks_the_poweroff(factory, pin, hold):
    runner = Recorder()

    def broken():
        raise RuntimeError("rail link lost")

    with ShutdownButton(cfg(), before_poweroff=broken, runner=runner, pin_factory=factory, wait=hold.wait):
        pin.drive_low()
        hold.elapse()
        assert runner.called.wait(5)


def test_pressed_at_start_is_not_armed_until_released(factory, pin, hold, monkeypatch):
    # A button stuck closed (or wired for the other polarity) when the service starts: the
    # pull-up cannot raise the line. A wiring fault must not become a boot loop of power-offs.
    drive_high = pin.drive_high
    monkeypatch.setattr(pin, "drive_high", lambda: None)
    pin.drive_low()
    runner = Recorder()
    with ShutdownButton(cfg(), runner=runner, pin_factory=factory, wait=hold.wait) as button:
        assert not button.armed
        assert hold.started == 0 and runner.calls == []  # the stuck press is not timed
        drive_high()  # released at last
        assert button.armed
        pin.drive_low()
        hold.elapse()
        assert runner.called.wait(5)


def test_a_real_hold_in_real_time_powers_off(factory, pin):
    """The default timer (no virtual clock): a press held until the poweroff runs."""
    runner = Recorder()
    with ShutdownButton(cfg(), runner=runner, pin_factory=factory):
        pin.drive_low()
        assert runner.called.wait(30)
        pin.drive_high()
    assert runner.calls == [["systemctl", "poweroff"]]


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


def test_button_drives_the_safe_stop_before_the_poweroff(tmp_path, factory, pin, hold):
    runner = Recorder()
    with _machine(tmp_path) as machine:
        seq = machine.sequencer
        seq.start(Profile(slices=40, step_um=50, settle_s=0.05, return_to_start=False), "field")
        seen: list[Outcome | None] = []

        def poweroff(argv):
            seen.append(seq.status().outcome)  # by now the stack must be stopped
            return runner(argv)

        stop = lambda: machine.stop_safely(timeout_s=10)  # noqa: E731
        with ShutdownButton(cfg(), before_poweroff=stop, runner=poweroff, pin_factory=factory, wait=hold.wait):
            pin.drive_low()
            hold.elapse()
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
