"""One contract, every rail backend, each on its emulator.

A harness module ``tests/harness/rail_<backend>.py`` exposes ``make_rail(tmp_path)``, a context
manager yielding ``(rail, ctl)``. ``ctl`` must have ``trip_limit()`` (trip the switch ahead of
a move toward ``far``) and ``unplug()`` (pull the cable); either calls ``pytest.skip`` when the
backend cannot notice. Optional: ``near`` / ``far`` (targets; ``near -> far`` must take at least
0.3 s, ideally under 1.5 s), ``tol`` (position resolution), ``driver_enabled()``,
``faults_disable_driver`` (default True) and ``arm_home()`` (make ``home()`` find its switch).
"""

from __future__ import annotations

import math
import threading
import time

import pytest

from rig.errors import LimitError, MotionError
from rig.motion.base import Rail
from tests.harness.discover import harness_params, make

BACKENDS = ("sim", "gpio", "stackshot", "pico", "lens")


@pytest.fixture(params=harness_params("rail", BACKENDS))
def rig_rail(request, tmp_path):
    with make("rail", request.param, tmp_path) as (rail, ctl):
        yield rail, ctl


def _targets(rail, ctl):
    lo, hi = rail.limits()
    near = getattr(ctl, "near", lo + (hi - lo) * 0.05)
    far = getattr(ctl, "far", lo + (hi - lo) * 0.75)
    tol = getattr(ctl, "tol", 1e-6)
    return near, far, tol


def _move_in_thread(rail, target, abort=None):
    result: dict = {}

    def run():
        try:
            result["pos"] = rail.move_to(target, abort=abort)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            result["exc"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def _wait_moving(rail, start, deadline_s=30.0):
    t0 = time.monotonic()
    while abs(rail.position() - start) < 1e-9:
        assert time.monotonic() - t0 < deadline_s, "the rail never started moving"
        time.sleep(0.005)


def test_speaks_the_protocol(rig_rail):
    rail, _ = rig_rail
    assert isinstance(rail, Rail)
    assert rail.units in ("um", "steps")
    lo, hi = rail.limits()
    assert lo < hi
    health = rail.health()
    assert health["ok"] is True and isinstance(health["backend"], str)
    assert math.isfinite(rail.position())


def test_moves_to_targets_and_reports_them(rig_rail):
    rail, ctl = rig_rail
    near, far, tol = _targets(rail, ctl)
    mid = near + (far - near) / 10
    for target in (near, mid, near):
        reached = rail.move_to(target)
        assert reached == pytest.approx(target, abs=tol)
        assert rail.position() == pytest.approx(target, abs=tol)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "limits-below", "limits-above"])
def test_refuses_targets_outside_the_soft_limits_without_moving(rig_rail, bad):
    rail, ctl = rig_rail
    near, _, _ = _targets(rail, ctl)
    rail.move_to(near)
    lo, hi = rail.limits()
    target = {"limits-below": lo - 1, "limits-above": hi + 1}.get(bad, bad)
    with pytest.raises(LimitError):
        rail.move_to(target)
    assert rail.position() == near or rail.position() == pytest.approx(near, abs=getattr(ctl, "tol", 0))


def test_preset_abort_returns_at_once_without_moving(rig_rail):
    rail, ctl = rig_rail
    near, far, _ = _targets(rail, ctl)
    rail.move_to(near)
    abort = threading.Event()
    abort.set()
    steps = ctl.steps() if hasattr(ctl, "steps") else None
    assert rail.move_to(far, abort=abort) == pytest.approx(near, abs=getattr(ctl, "tol", 0))
    assert rail.position() == pytest.approx(near, abs=getattr(ctl, "tol", 0))
    if steps is not None:
        assert ctl.steps() == steps  # not one step toward `far`


