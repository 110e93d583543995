"""The simulated rail: instant or time-scaled moves, exact position, fault injection.

The reported position is what the motor was told; where the carriage really is (what the
simulated lens sees, :meth:`SimRail.optical_position`) lags it by ``rail.sim.backlash_um`` after
a reversal, misses ``rail.sim.skip_moves``, and travels ``rail.sim.true_um_per_step`` per step
when that differs from ``rail.steps_per_mm``. ``rail.backlash_um`` overshoots like every rail's.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from rig.config import RailConfig
from rig.errors import MotionError
from rig.motion import trapezoid_fraction, trapezoid_time_s
from rig.motion.common import RailState

log = logging.getLogger(__name__)
TICK_S = 0.01


class SimRail(RailState):
    """A rail that always does what it is told, as fast as ``rail.sim.time_scale`` allows."""

    def __init__(self, cfg: RailConfig) -> None:
        super().__init__(cfg, "rail", cfg.units, pos=cfg.sim.start_um, enabled=not cfg.disable_when_idle)
        self._moves = 0
        self._injected: str | None = None
        self.moving = False
        self.travelled = 0.0  # total distance moved, for tests and wear counters
        # where the carriage really is (backlash, skipped moves): what the simulated lens sees
        self._carriage = float(cfg.sim.start_um)
        self._skipping = False
        configured = 1000.0 / cfg.steps_per_mm
        self._scale = (cfg.sim.true_um_per_step or configured) / configured  # real travel per reported um
        self._still_since = time.monotonic() - cfg.sim.vibration_s

    # -- fault injection (tests, demos) ---------------------------------------------------
    def inject_fault(self, message: str) -> None:
        """Make the next (or current) move fail with ``message``."""
        self._injected = message

    # -- Rail protocol (position, limits, stop, estop, set_enabled: RailState) ----------
    def move_to(self, target: float, abort: threading.Event | None = None) -> float:
        self._begin_move(target)
        return self._approach(self.position(), target, self.cfg.backlash, self._move, abort)

    def _move(self, target: float, abort: threading.Event | None = None) -> float:
        self._moves += 1
        self._skipping = self._moves in self.cfg.sim.skip_moves
        if self.cfg.sim.fail_after_moves and self._moves >= self.cfg.sim.fail_after_moves:
            raise MotionError(f"simulated rail fault on move {self._moves}")
        every = self.cfg.sim.fail_every_moves
        if every and self._moves % every == 0:
            raise MotionError(f"simulated rail fault on move {self._moves} (one in {every})")
        self._enabled = True
        start = self.position()
        distance_mm = (target - start) / 1000.0
        total = trapezoid_time_s(distance_mm, self.cfg.max_speed_mm_s, self.cfg.accel_mm_s2)
        total *= self.cfg.sim.time_scale
        t0 = time.monotonic()
        self.moving = True
        try:
            while True:
                self._check_fault()
                if self._interrupted(abort):
                    log.debug("sim rail stopped at %.3f", self.position())
                    break
                elapsed = time.monotonic() - t0
                frac = (
                    1.0
                    if total <= 0
                    else trapezoid_fraction(
                        elapsed / self.cfg.sim.time_scale,
                        total / self.cfg.sim.time_scale,
                        distance_mm,
                        self.cfg.max_speed_mm_s,
                        self.cfg.accel_mm_s2,
                    )
                )
                self._set(start + (target - start) * frac)
                if frac >= 1.0:
                    break
                (abort or self._stop).wait(TICK_S)
        finally:
            self.moving = False
            if not self._skipping and abs(target - start) > 0:
                self._still_since = time.monotonic()
            self._skipping = False
        return self.position()

    def _set(self, pos: float) -> None:
        with self._pos_lock:
            self.travelled += abs(pos - self._pos)
            self._pos = pos
            if not self._skipping:  # the carriage follows the motor, lagging by up to the backlash
                lash = self.cfg.sim.backlash_um
                real = self.cfg.sim.start_um + (pos - self.cfg.sim.start_um) * self._scale
                self._carriage = min(max(self._carriage, real - lash), real)

    # -- what the simulated camera sees ----------------------------------------------
    def optical_position(self) -> float:
        """Where the carriage really is: the reported position less backlash and skipped moves."""
        with self._pos_lock:
            return self._carriage

    def vibration(self) -> float:
        """How strongly the rail still shakes after its last move: 1 until ``rail.sim.vibration_s``
        have passed since it stopped, then 0."""
        if self.moving:
            return 1.0
        return 1.0 if time.monotonic() - self._still_since < self.cfg.sim.vibration_s else 0.0

    def _check_fault(self) -> None:
        if self._estopped:
            raise MotionError("e-stop during move")
        if self._injected:
            message, self._injected = self._injected, None
            raise MotionError(message)

    def home(self, abort: threading.Event | None = None) -> float:
        raise MotionError("the simulated rail has no home switch")

    def health(self) -> dict[str, Any]:
        return {
            "ok": not self.closed and not self._estopped,
            "backend": "sim",
            "enabled": self._enabled,
            "position": self.position(),
            "units": self.units,
        }

    def close(self) -> None:
        if not self.closed:
            self.stop()
            self._enabled = False
            self.closed = True
