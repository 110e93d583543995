"""The sequencer's manual moves: jog, home and the range sweep (``rig range``). Each runs on the
sequencer's one worker thread and ends in IDLE, or in FAULT through the one safe-state path.
:class:`rig.sequencer.Sequencer` inherits them and owns the state they use.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime
from typing import Any

from rig.camera.base import Camera
from rig.errors import Cancelled, RigError, UsageError
from rig.events import EventBus, EventKind
from rig.motion.base import Rail, check_target
from rig.range_store import RangeStore
from rig.range_sweep import SETTLE_S, RangeResult, sweep
from rig.run_storage import RunStorage
from rig.sequencer_state import State, Status, describe

S = State


class ManualMoves:
    """Mixed into the Sequencer: moves outside a stack, each on the worker thread."""

    rail: Rail
    camera: Camera
    bus: EventBus
    _lock: threading.RLock
    _cancel: threading.Event
    _estop: threading.Event
    _worker: threading.Thread | None
    _range: RangeResult | None
    _known_range: RangeResult | None
    _range_store: RangeStore | None
    _status: Status

    def _set(self, **changes: Any) -> Status:
        raise NotImplementedError

    def _require_idle(self, what: str) -> None:
        raise NotImplementedError

    def _idle_rail(self) -> None:
        raise NotImplementedError

    def _safe_state(self, reason: str, storage: RunStorage | None) -> None:
        raise NotImplementedError

    def jog(self, target: float | None = None, delta: float | None = None) -> Status:
        """Move the rail to ``target`` or by ``delta`` (on the worker thread). Non-blocking."""
        with self._lock:
            self._require_idle("jog")
            if (target is None) == (delta is None):
                raise UsageError("give exactly one of target or delta")
            if target is not None:
                goal = target
            else:
                assert delta is not None  # exactly one of them is given
                goal = self.rail.position() + delta
            try:
                check_target(goal, self.rail.limits(), self.rail.units)
            except RigError as exc:
                raise UsageError(str(exc)) from None
            self._cancel.clear()
            self._set(state=S.JOGGING, error=None)
            self._worker = threading.Thread(target=self._jog, args=(goal,), name="rig-jog", daemon=True)
            self._worker.start()
            return self._status

    def home(self) -> Status:
        with self._lock:
            self._require_idle("home")
            self._cancel.clear()
            self._set(state=S.JOGGING, error=None)
            self._worker = threading.Thread(target=self._jog, args=(None,), name="rig-home", daemon=True)
            self._worker.start()
            return self._status

    def find_range(self, lo: float, hi: float) -> Status:
        """Sweep from ``lo`` to ``hi`` with preview frames to find where the subject starts and ends
        (rig.range_sweep), then move back. Non-blocking; the answer is ``last_range()`` and a
        ``range`` event. Cancel stops it like a stack."""
        with self._lock:
            self._require_idle("find the range")
            if not getattr(self.camera, "has_live_view", True):
                raise UsageError("finding the range needs live view, which this camera has not")
            if lo == hi:
                raise UsageError("the range to sweep has no length: give two different positions")
            for value in (lo, hi):
                try:
                    check_target(value, self.rail.limits(), self.rail.units)
                except RigError as exc:
                    raise UsageError(str(exc)) from None
            self._cancel.clear()
            self._set(state=S.RANGING, error=None, slice=0, slices=0, eta_s=None)
            self._worker = threading.Thread(target=self._sweep, args=(lo, hi), name="rig-range", daemon=True)
            self._worker.start()
            return self._status

    def last_range(self) -> RangeResult | None:
        """The answer of the last range sweep (None before the first), of this process or, before
        its first, the one kept from an earlier process (rig.range_store)."""
        return self._range

    def known_range(self) -> RangeResult | None:
        """The last sweep that ended with an answer, a range or "no detail" (a cancelled sweep
        says nothing about the subject); kept between processes. For the coverage warnings."""
        return self._known_range

    # ------------------------------------------------------------------ worker
    def _jog(self, goal: float | None) -> None:
        try:
            self.rail.set_enabled(True)
            if goal is None:
                self.rail.home(abort=self._cancel)
            else:
                self.rail.move_to(goal, abort=self._cancel)
            self._idle_rail()
            self._set(state=S.IDLE)
        except Exception as exc:  # noqa: BLE001 - every fault takes the safe-state path
            self._safe_state(describe(exc), None)

    def _sweep(self, lo: float, hi: float) -> None:
        origin = self.rail.position()
        try:
            self.rail.set_enabled(True)
            lag = float(getattr(self.camera, "preview_lag_s", SETTLE_S))  # live view trails the lens a little
            result = sweep(
                self.rail, self.camera, lo, hi, self._cancel, lambda i, n: self._set(slice=i, slices=n), settle_s=lag
            )
        except Cancelled:
            result = RangeResult(None, None, self.rail.units, 0, (lo, hi), "range sweep cancelled")
        except Exception as exc:  # noqa: BLE001 - every fault takes the safe-state path
            self._safe_state("e-stop pressed" if self._estop.is_set() else describe(exc), None)
            return
        try:
            self._set(state=S.RETURNING)
            self.rail.move_to(origin, abort=self._estop)
            if self._estop.is_set():
                raise Cancelled("e-stop during return")
            self._idle_rail()
        except Exception as exc:  # noqa: BLE001
            self._safe_state("e-stop pressed" if self._estop.is_set() else describe(exc), None)
            return
        result = dataclasses.replace(result, at=datetime.now(UTC).isoformat(timespec="seconds"))
        self._range = result
        if result.frames:  # not cancelled: an answer about the subject, kept for later processes
            self._known_range = result
            if self._range_store is not None:
                self._range_store.save(result)
        self._set(state=S.IDLE, slice=0, slices=0)
        self.bus.publish(EventKind.RANGE, result.to_dict())
