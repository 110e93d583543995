"""StackShot: the frame codec byte for byte, and the rail against the fake controller on a pty."""

from __future__ import annotations

import struct
import threading
import time

import pytest

from rig.errors import MotionError
from rig.motion import stackshot_frames as ss
from tests.fakes.stackshot import FakeStackShot
from tests.harness.rail_stackshot import make_rail


# -- frames ----------------------------------------------------------------------------
def test_host_frame_layout_is_exact():
    frame = ss.encode(ss.RAIL_MOVE, ss.WRITE, ss.move_payload(ss.BACKWARD, ss.MM, 1.5), trailer=0x69)
    assert frame == bytes([0x55, 0x10, 0x00, 0x01, 0x07, 0x01, 0x01, 0x00]) + struct.pack("<f", 1.5) + b"\x69"
    assert ss.encode(ss.STATUS, ss.READ, axis=2, trailer=0) == bytes([0x55, 0x10, 0x05, 0x20, 0x00, 0x00])
    assert ss.encode(ss.SHUTTER_FIRE, ss.WRITE, ss.shutter_payload(3, 0.2, 0.5))[4] == 10  # len 10


def test_reply_decoding_skips_noise_and_waits_for_whole_frames():
    reply = bytes([0xAA, 0x10, 0x02, 0x02, 0x05]) + ss.position_payload(ss.MM, 12.25) + b"\x00"
    frame, used = ss.decode(b"\x13\x37" + reply[:7])
    assert frame is None and used == 2  # noise dropped, frame incomplete
    frame, used = ss.decode(reply + b"\xaa")
    assert used == len(reply)
    assert (frame.cmd, frame.action, frame.axis, frame.ok) == (ss.POSITION_CURRENT, ss.RSP_OK, 0, True)
    assert ss.parse_position(frame.data) == (ss.MM, 12.25)


def test_codec_rejects_bad_fields():
    with pytest.raises(ss.FrameError):
        ss.encode(0x10000, ss.READ)
    with pytest.raises(ss.FrameError):
        ss.encode(ss.STATUS, 16)
    with pytest.raises(ss.FrameError):
        ss.parse_status(b"\x00\x00")


# -- rail against the fake -------------------------------------------------------------
def test_connect_reads_firmware_and_the_controllers_position(tmp_path):
    with make_rail(tmp_path, fake=FakeStackShot(start_mm=3.0)) as (rail, ctl):
        assert rail.position() == pytest.approx(3000)
        assert rail.firmware == "StackShot fake 3.0"
        assert ctl.fake.commands()[:2] == [ss.SOFTWARE_STRING, ss.POSITION_CURRENT]
        assert all(f.trailer == 0x69 for f in ctl.fake.frames)
        assert rail.health() | {"ok": True} == rail.health()


def test_moves_are_relative_millimetre_frames(tmp_path):
    with make_rail(tmp_path) as (rail, ctl):
        rail.move_to(2500)
        rail.move_to(1000)
        moves = [ss.parse_move(f.data) for f in ctl.fake.frames if f.cmd == ss.RAIL_MOVE]
        assert [(d, u, c) for d, u, c, _ in moves] == [(ss.FORWARD, ss.MM, False), (ss.BACKWARD, ss.MM, False)]
        assert [m[3] for m in moves] == [pytest.approx(2.5), pytest.approx(1.5)]
        assert ctl.fake.position_mm() == pytest.approx(1.0)
        assert rail.position() == pytest.approx(1000, abs=0.01)


def test_backlash_overshoots_then_approaches_forward(tmp_path):
    with make_rail(tmp_path, backlash_um=300) as (rail, ctl):
        rail.move_to(3000)
        rail.move_to(2000)
        moves = [ss.parse_move(f.data) for f in ctl.fake.frames if f.cmd == ss.RAIL_MOVE]
        assert [(m[0], round(m[3], 4)) for m in moves] == [(ss.FORWARD, 3.0), (ss.BACKWARD, 1.3), (ss.FORWARD, 0.3)]
        assert rail.position() == pytest.approx(2000, abs=0.01)


