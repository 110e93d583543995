"""What the rail backends share: host-tracked position, soft limits, stop/e-stop flags, the
``move_to`` preamble and the backlash overshoot.

Not part of the ``Rail`` protocol (``rig.motion.base``); a backend may override any piece
(the pico rail, for one, sends STOP to its firmware and leaves e-stop to it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from rig.config import RailConfig
from rig.errors import MotionError
from rig.motion.base import check_target

N = TypeVar("N", int, float)  # a position: drive steps or units


class RailState:
    """Host-side rail state.

    ``_pos`` is the tracked position, read and written under ``_pos_lock``: in ``units`` or, for
    rails that count drive steps (``steps_per_um`` given), in steps. ``name`` starts the
    backend's messages ("gpio rail is closed").
    """

    def __init__(
        self,
        cfg: RailConfig,
        name: str,
        units: str,
        *,
        pos: float = 0,
        steps_per_um: float | None = None,
        enabled: bool = False,
    ) -> None:
        self.cfg = cfg
        self.units = units
        self._name = name
        self.closed = False
        self._pos_lock = threading.Lock()
        self._pos = pos
        self._steps_per_um = steps_per_um
        self._stop = threading.Event()
        self._estopped = False
        self._enabled = enabled

    def _units(self, count: float) -> float:
        """A tracked count in ``units``."""
        return count if self._steps_per_um is None else count / self._steps_per_um

    def position(self) -> float:
        with self._pos_lock:
            return self._units(self._pos)

    def limits(self) -> tuple[float, float]:
        return self.cfg.travel

    def reset_position(self, position: float) -> None:
        """Count where the rail stands as ``position`` (a drive without a readout, after the
        closed-loop return found the start elsewhere: ``rig.return_check``)."""
        with self._pos_lock:
            self._pos = position if self._steps_per_um is None else position * self._steps_per_um

    # -- moves ---------------------------------------------------------------------------
    def _check_ready(self) -> None:
        if self.closed:
            raise MotionError(f"{self._name} is closed")
        if self._estopped:
            raise MotionError(f"{self._name} is e-stopped; reset (re-enable) before moving")

    def _begin_move(self, target: float) -> None:
        """The start of every ``move_to``: a target inside the limits, a rail ready to move,
        and a stop request from before this move forgotten."""
        check_target(target, self.limits(), self.units)
        self._check_ready()
        self._stop.clear()

    def _interrupted(self, abort: threading.Event | None) -> bool:
        return self._stop.is_set() or (abort is not None and abort.is_set())

    def _overshoot(self, here: N, goal: N, backlash: N, tol: float = 0.0) -> N | None:
        """Where to go first so that ``goal`` is approached from ``rail.approach``: past it by
        ``backlash`` when the move runs the other way (and is longer than ``tol``), else None."""
        approach = 1 if self.cfg.approach == "forward" else -1
        if backlash and abs(goal - here) > tol and (goal - here) * approach < 0:
            return goal - approach * backlash
        return None

    def _approach(
        self,
        here: float,
        goal: float,
        backlash: float,
        go: Callable[..., Any],
        abort: threading.Event | None,
        tol: float = 0.0,
    ) -> float:
        """``go(goal, abort)``, overshooting first if needed (see ``_overshoot``); a stop during
        the overshoot ends the move there. Returns the final position."""
        pre = self._overshoot(here, goal, backlash, tol)
        if pre is not None:
            go(pre, abort)
            if self._interrupted(abort):
                return self.position()
        go(goal, abort)
        return self.position()

    # -- flags ---------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def estop(self) -> None:
        self._estopped = True
        self._enabled = False
        self._stop.set()

    def set_enabled(self, enabled: bool) -> None:
        """Only the flag (the driver powers itself); enabling clears an e-stop."""
        self._enabled = enabled
        if enabled:
            self._estopped = False

    @property
    def enabled(self) -> bool:
        return self._enabled
