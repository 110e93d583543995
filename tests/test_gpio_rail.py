"""GPIO stepper rail on gpiozero's MockFactory: step counts, direction, ramps, backlash,
enable polarity, limit and home switches."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from rig.errors import LimitError, MotionError
from rig.motion.gpio import step_delays
from tests.fakes.clock import VirtualClock
from tests.harness.rail_gpio import DIR, EN, FAR, HOME, NEAR, STEP, make_rail, rising_edges


def intervals(pin) -> list[float]:
    """Times between successive rising edges of a MockPin."""
    out, since, prev = [], 0.0, bool(pin.states[0].state)
    for s in pin.states[1:]:
        since += s.timestamp
        if s.state and not prev:
            out.append(since)
            since = 0.0
        prev = bool(s.state)
    return out[1:]  # the first entry is the time before the first edge


def test_step_delays_form_a_symmetric_trapezoid():
    delays = step_delays(400, v_max=1000, accel=20_000)
    assert len(delays) == 400
    assert delays[0] > 4 * delays[200]
    assert delays[200] == pytest.approx(1 / 1000)
    assert delays[:25] == sorted(delays[:25], reverse=True)
    assert delays[-25:] == sorted(delays[-25:])
    assert delays[0] == pytest.approx(delays[-1], rel=0.5)
    short = step_delays(10, v_max=1000, accel=20_000)  # triangle: never reaches top speed
    assert min(short) > 1 / 1000


def test_counts_exact_steps_and_sets_direction(tmp_path):
    with make_rail(tmp_path) as (rail, ctl):
        assert rail.move_to(1000) == 1000  # 100 steps/mm -> 100 steps
        assert rising_edges(ctl.pin(STEP)) == 100
        assert ctl.pin(DIR).state  # forward = DIR high
        assert rail.move_to(250) == 250
        assert rising_edges(ctl.pin(STEP)) == 175
        assert not ctl.pin(DIR).state
        assert rail.step_count == 175
        assert not ctl.pin(STEP).state  # STEP idles low


def test_dir_invert_swaps_the_direction_line(tmp_path):
    with make_rail(tmp_path, gpio={"dir_invert": True}) as (rail, ctl):
        rail.move_to(500)
        assert not ctl.pin(DIR).state


@pytest.fixture
def clock(monkeypatch) -> VirtualClock:
    """Virtual time for the step loop and the mock pins' timestamps: step gaps are exact under any load."""
    clock = VirtualClock()
    clock.install_in_gpiozero_mock(monkeypatch)
    return clock


def test_moves_ramp_up_and_down(tmp_path, clock):
    with make_rail(tmp_path, clock=clock, accel_mm_s2=100) as (rail, ctl):
        rail.move_to(8000)  # 800 steps, top speed 2000 steps/s reached after 200 steps
        gaps = intervals(ctl.pin(STEP))
        assert len(gaps) == 799
        cruise = statistics.median(gaps[300:500])
        assert 1 / 2000 * 0.9 < cruise < 1 / 2000 * 1.6
        assert gaps[0] > 4 * cruise and gaps[-1] > 4 * cruise


def test_abort_ramps_down_instead_of_stopping_dead(tmp_path, clock):
    with make_rail(tmp_path, clock=clock) as (rail, ctl):
        abort = threading.Event()
        clock.at(0.25, abort.set)  # at full speed by then
        pos = rail.move_to(15_000, abort=abort)
        assert 1000 < pos < 15_000
        gaps = intervals(ctl.pin(STEP))
        assert gaps[-1] > 3 * statistics.median(gaps)
        assert rising_edges(ctl.pin(STEP)) == round(pos / 10)


def test_backlash_every_target_approached_from_the_same_side(tmp_path):
    with make_rail(tmp_path, backlash_um=200, approach="forward") as (rail, ctl):
        rail.move_to(5000)
        assert rising_edges(ctl.pin(STEP)) == 500
        assert rail.move_to(1000) == 1000  # 5000 -> 800 -> 1000: 420 + 20 steps
        assert rising_edges(ctl.pin(STEP)) == 500 + 440
        assert ctl.pin(DIR).state  # last approach was forward
        rail.move_to(3000)  # forward: no overshoot
        assert rising_edges(ctl.pin(STEP)) == 940 + 200


def test_backlash_backward_approach(tmp_path):
    with make_rail(tmp_path, backlash_um=100, approach="backward") as (rail, ctl):
        rail.move_to(2000)  # forward move against the approach: 2100 then back to 2000
        assert rising_edges(ctl.pin(STEP)) == 210 + 10
        assert not ctl.pin(DIR).state


@pytest.mark.parametrize("active_low", [True, False])
def test_enable_polarity(tmp_path, active_low):
    with make_rail(tmp_path, gpio={"enable_active_low": active_low}) as (rail, ctl):
        assert ctl.pin(EN).state == (not active_low)  # enabled at power-on (disable_when_idle off)
        rail.set_enabled(False)
        assert ctl.pin(EN).state == active_low
        rail.move_to(100)  # a move wakes the driver
        assert ctl.pin(EN).state == (not active_low)


def test_disable_when_idle_starts_released(tmp_path):
    with make_rail(tmp_path, disable_when_idle=True) as (rail, ctl):
        assert ctl.pin(EN).state  # active low: high = released
        rail.move_to(100)
        assert not ctl.pin(EN).state