def test_abort_mid_move_stops_early_with_the_true_position_and_reports_it(rig_rail):
    rail, ctl = rig_rail
    near, far, tol = _targets(rail, ctl)
    rail.move_to(near)
    abort = threading.Event()
    thread, result = _move_in_thread(rail, far, abort)
    _wait_moving(rail, near)
    seen_midway = rail.position()  # position() is live during the move, from another thread
    assert near < seen_midway < far
    abort.set()
    thread.join(5)
    assert not thread.is_alive(), "move_to did not return after abort"
    assert "exc" not in result, result.get("exc")
    assert near < result["pos"] < far - tol
    assert rail.position() == pytest.approx(result["pos"], abs=1e-9)
    # the rail is still usable and goes back where asked
    assert rail.move_to(near) == pytest.approx(near, abs=tol)


def test_stop_from_another_thread_stops_the_move(rig_rail):
    rail, ctl = rig_rail
    near, far, tol = _targets(rail, ctl)
    rail.move_to(near)
    thread, result = _move_in_thread(rail, far)
    _wait_moving(rail, near)
    rail.stop()
    rail.stop()  # idempotent
    thread.join(5)
    assert not thread.is_alive()
    assert "exc" not in result, result.get("exc")
    assert near < result["pos"] < far - tol


def test_estop_faults_the_move_and_blocks_motion_until_reenabled(rig_rail):
    rail, ctl = rig_rail
    near, far, tol = _targets(rail, ctl)
    rail.move_to(near)
    thread, result = _move_in_thread(rail, far)
    _wait_moving(rail, near)
    rail.estop()
    thread.join(5)
    assert not thread.is_alive()
    stopped_at = rail.position()
    assert "pos" in result or isinstance(result.get("exc"), MotionError)
    assert stopped_at < far - tol
    if hasattr(ctl, "driver_enabled"):
        assert not ctl.driver_enabled(), "e-stop must disable the driver"
    with pytest.raises(MotionError):
        rail.move_to(near)
    rail.set_enabled(True)
    assert rail.move_to(near) == pytest.approx(near, abs=tol)


def test_limit_switch_mid_move_faults_and_keeps_the_position_truthful(rig_rail):
    rail, ctl = rig_rail
    near, far, tol = _targets(rail, ctl)
    rail.move_to(near)
    thread, result = _move_in_thread(rail, far)
    _wait_moving(rail, near)
    ctl.trip_limit()
    thread.join(5)
    assert not thread.is_alive()
    exc = result.get("exc")
    assert isinstance(exc, MotionError), f"expected a MotionError, got {result!r}"
    assert "limit" in str(exc).lower()
    assert near < rail.position() < far - tol
    if hasattr(ctl, "driver_enabled") and getattr(ctl, "faults_disable_driver", True):
        assert not ctl.driver_enabled(), "a fault must disable the driver"


def test_unplugged_link_gives_a_clear_fault(rig_rail):
    rail, ctl = rig_rail
    near, far, _ = _targets(rail, ctl)
    rail.move_to(near)
    ctl.unplug()
    t0 = time.monotonic()
    with pytest.raises(MotionError) as info:
        rail.move_to(far)
    assert time.monotonic() - t0 < 10
    message = str(info.value).lower()
    assert any(word in message for word in ("disconnect", "unplug", "lost", "not answer", "timed out", "cable"))


def test_close_is_idempotent_and_final(rig_rail):
    rail, ctl = rig_rail
    near, _, _ = _targets(rail, ctl)
    rail.close()
    rail.close()
    with pytest.raises(MotionError):
        rail.move_to(near)
    rail.stop()  # harmless after close
    rail.estop()


def test_home_either_homes_or_says_there_is_no_switch(rig_rail):
    rail, ctl = rig_rail
    if hasattr(ctl, "arm_home"):
        ctl.arm_home()
        pos = rail.home()
        assert math.isfinite(pos) and rail.position() == pytest.approx(pos)
    else:
        with pytest.raises(MotionError):
            rail.home()
