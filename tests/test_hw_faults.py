"""Real stacks through Machine.build with a fault injected mid-stack in the emulators.

Each fault must stop the stack through the sequencer's single safe-state path: state FAULT,
a clear error, every frame saved so far intact (its sha256 in stack.json matches the file),
and the manifest marked "failed" with the reason.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from rig.config import MachineConfig, Profile
from rig.config.schema import from_table
from rig.machine import Machine
from tests.harness import rail_gpio, rail_stackshot
from tests.harness.camera_gphoto import CONFIG as GPHOTO
from tests.harness.camera_gphoto import (
    GphotoControl,
    forget_earlier_virtual_cameras,
    raw_file,
    release_virtual_camera,
)
from tests.harness.camera_picam import CONFIG as PICAM

SIM_CAMERA = {"backend": "sim", "sim": {"width": 160, "height": 120}}


def machine_config(tmp_path: Path, rail: dict | None = None, camera: dict | None = None) -> MachineConfig:
    table = {
        "rail": rail or {"backend": "sim"},
        "camera": camera or SIM_CAMERA,
        "output": {"root": str(tmp_path / "stacks"), "min_free_mb": 0},
    }
    return from_table(MachineConfig, table, "fault-test")


def run_stack(machine: Machine, slices: int = 6, step_um: float = 200.0, start_um: float = 1000.0):
    profile = Profile(slices=slices, step_um=step_um, start_um=start_um, settle_s=0, return_to_start=True)
    machine.sequencer.start(profile, "fault-test")
    status = machine.sequencer.wait(20)
    assert not status.busy, "the stack did not stop"
    return status


def assert_failed_cleanly(status, words: tuple[str, ...], saved_at_least: int, saved_at_most: int) -> dict:
    assert status.state == "fault", status
    assert status.outcome == "failed"
    message = (status.error or "").lower()
    assert any(w in message for w in words), status.error
    folder = Path(status.folder)
    manifest = json.loads((folder / "stack.json").read_text())
    assert manifest["outcome"] == "failed"
    assert manifest["error"] == status.error
    frames = [f for f in manifest["frames"] if f["file"]]
    assert saved_at_least <= len(frames) <= saved_at_most, manifest["frames"]
    for entry in frames:
        data = (folder / entry["file"]).read_bytes()
        assert len(data) == entry["bytes"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["file"]
    leftovers = [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, leftovers
    return manifest


@contextmanager
def gphoto_machine(
    tmp_path: Path, ctl: GphotoControl, camera: dict | None = None, timeout_s: float = 0.5
) -> Iterator[Machine]:
    """A machine on the virtual camera; closed afterwards, the virtual camera's session ended
    (even after an emulated unplug) and any emulated hang released."""
    forget_earlier_virtual_cameras()
    cfg = machine_config(tmp_path, camera=camera or GPHOTO)
    machine = Machine.build(cfg, camera_kwargs={"camera_factory": ctl.factory, "timeout_s": timeout_s})
    try:
        yield machine
    finally:
        ctl.released.set()
        machine.close()
        release_virtual_camera(ctl)


def test_raw_plus_jpeg_stack_saves_both_files_of_every_shot(tmp_path):
    ctl = GphotoControl(focus=False, drive_s=0)
    ctl.raw_plus_jpeg, ctl.raw_delay_s = True, 0.35  # each RAW arrives well after its JPEG
    camera = {"backend": "gphoto", "gphoto": {"capture_target": "card"}}  # the default wait
    with gphoto_machine(tmp_path, ctl, camera=camera, timeout_s=10) as machine:
        status = run_stack(machine, slices=3)
        assert status.outcome == "completed", status
        folder = Path(status.folder)
        frames = json.loads((folder / "stack.json").read_text())["frames"]
        assert [f["file"] for f in frames] == ["0001.jpg", "0002.jpg", "0003.jpg"]
        for entry in frames:
            (other,) = entry["companions"]
            assert other["file"] == entry["file"].replace(".jpg", ".cr2")  # same shot, same name
            shot = ctl.shots[entry["index"] - 1]
            assert (folder / other["file"]).read_bytes() == raw_file(shot)  # that shot's RAW, not a later one
            data = (folder / other["file"]).read_bytes()
            assert len(data) == other["bytes"] and hashlib.sha256(data).hexdigest() == other["sha256"]


def test_preview_images_on_a_camera_whose_live_view_fails_never_moves(tmp_path):
    """libgphoto2's virtual camera (like some real bodies) cannot capture_preview."""
    ctl = GphotoControl(focus=False, drive_s=0)
    with gphoto_machine(tmp_path, ctl) as machine:
        before = machine.rail.position()
        profile = Profile(slices=4, step_um=200, start_um=2000, settle_s=0, mode="preview-images")
        machine.sequencer.start(profile, "fault-test")
        status = machine.sequencer.wait(20)
        assert status.state == "fault" and "preview" in (status.error or "").lower(), status
        assert machine.rail.position() == before  # nothing moved
        assert "capture" not in ctl.calls