def test_settings_registers_are_written_only_when_configured(tmp_path):
    with make_rail(tmp_path) as (_, ctl):
        assert ctl.fake.registers == {}
    fake = FakeStackShot()
    with make_rail(tmp_path, fake=fake, stackshot={"speed_steps_s": 2000, "ramp_s": 0.25, "backlash_steps": 40}):
        assert struct.unpack("<Bf", fake.registers[ss.RAIL_CONFIG_SPEED]) == (ss.STEPS, 2000.0)
        assert struct.unpack("<f", fake.registers[ss.RAIL_CONFIG_RAMP_TIME]) == (0.25,)
        assert struct.unpack("<Bf", fake.registers[ss.RAIL_CONFIG_BACKLASH]) == (ss.STEPS, 40.0)


def test_busy_answers_are_retried(tmp_path):
    with make_rail(tmp_path) as (rail, ctl):
        ctl.fake.busy_next = 2
        assert rail.move_to(500) == pytest.approx(500, abs=0.01)


def test_keypad_abort_faults_the_move_with_the_true_position(tmp_path):
    with make_rail(tmp_path) as (rail, ctl):
        threading.Timer(0.1, ctl.fake.keypad_abort).start()
        with pytest.raises(MotionError, match="keypad"):
            rail.move_to(15_000)
        assert rail.position() == pytest.approx(ctl.fake.position_mm() * 1000, abs=0.01)
        assert 0 < rail.position() < 15_000


def test_a_silent_controller_times_out_clearly(tmp_path):
    with make_rail(tmp_path) as (rail, ctl):
        ctl.fake.go_silent()
        with pytest.raises(MotionError, match="did not answer within 0.3 s"):  # one timeout, no endless retries
            rail.move_to(1000)


def test_cable_pulled_mid_move_faults_and_keeps_the_last_known_position(tmp_path):
    with make_rail(tmp_path) as (rail, ctl):
        threading.Timer(0.15, ctl.fake.unplug).start()
        with pytest.raises(MotionError, match="serial link lost"):
            rail.move_to(15_000)
        assert 0 < rail.position() < 15_000
        assert rail.health()["ok"] is False
        with pytest.raises(MotionError, match="link lost"):
            rail.move_to(0)
        rail.close()  # closing a dead link does not hang or raise


def test_fires_the_shutter_port(tmp_path):
    with make_rail(tmp_path, stackshot={"shutter_pulse_s": 0.02, "shutter_settle_s": 0.03}) as (rail, ctl):
        t0 = time.monotonic()
        rail.fire_shutter(2)
        assert time.monotonic() - t0 >= 0.09
        assert ctl.fake.shots == 2
        fire = next(f for f in ctl.fake.frames if f.cmd == ss.SHUTTER_FIRE)
        assert ss.parse_shutter(fire.data) == (2, pytest.approx(0.02), pytest.approx(0.03))


def test_zero_and_close_frames(tmp_path):
    fake = FakeStackShot(start_mm=4.0)
    with make_rail(tmp_path, fake=fake) as (rail, _):
        rail.zero()
        assert rail.position() == 0
        rail.close()
        assert fake.commands()[-1] == ss.CLOSE


def test_no_stackshot_plugged_in_is_a_clear_error(monkeypatch):
    from serial.tools import list_ports

    from rig.config import RailConfig
    from rig.motion.stackshot import StackShotRail

    monkeypatch.setattr(list_ports, "comports", lambda: [])
    with pytest.raises(MotionError, match="no StackShot found"):
        StackShotRail(RailConfig(backend="stackshot"))


def test_a_missing_device_path_is_a_clear_error():
    from rig.config import RailConfig
    from rig.motion.stackshot import StackShotRail

    with pytest.raises(MotionError, match="cannot open the StackShot on /dev/nonexistent-tty"):
        StackShotRail(RailConfig(backend="stackshot"), port="/dev/nonexistent-tty")


@pytest.mark.hardware
def test_real_stackshot_round_trip():
    """With a StackShot on USB: 0.5 mm out and back."""
    from rig.config import RailConfig
    from rig.motion.stackshot import StackShotRail

    rail = StackShotRail(RailConfig(backend="stackshot", min_um=-1e6, max_um=1e6))
    try:
        start = rail.position()
        assert rail.move_to(start + 500) == pytest.approx(start + 500, abs=2)
        assert rail.move_to(start) == pytest.approx(start, abs=2)
    finally:
        rail.close()
