"""One slice's shot, checked: capture, measure, judge against the neighbouring slice, retake.

The sequencer calls :meth:`CheckedCapture.shoot` once per slice (and per gap-fill slice) in
place of a bare ``camera.capture()``. A shot that is missing (the camera delivered no file),
much darker or brighter than the previous slice, or softer than it everywhere, is kept under
``rejected/`` and taken again at the same position, after settling again, up to ``retries``
times. A softness that a retake repeats is the subject's (depth of field), not a shake: the
retake is kept. When no shot passes, the last one is saved as the slice's frame, marked
``failed``, and ``on_failed`` decides: pause (it returns: the slice is taken afresh) or fail (it
raises). A check that itself cannot run (a file that does not decode) never loses the frame:
it is saved and marked ``unchecked``.

Each good shot's measure goes to the coverage map (:mod:`rig.coverage`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rig.camera.base import Camera, Frame
from rig.config import Profile
from rig.coverage import CoverageMap
from rig.errors import FrameMissing
from rig.frame_checks import CheckFailed, Measure, Verdict, agree, judge, measure_image
from rig.live_composite import LiveComposite
from rig.manifest import FrameChecks, RejectedShot
from rig.run_storage import RunStorage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckedShot:
    """The shot kept for a slice: its file (None: on the camera's card) and what the checks said."""

    frame: Frame | None
    file: str | None
    checks: FrameChecks


def checked_file(frame: Frame) -> bytes:
    """The file of a shot the checks measure: its smallest JPEG (a camera shooting RAW + a small
    JPEG is checked on the small JPEG, whose decode costs a fraction of a full-size one), else the
    frame itself."""
    jpegs = [f for f in (frame, *frame.companions) if f.ext.lower() in ("jpg", "jpeg")]
    return min(jpegs, key=lambda f: len(f.data)).data if jpegs else frame.data


class CheckedCapture:
    """The checks of one run: the slices' measures and the coverage map they feed."""

    def __init__(
        self,
        camera: Camera,
        storage: RunStorage,
        profile: Profile,
        *,
        settle_again: Callable[[], float | None],
        on_failed: Callable[[int, str], None],
    ) -> None:
        self.camera = camera
        self.storage = storage
        self.profile = profile
        self.settle_again = settle_again  # waits (cancellable) before a retake; the measured settle or None
        self.on_failed = on_failed  # (slice, reason): returns to retake the slice, raises to end the run
        self.coverage = CoverageMap()
        self.composite = LiveComposite()  # the growing result the phone shows
        self._last: Measure | None = None
        self.caught = 0  # shots turned down this run

    def shoot(
        self, index: int, position: float, *, settle_s: float | None = None, gap_fill: bool = False
    ) -> CheckedShot:
        """Take slice ``index`` until a shot passes; save it and record it in the manifest."""
        rejected: list[RejectedShot] = []
        taken = 0
        while True:
            result = self._attempt(index, position, settle_s, gap_fill, rejected, taken)
            if result.checks.verdict != "failed":
                return result
            taken = result.checks.shots
            reason = f"slice {index}: no good shot in {taken} ({'; '.join(result.checks.reasons)})"
            try:
                self.on_failed(index, reason)
            except BaseException:
                if result.frame is not None:  # the run ends: the last shot is the slice's frame, marked
                    file = self.storage.save(
                        result.frame, index=index, position=position, checks=result.checks, gap_fill=gap_fill
                    )
                    log.info("slice %d kept as %s, marked failed", index, file)
                raise
            rejected = list(result.checks.rejected)
            if result.frame is not None:  # resumed: the slice is taken afresh; this shot is kept aside
                name = self.storage.save_rejected(result.frame, index=index, shot=taken)
                rejected.append(RejectedShot(result.checks.reasons, name))
            settle_s = self.settle_again()

    def _attempt(
        self,
        index: int,
        position: float,
        settle_s: float | None,
        gap_fill: bool,
        rejected: list[RejectedShot],
        taken: int,
    ) -> CheckedShot:
        """Up to ``retries + 1`` shots; the first that passes is saved. A ``failed`` result is not
        saved: :meth:`shoot` decides where its shot goes."""
        p = self.profile
        neighbour = self.coverage.nearest(position) if gap_fill else self._last
        previous: Measure | None = None  # the last shot at this slice, to see whether a retake agrees
        for attempt in range(1, p.retries + 2):
            shot = taken + attempt
            if attempt > 1:
                settle_s = self.settle_again()
            last_try = attempt == p.retries + 1
            try:
                frame = self.camera.capture()
            except FrameMissing as exc:
                log.warning("slice %d, shot %d: %s", index, shot, exc)
                missing = RejectedShot(("missing: the camera delivered no file",))
                if last_try:
                    return self._result(None, index, position, gap_fill, "failed", shot, rejected, settle_s, missing)
                rejected.append(missing)
                continue
            if frame is None:  # stays on the camera's card: nothing here to check
                return self._result(None, index, position, gap_fill, "unchecked", shot, rejected, settle_s)
            try:
                m, small = measure_image(checked_file(frame))
            except CheckFailed as exc:
                log.warning("slice %d: cannot check the shot: %s", index, exc)
                note = RejectedShot((f"not checked: {exc}",))
                return self._result(frame, index, position, gap_fill, "unchecked", shot, rejected, settle_s, note)
            verdict = judge(
                m, neighbour, brightness_tolerance=p.brightness_tolerance, sharpness_tolerance=p.sharpness_tolerance
            )
            soft_only = all(r.startswith("sharpness") for r in verdict.reasons)
            confirmed = (
                soft_only and previous is not None and agree(m, previous, sharpness_tolerance=p.sharpness_tolerance)
            )
            if verdict.ok or confirmed:
                self._good(index, position, m, small, gap_fill)
                kind = "good" if shot == 1 else "reshot"
                return self._result(frame, index, position, gap_fill, kind, shot, rejected, settle_s, judged=verdict)
            if last_try:
                failed = RejectedShot(verdict.reasons)
                return self._result(
                    frame, index, position, gap_fill, "failed", shot, rejected, settle_s, failed, verdict
                )
            log.info("slice %d, shot %d turned down: %s", index, shot, "; ".join(verdict.reasons))
            name = self.storage.save_rejected(frame, index=index, shot=shot)
            rejected.append(RejectedShot(verdict.reasons, name))
            previous = m
        raise AssertionError("unreachable: the last try returns")

    def _good(self, index: int, position: float, m: Measure, small: Any, gap_fill: bool) -> None:
        self.coverage.add(index, position, m, gap_fill)
        if not gap_fill:
            self._last = m
        self.composite.add(small)
        try:  # the coverage map and the growing result, for the phone while the run goes on
            self.storage.save_progress(self.coverage.png(), self.composite.jpeg())
        except Exception:  # a report: it never fails the run
            log.exception("could not save the coverage map or the live composite")

    def _result(
        self,
        frame: Frame | None,
        index: int,
        position: float,
        gap_fill: bool,
        verdict: str,
        shots: int,
        rejected: list[RejectedShot],
        settle_s: float | None,
        note: RejectedShot | None = None,
        judged: Verdict | None = None,
    ) -> CheckedShot:
        v = judged
        checks = FrameChecks(
            verdict=verdict,
            shots=shots,
            brightness_ratio=v.brightness_ratio if v else None,
            sharpness_ratio=v.sharpness_ratio if v else None,
            reasons=note.reasons if note else (),
            rejected=tuple(rejected),
            settle_s=None if settle_s is None else round(settle_s, 3),
        )
        if verdict == "failed":
            return CheckedShot(frame, None, checks)
        self.caught += len(rejected)
        file = self.storage.save(frame, index=index, position=position, checks=checks, gap_fill=gap_fill)
        return CheckedShot(frame, file, checks)
