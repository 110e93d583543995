"""The sequencer's per-frame-checks steps (issue 14), kept apart from the stack loop so the loop
stays readable: the checked capture of a run, settling (a set time or ``"auto"``), what a failed
check does (fail, or pause until ``resume()``), gap fill after the last slice, the coverage map at
the end, the closed-loop return, and approaching every slice from the stack's direction (the
calibrated backlash taken up: ``Plan.take_up``). :class:`rig.sequencer.Sequencer` inherits them; they run on
its worker thread and use its state (``_set``, the cancel events, ``rail``, ``camera``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from rig.camera.base import Camera
from rig.checked_capture import CheckedCapture
from rig.config import Profile
from rig.errors import Cancelled, FrameCheckFailed
from rig.manifest import ReturnCheckRecord
from rig.motion.base import Rail
from rig.plan import Plan
from rig.return_check import StartCheck
from rig.run_storage import RunStorage
from rig.sequencer_state import State, Status
from rig.settle import wait_until_still

log = logging.getLogger("rig.sequencer")


def _state(name: str) -> State:
    """A sequencer state by name."""
    return State(name)


class RunChecks:
    """Mixed into the Sequencer: the steps of issue 14 it calls from a few places in its loop."""

    rail: Rail
    camera: Camera
    _cancel: threading.Event
    _estop: threading.Event
    _resume: threading.Event
    _checks: CheckedCapture | None
    _gaps: list[float]
    _filled: list[float]
    _start_check: StartCheck | None
    _approached: float  # the direction the last slice was approached from this run (0: none yet)

    def _set(self, **changes: Any) -> Status:
        raise NotImplementedError

    def _check_cancel(self) -> None:
        raise NotImplementedError

    def _capture(
        self,
        index: int,
        profile: Profile,
        storage: RunStorage | None,
        *,
        settle_s: float | None = None,
        gap_fill: bool = False,
    ) -> None:
        raise NotImplementedError

    def _start_checks(self, profile: Profile, storage: RunStorage | None) -> CheckedCapture | None:
        if storage is None or profile.mode != "full" or not profile.check_frames:
            return None
        return CheckedCapture(
            self.camera,
            storage,
            profile,
            settle_again=lambda: self._settle_for_retake(profile),
            on_failed=lambda index, reason: self._on_failed_check(profile, reason),
        )

    def _settle(self, profile: Profile) -> float | None:
        """Wait ``settle_s`` after a move (cancellable); the measured settle time, if measured."""
        self._set(state=_state("settling"))
        if profile.settle_auto:
            return wait_until_still(self.camera.preview, self._cancel)
        if self._cancel.wait(profile.settle_guess_s()):
            raise Cancelled("cancelled while settling")
        return None

    def _settle_for_retake(self, profile: Profile) -> float | None:
        settle_s = self._settle(profile)
        self._set(state=_state("capturing"))
        return settle_s

    def _on_failed_check(self, profile: Profile, reason: str) -> None:
        """A slice without a good shot: fail the run, or pause until resume() (returns: retake)
        or cancel (raises Cancelled)."""
        if profile.on_failed_check == "fail":
            raise FrameCheckFailed(reason)
        self._resume.clear()
        self._set(state=_state("paused"), error=reason)
        while not self._resume.wait(0.05):
            self._check_cancel()
        self._set(error=None)

    def _fill_gaps(self, plan: Plan, profile: Profile, storage: RunStorage | None) -> None:
        """After the last slice: a slice at every position the coverage map found uncovered."""
        assert self._checks is not None
        gaps = self._gaps = self._checks.coverage.gaps()
        self._filled = []
        for n, position in enumerate(gaps, start=1):
            self._check_cancel()
            index = plan.slices + n
            self._set(state=_state("moving"), slice=index, slices=plan.slices)
            log.info("gap fill: a slice at %g %s", position, self.rail.units)
            self._move_to_slice(plan, position)
            self._check_cancel()
            settle_s = self._settle(profile)
            self._set(state=_state("capturing"))
            self._capture(index, profile, storage, settle_s=settle_s, gap_fill=True)
            self._filled.append(position)

    def _move_to_slice(self, plan: Plan, target: float) -> None:
        """To a slice, approached in the stack's direction: with ``plan.take_up`` (a calibrated
        backlash), the run's first slice and any slice reached against the stack's direction (a
        gap fill) are approached from ``take_up`` beyond it, so the lash is always taken up the same
        way. The overshoot stays within the soft limits."""
        direction = 1.0 if plan.step >= 0 else -1.0
        here = self.rail.position()
        if plan.take_up and (self._approached != direction or (target - here) * direction < 0):
            lo, hi = self.rail.limits()
            self.rail.move_to(min(max(target - direction * plan.take_up, lo), hi), abort=self._cancel)
            self._check_cancel()
        self.rail.move_to(target, abort=self._cancel)
        self._approached = direction

    def _remember_start(self) -> None:
        """The first slice's view, for the closed-loop return; without it the return is open-loop."""
        check = StartCheck(self.camera)
        try:
            check.remember()
        except Exception as exc:  # noqa: BLE001 - a report: never fails the run
            log.warning("closed-loop return off for this stack: no live view to remember the start (%s)", exc)
            return
        self._start_check = check

    def _confirm_start(self, plan: Plan, storage: RunStorage | None) -> None:
        """Closed-loop return (a drive without a position readout): is the view the first slice's?"""
        check, self._start_check = self._start_check, None
        if check is None:
            return
        try:
            result = check.confirm(self.rail, plan.start, abs(plan.step), self._estop)
        except Cancelled:
            raise
        except Exception:  # the check is a report: the rail is back where it counts the start anyway
            log.exception("closed-loop return failed")
            return
        if result is not None and storage is not None:
            storage.record_return_check(
                ReturnCheckRecord(result.confirmed, round(result.correction, 4), result.searched)
            )

    def _save_coverage(self, storage: RunStorage | None) -> None:
        checks, self._checks = self._checks, None
        if checks is None or storage is None or not len(checks.coverage):
            return
        gaps, filled, self._gaps, self._filled = self._gaps, self._filled, [], []
        try:
            storage.save_coverage(checks.coverage.png(), checks.coverage.figures(gaps, filled), caught=checks.caught)
        except Exception:  # the map is a report: never let it fail the run
            log.exception("could not save the coverage map")
