"""The stack loop: one worker thread, a state table, immutable status snapshots.

Web handlers and the CLI only call the non-blocking ``start``, ``cancel``, ``estop``,
``reset``, ``jog`` and ``status``. Every rail and camera call happens on the worker thread,
except ``rail.stop()``/``rail.estop()``/``camera.release()``, which any thread may call.
Every fault goes through ``_safe_state``: stop the rail, release the shutter, disable the
driver, record why, publish. Leaving FAULT takes an explicit ``reset()``; motion never
resumes by itself.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rig.calibration_store import rail_calibration
from rig.camera.base import Camera, Frame, notify_stack_started
from rig.checked_capture import CheckedCapture
from rig.config import MachineConfig, Profile
from rig.errors import Cancelled, RigError, StateError, UsageError
from rig.events import EventBus, EventKind
from rig.motion.base import Rail, check_target
from rig.pause import PauseGate
from rig.plan import Plan
from rig.range_store import RangeStore
from rig.range_sweep import RangeResult
from rig.resume import ResumeSetup
from rig.return_check import StartCheck, needs_closed_loop
from rig.run_storage import RunStorage
from rig.sequencer_checks import RunChecks
from rig.sequencer_moves import ManualMoves
from rig.sequencer_state import BUSY, RUN_PHASES, TRANSITIONS, Outcome, S, State, Status, describe
from rig.specimen import Specimen

__all__ = ["BUSY", "RUN_PHASES", "TRANSITIONS", "Outcome", "Sequencer", "State", "Status"]

log = logging.getLogger(__name__)


class Sequencer(ManualMoves, RunChecks):
    def __init__(
        self,
        rail: Rail,
        camera: Camera,
        bus: EventBus,
        config: MachineConfig,
        clock_synchronized: Callable[[], bool] | None = None,
        range_store: RangeStore | None = None,
    ) -> None:
        """``range_store``: where the last range sweep's answer is kept between processes."""
        self.rail, self.camera, self.bus, self.config = rail, camera, bus, config
        self.clock_synchronized = clock_synchronized  # None: unknown (stack.json says null)
        self._lock = threading.RLock()
        self._status = Status(units=rail.units, position=rail.position())
        self._cancel = threading.Event()
        self._estop = threading.Event()
        self._cancel_outcome = Outcome.CANCELLED
        self._resume = threading.Event()  # set by resume() while a failed check pauses the run
        self._checks: CheckedCapture | None = None  # the current run's per-frame checks
        self._gaps: list[float] = []  # positions the coverage map found uncovered (this run)
        self._filled: list[float] = []  # ... and those shot since
        self._start_check: StartCheck | None = None  # the first slice's view (closed-loop return)
        self._approached = 0.0  # the direction this run's last slice was approached from (RunChecks)
        self._worker: threading.Thread | None = None
        self._run_id = 0
        self._range_store = range_store
        self._range: RangeResult | None = range_store.load(rail.units) if range_store else None
        self._known_range = self._range  # the last sweep that ended with an answer (not cancelled)
        self._pause = PauseGate()

    # ------------------------------------------------------------------ status
    def status(self) -> Status:
        with self._lock:
            return dataclasses.replace(self._status, position=self.rail.position())

    def _set(self, **changes: Any) -> Status:
        with self._lock:
            new_state = changes.get("state")
            old_state = self._status.state
            if new_state is not None and new_state != old_state and new_state not in TRANSITIONS[old_state]:
                raise StateError(f"illegal state change {old_state.value} -> {new_state.value}")
            changes.setdefault("position", self.rail.position())
            changes["rev"] = self._status.rev + 1
            self._status = dataclasses.replace(self._status, **changes)
            snapshot = self._status
        self.bus.publish(EventKind.STATUS, snapshot.to_dict())
        return snapshot

    # ------------------------------------------------------------------ commands
    def plan(self, profile: Profile) -> Plan:
        calibration = rail_calibration(self.config)  # rig calibrate's, for this machine config
        return Plan.build(profile, self.rail.limits(), self.rail.position(), self.rail.units, calibration)

    def start(self, profile: Profile, profile_name: str = "default", specimen: Specimen | None = None) -> Status:
        """Validate everything, create the run folder and start the worker. Non-blocking.
        ``specimen``: what the stack is of (``@NAME``/``@SESSION``, kept in ``stack.json``)."""
        clock_ok = self.clock_synchronized() if self.clock_synchronized else None  # cached: no lock held
        with self._lock:
            self._require_idle("start a stack")
            profile.checked(f"profile {profile_name!r}")
            plan = self.plan(profile)
            if profile.mode == "preview-images" and not getattr(self.camera, "has_live_view", True):
                raise UsageError(
                    "run mode 'preview-images' needs live view, which this camera has not; "
                    "use 'preview' (sweep only) or 'full'"
                )
            if profile.settle_auto and not getattr(self.camera, "has_live_view", True):
                raise UsageError(
                    "settle_s = 'auto' watches live view, which this camera has not; give settle_s in seconds"
                )
            storage = None
            if profile.mode != "preview":
                storage = RunStorage.open(
                    profile,
                    profile_name,
                    output=self.config.output,
                    config_summary=self.config.summary(),
                    units=self.rail.units,
                    planned=list(plan.targets),
                    started=datetime.now().astimezone(),
                    clock_synchronized=clock_ok,
                    specimen=specimen,
                )
            return self._launch(plan, profile, profile_name, storage)

    def cancel(self, outcome: Outcome = Outcome.CANCELLED) -> Status:
        """Stop pending moves, interrupt waits, then return to the start. Non-blocking."""
        with self._lock:
            if self._status.state not in BUSY:
                raise StateError(f"nothing to cancel: the rig is {self._status.state.value}")
            if self._status.state == S.RETURNING:
                return self._status  # already on its way back; e-stop is the way to halt it
            self._cancel_outcome = outcome
            self._cancel.set()
        self._pause.wake()
        self.rail.stop()
        return self.status()

    def estop(self) -> Status:
        """Stop at once, disable the driver, release the shutter; the rig goes to FAULT."""
        self._estop.set()
        self._cancel.set()
        self._pause.wake()
        for action in (self.rail.estop, self.camera.release):
            try:
                action()
            except Exception:
                log.exception("e-stop: %s failed", action)
        with self._lock:
            if self._status.state not in BUSY and self._status.state != S.FAULT:
                self._set(state=S.FAULT, error="e-stop pressed")
                self.bus.publish(EventKind.FAULT, {"error": "e-stop pressed"})
        return self.status()

    def reset(self) -> Status:
        """Leave FAULT after the user has seen why. Moves nothing."""
        with self._lock:
            if self._status.state != S.FAULT:
                raise StateError(f"nothing to reset: the rig is {self._status.state.value}")
            self._estop.clear()
            return self._set(state=S.IDLE, error=None)

    def resume(self) -> Status:
        """Go on with a paused run (``POST /api/resume``): a run the user paused goes on from the
        slice where it stopped; a run a failed check paused retakes that slice. Non-blocking."""
        with self._lock:
            if self._pause.requested and self._status.state in RUN_PHASES | {S.STARTING}:
                self._pause.release()
                return self._status
            if self._status.state != S.PAUSED:
                raise StateError(f"nothing to resume: the rig is {self._status.state.value}, not paused")
            self._resume.set()
            return self._status

    def wait(self, timeout: float | None = None) -> Status:
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return self.status()

    def _require_idle(self, what: str) -> None:
        state = self._status.state
        if state == S.FAULT:
            raise StateError(f"cannot {what}: the rig is in FAULT ({self._status.error}); reset first")
        if state != S.IDLE:
            raise StateError(
                f"cannot {what}: a {'stack' if state in RUN_PHASES | {S.STARTING} else 'move'} "
                f"is in progress ({state.value})"
            )

    # ------------------------------------------------------------------ worker
    def _run(
        self, plan: Plan, profile: Profile, storage: RunStorage | None, first: int = 1, home_first: bool = False
    ) -> None:
        t0 = time.monotonic()
        try:
            if home_first:  # a resume on a rail with a home switch: find the position again
                self.rail.set_enabled(True)
                self.rail.home(abort=self._cancel)
                self._check_cancel()
            if profile.mode == "preview-images":  # a body whose live view fails: say so before moving
                self.camera.preview()
            if profile.mode != "preview":
                notify_stack_started(self.camera)  # e.g. the Pi camera meters afresh, then locks exposure
            self.rail.set_enabled(True)
            self._checks = self._start_checks(profile, storage)
            for i, target in enumerate(plan.targets[first - 1 :], start=first):
                self._check_cancel()
                self._hold_if_paused()
                self._set(state=S.MOVING, slice=i)
                self._move_to_slice(plan, target)
                self._check_cancel()
                settle_s = self._settle(profile)
                if profile.mode != "preview":
                    self._set(state=S.CAPTURING)
                    self._capture(i, profile, storage, settle_s=settle_s)
                    if profile.exposure_s and self._cancel.wait(profile.exposure_s):
                        raise Cancelled("cancelled during the exposure wait")
                done = time.monotonic() - t0
                self._set(eta_s=round(done / (i - first + 1) * (plan.slices - i), 1))
            if self._checks is not None:
                self._fill_gaps(plan, profile, storage)
            outcome, error = Outcome.COMPLETED, None
        except Cancelled:
            outcome, error = self._cancel_outcome, None
            if self._estop.is_set():
                self._safe_state("e-stop pressed", storage)
                return
        except Exception as exc:  # noqa: BLE001 - every fault takes the safe-state path
            self._safe_state(describe(exc), storage)
            return
        finally:
            self._save_coverage(storage)
        try:
            if profile.return_to_start and abs(self.rail.position() - plan.start) > 1e-9:
                self._set(state=S.RETURNING, eta_s=None)
                self.rail.move_to(plan.start, abort=self._estop)
                if self._estop.is_set():
                    raise Cancelled("e-stop during return")
                if outcome == Outcome.COMPLETED:
                    self._confirm_start(plan, storage)
            self._idle_rail()
        except Exception as exc:  # noqa: BLE001
            reason = describe(exc) if not self._estop.is_set() else "e-stop pressed"
            if outcome == Outcome.COMPLETED:
                self._return_failed(reason, storage)
            else:
                self._safe_state(reason, storage, outcome=outcome)
            return
        if storage:
            try:
                storage.finish(outcome.value, error)
            except Exception as exc:  # noqa: BLE001 - stack.json cannot be written even without the reserve
                self._safe_state(
                    f"the stack's outcome could not be recorded: {describe(exc)}", None, run_outcome=outcome
                )
                return
        self._set(state=S.IDLE, outcome=outcome, error=error, eta_s=None)
        self.bus.publish(EventKind.RUN_ENDED, {"outcome": outcome.value, "folder": self._status.folder, "error": error})

    # ------------------------------------------------------------------ resume (rig.resume)
    def start_resumed(self, setup: ResumeSetup, *, home_first: bool) -> Status:
        """Go on with a stack that did not finish (checked by :func:`rig.resume.prepare_resume`):
        same plan, same folder, from ``setup.first_slice``. ``home_first``: the rail re-homes
        before the first move; otherwise the user has confirmed its position. Non-blocking."""
        clock_ok = self.clock_synchronized() if self.clock_synchronized else None
        with self._lock:
            self._require_idle("resume a stack")
            step = setup.targets[1] - setup.targets[0] if len(setup.targets) > 1 else 0.0
            calibration = rail_calibration(self.config)
            take_up = calibration.take_up if calibration else 0.0
            plan = Plan(targets=setup.targets, step=step, units=self.rail.units, take_up=take_up)
            for target in plan.targets[setup.first_slice - 1 :]:
                try:
                    check_target(target, self.rail.limits(), self.rail.units)
                except RigError as exc:
                    raise StateError(f"cannot resume {setup.folder}: {exc}") from None
            position = "homed" if home_first else "confirmed"
            storage = RunStorage.reopen(setup, position, self.config.output.min_free_mb)
            if clock_ok is False:
                log.warning("resuming %s with an unsynchronised clock", setup.folder)
            return self._launch(
                plan,
                setup.profile,
                setup.profile_name,
                storage,
                first=setup.first_slice,
                home_first=home_first,
                frames_saved=setup.keep,
            )

    def _launch(
        self,
        plan: Plan,
        profile: Profile,
        profile_name: str,
        storage: RunStorage | None,
        *,
        first: int = 1,
        home_first: bool = False,
        frames_saved: int = 0,
    ) -> Status:
        """Clear the last run's signals, publish STARTING and start the worker at slice ``first``
        (under the lock, after every check has passed)."""
        self._cancel.clear()
        self._estop.clear()
        self._pause.clear()
        self._cancel_outcome = Outcome.CANCELLED
        self._start_check = None
        self._approached = 0.0
        self._run_id += 1
        self._set(
            state=S.STARTING,
            slice=first - 1,
            slices=plan.slices,
            mode=profile.mode,
            profile=profile_name,
            folder=str(storage.folder) if storage else None,
            frames_saved=frames_saved,
            outcome=None,
            error=None,
            started=time.time(),
            eta_s=None,
            run_id=self._run_id,
        )
        self._worker = threading.Thread(
            target=self._run, args=(plan, profile, storage, first, home_first), name="rig-sequencer", daemon=True
        )
        self._worker.start()
        return self._status

    # ------------------------------------------------------------------ pause (rig.pause)
    def pause(self) -> Status:
        """Stop the running stack before its next slice and hold position. Non-blocking."""
        with self._lock:
            if self._status.state not in RUN_PHASES | {S.STARTING} or self._status.state == S.RETURNING:
                raise StateError(f"nothing to pause: the rig is {self._status.state.value}")
            self._pause.request()
        return self.status()

    def resume_run(self) -> Status:
        """The same as :meth:`resume`."""
        return self.resume()

    @property
    def pause_requested(self) -> bool:
        return self._pause.requested

    def _hold_if_paused(self) -> None:
        """On the worker thread, between slices: wait while paused (the rail holds position)."""
        if not self._pause.requested:
            return
        before = self._status.state
        self._set(state=S.PAUSED, eta_s=None)
        log.info("paused after slice %d (was %s)", self._status.slice, before.value)
        self._pause.hold(self._cancel)
        log.info("resumed at slice %d", self._status.slice + 1)

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise Cancelled("cancelled")

    def _capture(
        self,
        index: int,
        profile: Profile,
        storage: RunStorage | None,
        *,
        settle_s: float | None = None,
        gap_fill: bool = False,
    ) -> None:
        assert storage is not None
        preview = profile.mode == "preview-images"
        position = self.rail.position()
        if self._checks is not None and not preview:
            shot = self._checks.shoot(index, position, settle_s=settle_s, gap_fill=gap_fill)
            frame, file_rel = shot.frame, shot.file
            if index == 1 and needs_closed_loop(self.rail, self.camera):
                self._remember_start()
        else:
            frame = Frame(self.camera.preview(), "jpg") if preview else self.camera.capture()
            file_rel = storage.save(frame, index=index, position=position, preview=preview)
        self._set(frames_saved=self._status.frames_saved + 1)
        if frame is None:  # stays on the camera's card (shutter-release line)
            return
        self.bus.publish(
            EventKind.FRAME_SAVED,
            {"index": index, "file": file_rel, "position": position, "folder": str(storage.folder)},
        )
        if not preview:
            self.camera.frame_saved(frame)

    def _idle_rail(self) -> None:
        if self.config.rail.disable_when_idle:
            self.rail.set_enabled(False)

    def _return_failed(self, reason: str, storage: RunStorage | None) -> None:
        """Every frame was shot but the move back failed: the stack is ``completed`` (and so
        merged), with the reason noted; the rig itself still takes the safe-state path."""
        error = f"every frame was saved, but the return to the start failed: {reason}"
        if storage:
            try:
                storage.finish(Outcome.COMPLETED.value, error)
            except Exception:
                log.exception("return failed: could not update the manifest")
        self._safe_state(reason, None, run_outcome=Outcome.COMPLETED)

    def _safe_state(
        self,
        reason: str,
        storage: RunStorage | None,
        outcome: Outcome = Outcome.FAILED,
        run_outcome: Outcome = Outcome.FAILED,
    ) -> None:
        """The one path every fault takes. ``outcome`` goes in the manifest (failed, or
        interrupted), ``run_outcome`` in the status and the run-ended event."""
        log.error("fault: %s", reason)
        for action in (self.rail.stop, self.camera.release, lambda: self.rail.set_enabled(False)):
            try:
                action()
            except Exception:
                log.exception("safe state: step failed")
        if storage:
            try:
                storage.finish(Outcome.FAILED.value if outcome != Outcome.INTERRUPTED else outcome.value, reason)
            except Exception:
                log.exception("safe state: could not update the manifest")
        self._set(state=S.FAULT, outcome=run_outcome, error=reason, eta_s=None)
        self.bus.publish(EventKind.FAULT, {"error": reason})
        ended = {"outcome": run_outcome.value, "folder": self._status.folder, "error": reason}
        self.bus.publish(EventKind.RUN_ENDED, ended)
