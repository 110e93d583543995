"""End to end: the real PicoRail over a pty to the firmware's protocol loop (rigfw + SimHW)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from rig.errors import BackendUnavailable, LimitError, MotionError
from tests.harness.rail_pico import FirmwareOnPty, make_rail, rail_config


def slow_cfg(speed_mm_s: float = 40.0, **pico):
    """Moves long enough (1.25 s for the whole rail) that a stop always lands mid-move."""
    cfg = rail_config(**pico)
    return type(cfg)(**{**cfg.__dict__, "max_speed_mm_s": speed_mm_s})


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        time.sleep(0.002)


def move_in_thread(rail, target: float, abort: threading.Event | None = None) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["pos"] = rail.move_to(target, abort)
        except Exception as e:  # handed to the test
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_move_reaches_target_with_exact_step_count():
    with make_rail() as (rail, ctl):
        assert rail.move_to(1234.5) == pytest.approx(1230.0)  # 10 um per step
        assert ctl.hw.position == 123 and ctl.hw.pulses == 123
        assert rail.move_to(0) == 0.0
        assert ctl.hw.pulses == 246 and ctl.hw.position == 0
        assert rail.health()["ok"] and rail.health()["firmware"] == "0.1.0"
        assert ctl.hw.enabled


def test_stop_mid_move_decelerates_and_position_stays_true():
    with make_rail(cfg=slow_cfg()) as (rail, ctl):
        t, out = move_in_thread(rail, 50_000)
        wait_for(lambda: rail.position() > 5000)
        rail.stop()
        t.join(5)
        assert "error" not in out
        assert 5000 < out["pos"] < 50_000
        assert ctl.hw.position * 10 == out["pos"] == rail.position()
        assert ctl.fw.pos == ctl.hw.position and ctl.fw.move is None
        rail.stop()  # idempotent, idle
        assert rail.move_to(1000) == 1000.0


def test_abort_event_returns_early_without_error():
    with make_rail(cfg=slow_cfg()) as (rail, ctl):
        abort = threading.Event()
        t, out = move_in_thread(rail, 50_000, abort)
        wait_for(lambda: rail.position() > 2000)
        abort.set()
        t.join(5)
        assert 2000 < out["pos"] < 50_000 and out["pos"] == ctl.hw.position * 10
        abort2 = threading.Event()
        abort2.set()
        pulses = ctl.hw.pulses
        assert rail.move_to(0, abort2) == out["pos"] and ctl.hw.pulses == pulses


def test_estop_stops_at_once_disables_and_latches():
    with make_rail(cfg=slow_cfg()) as (rail, ctl):
        t, out = move_in_thread(rail, 50_000)
        wait_for(lambda: rail.position() > 3000)
        rail.estop()
        t.join(5)
        assert isinstance(out["error"], MotionError) and "e-stop" in str(out["error"])
        assert not ctl.hw.enabled
        assert rail.position() == ctl.hw.position * 10
        pulses = ctl.hw.pulses
        with pytest.raises(MotionError, match="ESTOP"):
            rail.move_to(0)
        assert ctl.hw.pulses == pulses
        assert rail.health()["fault"] == "estop" and not rail.health()["ok"]
        rail.set_enabled(True)
        assert rail.move_to(0) == 0.0 and ctl.hw.position == 0


def test_limit_switch_stops_the_move_and_blocks_that_direction():
    with make_rail() as (rail, ctl):
        rail.move_to(10_000)
        ctl.trip_limit(after_steps=50)
        with pytest.raises(LimitError, match="limit switch"):
            rail.move_to(20_000)
        assert ctl.hw.position == 1050 and rail.position() == 10_500
        assert not ctl.hw.enabled  # a limit trip releases the driver
        pulses = ctl.hw.pulses
        with pytest.raises(LimitError):
            rail.move_to(11_000)  # further into the pressed switch: refused, no pulse
        assert ctl.hw.pulses == pulses
        assert rail.move_to(9_000) == 9_000.0  # away from it is fine
        assert not ctl.hw.limit_hi() and ctl.hw.enabled


def test_limit_switch_during_a_running_move():
    with make_rail(cfg=slow_cfg()) as (rail, ctl):
        t, out = move_in_thread(rail, 40_000)
        wait_for(lambda: rail.position() > 1000)
        ctl.trip_limit(after_steps=100)
        t.join(5)
        assert isinstance(out["error"], LimitError)
        assert rail.position() == ctl.hw.position * 10 == ctl.hw.hi_at * 10


def test_home_seeks_the_near_limit_switch():
    with make_rail() as (rail, ctl):
        rail.move_to(2000)
        ctl.hw.lo_at = ctl.hw.position - 150  # the switch sits 1.5 mm below
        assert rail.home() == 0.0
        assert ctl.fw.pos == 0 and ctl.hw.limit_lo()
        assert rail.move_to(500) == 500.0


def test_watchdog_fires_when_the_host_goes_silent_and_is_reported_later():
    cfg = slow_cfg(20.0, watchdog_ms=150, ping_s=0.03)  # 2.5 s for the whole rail
    with make_rail(cfg=cfg) as (rail, ctl):
        rail.move_to(200)  # with pings: fine
        ctl.hw.focus = ctl.hw.shutter = False
        rail.keepalive = False  # the host hangs
        with pytest.raises(MotionError, match="watchdog"):
            rail.move_to(50_000)
        assert not ctl.hw.enabled
        assert 200 < rail.position() < 50_000 and rail.position() == ctl.hw.position * 10
        assert any(line.startswith("DONE") and line.endswith("WATCHDOG") for line in ctl.dev.sent)
        rail.keepalive = True  # the host is back: the firmware reports the trip
        health = rail.health()
        assert health["fault"] == "watchdog" and not health["ok"]
        assert any(line.startswith("FAULT WATCHDOG") for line in ctl.dev.sent)
        with pytest.raises(MotionError, match="WATCHDOG"):
            rail.move_to(0)
        rail.set_enabled(True)
        assert rail.move_to(0) == 0.0


def test_pings_keep_a_long_move_alive():
    with make_rail(cfg=slow_cfg(80.0, watchdog_ms=400, ping_s=0.03)) as (rail, ctl):
        assert rail.move_to(45_000) == 45_000.0  # 0.6 s: longer than the watchdog, pinged 20 times
        assert ctl.fw.fault is None and ctl.hw.enabled


def test_garbage_on_the_line_never_moves_and_never_wedges():
    import random

    with make_rail() as (rail, ctl):
        rng = random.Random(7)
        noise = bytes(rng.randrange(256) for _ in range(3000)) + b"\x03\x04\x00\xff\xfe MOVE\n"
        ctl.dev.inject(noise)
        ctl.dev.inject(b"x" * 500 + b"\n")  # over-long
        ctl.dev.inject("MOVE 100 100 100 \u00e9\n".encode())  # non-ASCII
        ctl.dev.inject(b"MOVE 300 1")  # half line, then silence

        def errors() -> set[str]:
            return {line.split()[1] for line in list(ctl.dev.sent) if line.startswith("ERR ")}

        wait_for(lambda: "TIMEOUT" in errors(), timeout=30)  # the half line timed out
        assert ctl.hw.pulses == 0 and ctl.fw.pos == 0
        assert {"TOOLONG", "ENCODING", "TIMEOUT"} <= errors()
        assert rail.move_to(700) == 700.0 and ctl.hw.pulses == 70


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (b"MOVE\n", "SYNTAX"),
        (b"MOVE 1 2\n", "SYNTAX"),
        (b"MOVE 10 abc 100\n", "SYNTAX"),
        (b"MOVE 10 1.5 100\n", "SYNTAX"),
        (b"MOVE 99999999999 100 100\n", "SYNTAX"),
        (b"MOVE 2000000000 100 100\n", "RANGE"),
        (b"MOVE 100 0 100\n", "RANGE"),
        (b"MOVE 100 999999 100\n", "RANGE"),
        (b"MOVE 100 100 -5\n", "RANGE"),
        (b"ENABLE 2\n", "RANGE"),
        (b"WATCHDOG 1\n", "RANGE"),
        (b"SHUTTER -1 10\n", "RANGE"),
        (b"FLY 1\n", "SYNTAX"),
        (b"7\n", "SYNTAX"),
    ],
)
def test_malformed_commands_get_err_with_a_code_and_never_move(line, code):
    import serial

    dev = FirmwareOnPty()
    try:
        with serial.Serial(dev.port, timeout=1) as ser:
            ser.write(b"5 " + line if not line[:1].isdigit() else line)
            reply = ser.readline().decode().split()
            assert "ERR" in reply and reply[reply.index("ERR") + 1] == code
            ser.write(b"6 STATUS\n")
            status = ser.readline().decode()
            assert status.startswith("6 OK state=IDLE pos=0 ")
        assert dev.hw.pulses == 0 and not dev.hw.enabled
    finally:
        dev.unplug()


def test_version_mismatch_refuses_to_run(monkeypatch):
    from rigfw import protocol

    from rig.motion.pico import PicoRail

    monkeypatch.setattr(protocol, "PROTO_VERSION", 2)
    dev = FirmwareOnPty()
    try:
        with pytest.raises(BackendUnavailable, match="protocol 2.*needs 1"):
            PicoRail(rail_config(), port=dev.port)
        verbs = [w for chunk in dev.received for w in chunk.decode().split() if w.isalpha()]
        assert verbs == ["ID"]  # nothing else was sent: no MOVE, no ENABLE
        assert dev.hw.pulses == 0 and not dev.hw.enabled
    finally:
        dev.unplug()


def test_not_rig_firmware_and_missing_port():
    from rig.motion.pico import PicoRail

    with pytest.raises(BackendUnavailable, match="cannot open"):
        PicoRail(rail_config(), port="/dev/does-not-exist-pico")


def test_unplug_mid_move_raises_and_close_is_idempotent():
    with make_rail(cfg=slow_cfg()) as (rail, ctl):
        t, out = move_in_thread(rail, 50_000)
        wait_for(lambda: rail.position() > 1000)
        ctl.unplug()
        t.join(5)
        assert isinstance(out["error"], MotionError)
        with pytest.raises(MotionError, match="lost"):
            rail.move_to(0)
        assert not rail.health()["ok"] and not rail.health()["connected"]
        rail.stop()
        rail.estop()  # no link: nothing to send, no exception
        rail.close()
        rail.close()
    with pytest.raises(MotionError, match="closed"):
        rail.move_to(0)


def test_soft_limits_checked_before_anything_is_sent():
    with make_rail() as (rail, ctl):
        before = len(ctl.dev.received)
        for bad in (-1.0, 50_001.0, float("nan"), float("inf")):
            with pytest.raises(LimitError):
                rail.move_to(bad)
        assert len(ctl.dev.received) == before and ctl.hw.pulses == 0


def test_backlash_approaches_every_target_from_the_same_side():
    cfg = rail_config()
    cfg = type(cfg)(**{**cfg.__dict__, "backlash_um": 200.0})
    with make_rail(cfg=cfg) as (rail, ctl):
        rail.move_to(5000)
        seen = len(ctl.dev.received)
        assert rail.move_to(3000) == 3000.0
        sent = b"".join(ctl.dev.received[seen:]).decode()
        assert " MOVE 280 " in sent and " MOVE 300 " in sent  # overshoot 200 um, then forward