def test_pressed_limit_blocks_moves_into_it_but_not_away(tmp_path):
    with make_rail(tmp_path) as (rail, ctl):
        rail.move_to(1000)
        ctl.pin(FAR).drive_low()
        with pytest.raises(LimitError, match="far-end limit"):
            rail.move_to(2000)
        assert rail.position() == 1000
        assert not ctl.driver_enabled()
        assert rail.move_to(500) == 500  # backing off is allowed (and re-enables the driver)


def test_near_limit_trips_a_backward_move(tmp_path, clock):
    with make_rail(tmp_path, clock=clock) as (rail, ctl):
        rail.move_to(8000)
        clock.at(clock.now() + 0.1, ctl.pin(NEAR).drive_low)
        with pytest.raises(LimitError, match="near-end limit"):
            rail.move_to(0)
        stopped = rail.position()
        time.sleep(0.05)
        assert rail.position() == stopped and 0 < stopped < 8000
        assert rising_edges(ctl.pin(STEP)) == 800 + round((8000 - stopped) / 10)
        assert not ctl.driver_enabled()


NC = {"switch_normally_closed": True}


def close_all(ctl) -> None:
    """Normally-closed switches, intact wiring, nothing pressed: every switch pulls its pin low."""
    for pin in (NEAR, FAR, HOME):
        ctl.pin(pin).drive_low()


def test_normally_closed_limit_trips_when_it_opens(tmp_path, clock):
    with make_rail(tmp_path, clock=clock, gpio=NC) as (rail, ctl):
        close_all(ctl)
        assert rail.switches() == {"near-end limit": False, "far-end limit": False, "home": False}
        assert rail.move_to(1000) == 1000
        clock.at(clock.now() + 0.1, ctl.pin(FAR).drive_high)  # pressed: the contact opens
        with pytest.raises(LimitError, match="far-end limit"):
            rail.move_to(15_000)
        assert 1000 < rail.position() < 15_000 and not ctl.driver_enabled()
        assert rail.move_to(500) == 500  # backing off is allowed


def test_normally_closed_switch_with_a_broken_wire_reads_as_pressed(tmp_path):
    with make_rail(tmp_path, gpio=NC) as (rail, ctl):
        close_all(ctl)
        rail.move_to(1000)
        ctl.pin(FAR).drive_high()  # a cut wire: the pull-up wins, as when the switch opens
        assert rail.switches()["far-end limit"] is True
        with pytest.raises(LimitError, match="far-end limit"):
            rail.move_to(2000)
        assert rail.position() == 1000


def test_estop_disables_the_driver_at_once(tmp_path, clock):
    with make_rail(tmp_path, clock=clock) as (rail, ctl):
        clock.at(0.1, rail.estop)
        with pytest.raises(MotionError, match="e-stop"):
            rail.move_to(15_000)
        assert not ctl.driver_enabled()
        assert rail.health()["ok"] is False


def test_home_seeks_the_switch_backs_off_and_sets_the_offset(tmp_path):
    with make_rail(tmp_path, gpio={"home_offset_um": 500.0}) as (rail, ctl):
        rail.move_to(2000)
        ctl.arm_home(at_um=1500)  # the switch closes below 1500 um by the old reckoning
        assert rail.home() == 500
        assert rail.position() == 500
        assert ctl.pin(HOME).state is not False  # released again (pulled up)
        assert rail.switches()["home"] is False
        assert rail.move_to(1000) == 1000


def test_home_gives_up_when_the_switch_never_closes(tmp_path):
    with (
        make_rail(tmp_path, max_um=2000, max_speed_mm_s=40) as (rail, _),
        pytest.raises(MotionError, match="home switch not found"),
    ):
        rail.home()


def test_home_without_any_switch_is_a_clear_error(tmp_path):
    gpio = {"home_pin": None, "min_limit_pin": None, "max_limit_pin": None}
    with make_rail(tmp_path, gpio=gpio) as (rail, _), pytest.raises(MotionError, match="no home switch"):
        rail.home()


def test_busy_pin_is_a_clear_error(tmp_path):
    from gpiozero import DigitalOutputDevice
    from gpiozero.pins.mock import MockFactory

    from rig.config import RailConfig
    from rig.config.schema import from_table
    from rig.motion.gpio import GpioRail
    from tests.harness.rail_gpio import CONFIG

    factory = MockFactory()
    squatter = DigitalOutputDevice(STEP, pin_factory=factory)
    try:
        with pytest.raises(MotionError, match="cannot claim the pins"):
            GpioRail(from_table(RailConfig, CONFIG, "test"), pin_factory=factory)
    finally:
        squatter.close()
        factory.reset()


@pytest.mark.hardware
def test_real_driver_moves_and_returns(tmp_path):
    """On a Pi with a driver on the default pins: 1 mm out and back."""
    from rig.config import RailConfig
    from rig.config.schema import from_table
    from rig.motion.gpio import GpioRail

    rail = GpioRail(from_table(RailConfig, {"backend": "gpio"}, "hardware"))
    try:
        assert rail.move_to(1000) == pytest.approx(1000, abs=1)
        assert rail.move_to(0) == pytest.approx(0, abs=1)
    finally:
        rail.close()
