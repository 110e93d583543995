"""A step/dir/enable stepper driver (A4988, DRV8825, TMC2209 in step/dir mode) on the Pi's GPIO.

Step pulses are timed in Python on the calling thread. Counts are exact; timing jitters by a
few milliseconds on a busy Pi, which is fine for a focus rail but not for fast smooth motion
(that belongs to the ``pico`` backend).

* Trapezoidal ramps: each step's delay comes from the speed allowed by the acceleration
  from rest, the distance left to decelerate, and the top speed.
* Backlash: every target is approached from ``rail.approach``; a move the other way
  overshoots by ``rail.backlash_um`` and comes back.
* Limit switches stop a move at once (no ramp), disable the driver and raise ``LimitError``.
  A switch that is already pressed only blocks moves further into it, so the user can back off.
* ``stop()`` / ``abort`` decelerate along the ramp; ``estop()`` disables the driver at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from rig.config import RailConfig
from rig.errors import BackendUnavailable, LimitError, MotionError
from rig.motion.common import RailState

log = logging.getLogger(__name__)

DIR_SETUP_S = 20e-6  # DIR must settle before the next STEP edge (A4988: 200 ns; TMC2209: 20 ns)
ENABLE_WAKE_S = 0.002  # driver wake-up after EN (DRV8825 needs ~1.7 ms)
SPIN_BELOW_S = 0.002  # shorter waits busy-wait; longer ones sleep
HOME_SPEED_FRACTION = 0.25
BACKOFF_MAX_MM = 5.0
BACKOFF_SPEED_FRACTION = 0.05


def step_delays(n: int, v_max: float, accel: float) -> list[float]:
    """Delays (s) before each of ``n`` steps of a trapezoidal move from rest to rest.

    ``v_max`` in steps/s, ``accel`` in steps/s^2. Pure function, used by the step loop's
    logic and by tests.
    """
    return [1.0 / _speed(k, n, v_max, accel) for k in range(n)]


def _speed(done: int, total: int, v_max: float, accel: float) -> float:
    """Speed (steps/s) for the next step after ``done`` of ``total`` steps."""
    up = math.sqrt(2.0 * accel * (done + 1))
    down = math.sqrt(2.0 * accel * max(total - done, 1))
    return max(1.0, min(v_max, up, down))


def _wait_until(deadline: float) -> None:
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        if left > SPIN_BELOW_S:
            time.sleep(left - SPIN_BELOW_S / 2)


class StepClock:
    """The step loop's time: ``perf_counter`` and a wait that sleeps, then busy-waits the last
    ``SPIN_BELOW_S``. Tests pass a virtual clock with the same two methods."""

    def now(self) -> float:
        return time.perf_counter()

    def wait_until(self, deadline: float) -> None:
        _wait_until(deadline)


class Switch:
    """A limit or home switch, wired normally open (closes when pressed) or normally closed
    (opens when pressed: a broken wire or a pulled connector then reads as pressed)."""

    def __init__(self, device: Any, normally_closed: bool, on_press: Callable[[], None]) -> None:
        self.device, self.normally_closed = device, normally_closed
        if normally_closed:
            device.when_deactivated = on_press
        else:
            device.when_activated = on_press

    @property
    def is_active(self) -> bool:
        """Pressed (or, normally closed, its circuit open)."""
        return bool(self.device.is_active) != self.normally_closed


class GpioRail(RailState):
    """Rail protocol over gpiozero. ``pin_factory`` may be injected (tests: ``MockFactory``)."""

    _pos: int  # counts drive steps
    _steps_per_um: float

    def __init__(self, cfg: RailConfig, pin_factory: Any = None, clock: StepClock | None = None) -> None:
        try:
            import gpiozero
        except ImportError as exc:  # pragma: no cover - gpiozero is a core dependency
            raise BackendUnavailable(f"gpio rail backend unavailable: {exc} (pip install gpiozero)") from None
        self._clock = clock or StepClock()
        # the position counts steps from power-on; `rig home` sets a known one
        super().__init__(cfg, "gpio rail", "um", steps_per_um=cfg.steps_per_mm / 1000.0)
        self.g = cfg.gpio
        self._tripped: str | None = None
        self._seeking: str | None = None  # the switch home() is looking for (not a fault)
        self._direction = 0  # +1 / -1 while moving, 0 when idle
        self._devices: list[Any] = []
        self._en_dev: Any = None
        self._switches: dict[str, Any] = {}
        self.step_count = 0  # total STEP pulses sent (tests, wear counters)
        try:
            kw = {"pin_factory": pin_factory} if pin_factory is not None else {}
            out = gpiozero.DigitalOutputDevice
            self._step_dev = self._add(out(self.g.step_pin, initial_value=False, **kw))
            self._dir_dev = self._add(out(self.g.dir_pin, initial_value=False, **kw))
            if self.g.enable_pin is not None:
                self._en_dev = self._add(
                    out(self.g.enable_pin, active_high=not self.g.enable_active_low, initial_value=False, **kw)
                )
            for name, pin in (
                ("near-end limit", self.g.min_limit_pin),
                ("far-end limit", self.g.max_limit_pin),
                ("home", self.g.home_pin),
            ):
                if pin is None:
                    continue
                device = self._add(
                    gpiozero.DigitalInputDevice(pin, pull_up=self.g.switch_active_low, bounce_time=None, **kw)
                )
                self._switches[name] = Switch(device, self.g.switch_normally_closed, partial(self._on_switch, name))
        except gpiozero.GPIOZeroError as exc:
            self.close()
            raise MotionError(f"gpio rail: cannot claim the pins ({type(exc).__name__}: {exc})") from None
        self._step_pin = self._step_dev.pin
        if not cfg.disable_when_idle:
            self.set_enabled(True)

    def _add(self, device: Any) -> Any:
        self._devices.append(device)
        return device

    # -- switches ------------------------------------------------------------------
    def _on_switch(self, name: str) -> None:
        """gpiozero callback (its thread, or the caller's with the mock factory)."""
        if name == self._seeking or name == "home" or self._direction == 0:
            return
        if (name == "near-end limit" and self._direction < 0) or (name == "far-end limit" and self._direction > 0):
            self._tripped = name
            self._disable_now()  # stop at once, before the step loop notices

    def _switch_ahead(self, direction: int) -> str | None:
        name = "far-end limit" if direction > 0 else "near-end limit"
        button = self._switches.get(name)
        return name if button is not None and button.is_active else None

    # -- Rail protocol (position, limits, stop: RailState) ---------------------------
    def move_to(self, target: float, abort: threading.Event | None = None) -> float:
        self._begin_move(target)
        with self._pos_lock:
            here = self._pos
        backlash = round(self.cfg.backlash_um * self._steps_per_um)
        return self._approach(here, round(target * self._steps_per_um), backlash, self._run, abort)

    def _run(
        self,
        goal_steps: int,
        abort: threading.Event | None,
        until: Callable[[], bool] | None = None,
        speed_fraction: float = 1.0,
    ) -> int:
        """Step toward ``goal_steps``; with ``until``, stop as soon as it returns True (homing).

        Returns the number of steps made.
        """
        with self._pos_lock:
            here = self._pos
        n = abs(goal_steps - here)
        if n == 0 or self._interrupted(abort):
            return 0
        direction = 1 if goal_steps > here else -1
        blocked = self._switch_ahead(direction)
        if blocked and blocked != self._seeking:
            self._fault_disable()
            raise LimitError(f"the {blocked} switch is pressed; move the other way first")
        if not self._enabled:
            self.set_enabled(True)
        v_max = self.cfg.max_speed_mm_s * self.cfg.steps_per_mm * speed_fraction
        accel = self.cfg.accel_mm_s2 * self.cfg.steps_per_mm
        pulse = self.g.step_pulse_us * 1e-6
        self._dir_dev.value = (direction > 0) != self.g.dir_invert
        self._tripped = None
        self._direction = direction
        total = n
        done = 0
        clock = self._clock
        next_t = clock.now() + DIR_SETUP_S
        try:
            while done < total:
                if self._estopped:
                    raise MotionError(f"e-stop during a move; stopped at {self.position():.1f} um")
                if self._tripped:
                    raise LimitError(
                        f"the {self._tripped} switch tripped during a move; "
                        f"stopped at {self.position():.1f} um and disabled the driver"
                    )
                if until is not None and until():
                    break
                v = _speed(done, total, v_max, accel)
                if self._interrupted(abort) and total == n:
                    total = min(total, done + math.ceil(v * v / (2.0 * accel)))  # ramp down from here
                    if done >= total:
                        break
                    v = _speed(done, total, v_max, accel)
                clock.wait_until(next_t)
                self._step_pin.state = True
                t_high = clock.now()
                clock.wait_until(t_high + pulse)
                self._step_pin.state = False
                with self._pos_lock:
                    self._pos += direction
                    self.step_count += 1
                done += 1
                next_t = t_high + 1.0 / v
        except MotionError:
            self._fault_disable()
            raise
        finally:
            self._direction = 0
        return done

    def _disable_now(self) -> None:
        if self._en_dev is not None:
            try:
                self._en_dev.off()
            except Exception:  # noqa: BLE001 - best effort from a callback or another thread
                log.exception("gpio rail: could not disable the driver")
        self._enabled = False

    def _fault_disable(self) -> None:
        """A fault always releases the driver."""
        self._disable_now()

    def estop(self) -> None:
        super().estop()
        self._disable_now()

    def set_enabled(self, enabled: bool) -> None:
        if self.closed:
            return
        if enabled:
            self._estopped = False
            if not self._enabled and self._en_dev is not None:
                self._en_dev.on()
                self._clock.wait_until(self._clock.now() + ENABLE_WAKE_S)
            self._enabled = True
        else:
            self._disable_now()

    def home(self, abort: threading.Event | None = None) -> float:
        """Seek the home switch (or the limit switch on the home side), back off, set the offset."""
        self._check_ready()
        direction = 1 if self.g.home_direction == "forward" else -1
        name = "home" if "home" in self._switches else ("far-end limit" if direction > 0 else "near-end limit")
        button = self._switches.get(name)
        if button is None:
            raise MotionError("gpio rail has no home switch (set rail.gpio.home_pin, or a limit pin on the home side)")
        self._stop.clear()
        travel = round((self.cfg.max_um - self.cfg.min_um) * 1.2 * self._steps_per_um)
        backoff = round(BACKOFF_MAX_MM * self.cfg.steps_per_mm)
        self._seeking = name
        try:
            with self._pos_lock:
                here = self._pos
            if not button.is_active:
                self._run(
                    here + direction * travel, abort, until=lambda: button.is_active, speed_fraction=HOME_SPEED_FRACTION
                )
                if self._interrupted(abort):
                    return self.position()
                if not button.is_active:
                    self._fault_disable()
                    raise MotionError(f"home switch not found within {travel / self._steps_per_um / 1000:.0f} mm")
            with self._pos_lock:
                here = self._pos
            self._run(
                here - direction * backoff,
                abort,
                until=lambda: not button.is_active,
                speed_fraction=BACKOFF_SPEED_FRACTION,
            )  # creep off the switch
            if self._interrupted(abort):
                return self.position()
            if button.is_active:
                self._fault_disable()
                raise MotionError(f"the {name} switch stays pressed after backing off {BACKOFF_MAX_MM:g} mm")
            with self._pos_lock:
                self._pos = round(self.g.home_offset_um * self._steps_per_um)
            log.info("gpio rail homed; position set to %.1f um", self.g.home_offset_um)
            return self.position()
        finally:
            self._seeking = None

    def switches(self) -> dict[str, bool]:
        return {name: bool(button.is_active) for name, button in self._switches.items()}

    def health(self) -> dict[str, Any]:
        return {
            "ok": not self.closed and not self._estopped,
            "backend": "gpio",
            "enabled": self._enabled,
            "position": self.position(),
            "units": self.units,
            "switches": self.switches() if not self.closed else {},
            "error": "e-stopped" if self._estopped else None,
        }

    def close(self) -> None:
        if self.closed:
            return
        self._stop.set()
        self._disable_now()
        self.closed = True
        for device in reversed(self._devices):
            try:
                device.close()
            except Exception:  # noqa: BLE001
                log.exception("gpio rail: closing %r failed", device)
        self._devices.clear()