def test_camera_unplugged_mid_stack(tmp_path):
    ctl = GphotoControl(focus=False, drive_s=0)
    ctl.fault_at_capture(3, "unplug")
    with gphoto_machine(tmp_path, ctl) as machine:
        status = run_stack(machine)
        assert_failed_cleanly(status, ("disconnected",), 2, 2)
        assert machine.camera.health()["ok"] is False
        assert machine.rail.position() < 1000 + 5 * 200  # stopped where it failed, not at the end


def test_capture_timeout_mid_stack(tmp_path):
    ctl = GphotoControl(focus=False, drive_s=0)
    ctl.fault_at_capture(2, "timeout")
    with gphoto_machine(tmp_path, ctl) as machine:
        status = run_stack(machine)
        assert_failed_cleanly(status, ("timed out",), 1, 1)


def test_card_full_mid_stack(tmp_path):
    ctl = GphotoControl(focus=False, drive_s=0)
    ctl.fault_at_capture(4, "card_full")
    with gphoto_machine(tmp_path, ctl) as machine:
        status = run_stack(machine)
        assert_failed_cleanly(status, ("card", "full"), 3, 3)
        assert "full" in status.error


def test_pi_camera_stops_answering_mid_stack(tmp_path):
    from tests.fakes.picamera2 import make_module

    module = make_module()
    machine = Machine.build(
        machine_config(tmp_path, camera=PICAM), camera_kwargs={"picamera2_module": module, "timeout_s": 0.3}
    )
    fake = module.Picamera2.instances[-1]
    original = fake.capture_request
    count = {"n": 0}

    def capture_request(*args, **kwargs):
        count["n"] += 1
        if count["n"] == 3:
            fake.hang()
        return original(*args, **kwargs)

    fake.capture_request = capture_request
    try:
        status = run_stack(machine)
        assert_failed_cleanly(status, ("timed out",), 2, 2)
    finally:
        fake.release_hang.set()
        machine.close()


def test_serial_cable_pulled_mid_stack(tmp_path):
    from tests.fakes.stackshot import FakeStackShot

    fake = FakeStackShot(speed_mm_s=10)
    fake.unplug_during_move = 4  # move 1 goes to the start, then one move per slice
    cfg = machine_config(tmp_path, rail=rail_stackshot.CONFIG)
    machine = Machine.build(cfg, rail_kwargs={"port": fake.port})
    try:
        status = run_stack(machine)
        manifest = assert_failed_cleanly(status, ("serial link lost",), 3, 3)
        assert "cable pulled" in manifest["error"]
        assert machine.rail.health()["ok"] is False
    finally:
        machine.close()
        fake.close()


def test_limit_switch_trips_mid_stack(tmp_path):
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    machine = Machine.build(machine_config(tmp_path, rail=rail_gpio.CONFIG), rail_kwargs={"pin_factory": factory})
    ctl = rail_gpio.GpioRailControl(machine.rail, factory)
    ctl.far_limit_at(1500)  # the 4th slice (1600 um) lies beyond the switch
    try:
        status = run_stack(machine)
        assert_failed_cleanly(status, ("limit",), 3, 3)
        assert "far-end limit" in status.error
        assert not ctl.driver_enabled()
        assert 1500 <= machine.rail.position() < 1600
    finally:
        for emulator in ctl.emulators:
            emulator.close()
        machine.close()
        factory.reset()


@pytest.mark.parametrize("fault", ["unplug", "card_full"])
def test_a_fresh_stack_after_reset_reports_the_camera_state(tmp_path, fault):
    """After a fault the user resets; a camera that is still gone fails the next stack at once,
    a camera whose card was emptied carries on."""
    ctl = GphotoControl(focus=False, drive_s=0)
    ctl.fault_at_capture(1, fault)
    with gphoto_machine(tmp_path, ctl) as machine:
        assert run_stack(machine, slices=2).state == "fault"
        machine.sequencer.reset()
        status = run_stack(machine, slices=2)
        if fault == "unplug":
            assert status.state == "fault" and "disconnected" in status.error
        else:
            assert status.state == "idle" and status.outcome == "completed", status.error
