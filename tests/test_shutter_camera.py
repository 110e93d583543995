"""Wired shutter release on gpiozero's MockFactory: line sequence, timings, abort, polarity."""

from __future__ import annotations

import threading
import time

import pytest

from rig.errors import CameraError
from tests.fakes.clock import VirtualClock
from tests.harness.camera_shutter import FOCUS, SHUTTER, make_camera


def wait_until(condition, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def levels(pin) -> list[bool]:
    return [bool(s.state) for s in pin.states]


@pytest.fixture
def clock(monkeypatch) -> VirtualClock:
    """Virtual time for the camera's waits and for the mock pins' timestamps: exact, under any load."""
    clock = VirtualClock()
    clock.install_in_gpiozero_mock(monkeypatch)
    return clock


def test_one_shot_holds_focus_then_pulses_the_shutter(tmp_path, clock):
    with make_camera(tmp_path, wait=clock.wait, prefocus_s=0.05, pulse_s=0.03, exposure_s=0.05) as (camera, ctl):
        t0 = clock.now()
        assert camera.capture() is None
        took = clock.now() - t0
        focus, shutter = ctl.pin(FOCUS), ctl.pin(SHUTTER)
        assert levels(focus) == [False, True, False]
        assert levels(shutter) == [False, True, False]
        assert shutter.states[2].timestamp == pytest.approx(0.03)  # pulse length
        assert focus.states[2].timestamp == pytest.approx(0.08)  # prefocus + pulse
        assert took == pytest.approx(0.05 + 0.03 + 0.05)  # includes the exposure wait
        assert camera.info()["shots"] == 1


def test_mirror_lockup_presses_twice(tmp_path, clock):
    with make_camera(tmp_path, wait=clock.wait, mirror_lockup_s=0.05) as (camera, ctl):
        camera.capture()
        assert levels(ctl.pin(SHUTTER)) == [False, True, False, True, False]
        gap = ctl.pin(SHUTTER).states[3].timestamp
        assert gap == pytest.approx(0.05)


def test_without_a_focus_line(tmp_path):
    with make_camera(tmp_path, focus_pin=None) as (camera, ctl):
        camera.capture()
        assert levels(ctl.pin(SHUTTER)) == [False, True, False]


def test_active_low_opto_idles_high(tmp_path):
    with make_camera(tmp_path, active_high=False) as (camera, ctl):
        assert ctl.pin(SHUTTER).state and ctl.pin(FOCUS).state
        camera.capture()
        assert levels(ctl.pin(SHUTTER))[1:] == [True, False, True]  # [0]: the mock pin before init


def test_release_aborts_a_long_exposure_and_drops_both_lines(tmp_path):
    with make_camera(tmp_path, prefocus_s=10.0) as (camera, ctl):  # real time: release must cut the wait
        errors: list[BaseException] = []

        def shoot() -> None:
            try:
                camera.capture()
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                errors.append(exc)

        shot = threading.Thread(target=shoot)
        shot.start()
        wait_until(lambda: ctl.pin(FOCUS).state, "the focus line to go on")
        camera.release()
        shot.join(9)  # less than the 10 s wait it aborts
        assert not shot.is_alive() and len(errors) == 1 and isinstance(errors[0], CameraError)
        assert "aborted" in str(errors[0])
        assert not ctl.pin(FOCUS).state and not ctl.pin(SHUTTER).state
        assert levels(ctl.pin(SHUTTER)) == [False]  # the shutter never fired


def test_close_releases_the_pins(tmp_path):
    from gpiozero import DigitalOutputDevice

    with make_camera(tmp_path) as (camera, ctl):
        camera.close()
        again = DigitalOutputDevice(SHUTTER, pin_factory=ctl.factory)  # free again
        again.close()


def test_manifest_records_frames_on_the_card(tmp_path):
    """A whole stack with the release cable: every slice is recorded as stored on the card."""
    import json

    from gpiozero.pins.mock import MockFactory

    from rig.config import MachineConfig, Profile
    from rig.config.schema import from_table
    from rig.errors import UsageError
    from rig.machine import Machine
    from tests.harness.camera_shutter import CONFIG

    cfg = from_table(MachineConfig, {"camera": CONFIG, "output": {"root": str(tmp_path), "min_free_mb": 0}}, "t")
    factory = MockFactory()
    machine = Machine.build(cfg, camera_kwargs={"pin_factory": factory})
    try:
        machine.sequencer.start(Profile(slices=3, step_um=100, settle_s=0, return_to_start=False))
        status = machine.sequencer.wait(10)
        assert status.outcome == "completed", status.error
        data = json.loads((tmp_path / status.folder / "stack.json").read_text())
        assert [f["stored"] for f in data["frames"]] == ["camera-card"] * 3
        assert levels(factory.pin(SHUTTER)).count(True) == 3
        # no live view on a release cable: preview-images is refused before anything moves
        with pytest.raises(UsageError, match="needs live view"):
            machine.sequencer.start(Profile(slices=3, step_um=100, mode="preview-images"))
        assert machine.rail.position() == 200.0 and len(list(tmp_path.iterdir())) == 1
    finally:
        machine.close()
        factory.reset()


@pytest.mark.hardware
def test_real_release_fires(tmp_path):
    """On a Pi with the opto-isolator board on pins 23/24: fires one frame (check the camera)."""
    from rig.camera.shutter import ShutterCamera
    from rig.config import CameraConfig

    camera = ShutterCamera(CameraConfig(backend="shutter"))
    try:
        assert camera.capture() is None
    finally:
        camera.close()
