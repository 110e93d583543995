"""No rail: step the camera's own focus motor.

Positions are lens steps (``units = "steps"``). As on every rig rail, lower positions are
nearer and higher ones farther (toward infinity). ``rail.lens.min_steps`` / ``max_steps`` are
the soft limits and ``rail.lens.backlash_steps`` the overshoot, all in steps; ``rail.min_um`` /
``max_um`` / ``backlash_um`` are accepted as their old names (``RailConfig.travel``/``backlash``).

* ``driver = "gphoto"``: libgphoto2's ``manualfocusdrive`` on Canon EOS (a radio widget:
  ``Near 1..3`` / ``None`` / ``Far 1..3``) and Nikon bodies (a range widget: signed drive
  units), in live view. One step = one ``rail.lens.gphoto_step`` drive ("Far 1" on Canon,
  ``NIKON_DEFAULT_DRIVE_UNITS`` on Nikon, where one unit is refused as too small). The lens has
  no position readout: steps are counted by the host from where focus was at connect (0), so a
  cancel returns by exactly the steps actually driven. A Nikon's "end of travel" answer is a
  LimitError.
* ``driver = "picam"``: the Camera Module 3's ``LensPosition`` in dioptres, where 0 is infinity
  and larger is nearer, so step 0 is the closest focus the lens reaches and each step is
  ``dioptres_per_step`` farther: LensPosition = closest - steps x dioptres_per_step. The step is
  a whole number of lens-motor steps (1/32 dioptre on the imx708). Each move follows the reported
  LensPosition frame by frame; a lens whose position stops changing short of the target is at
  the end of its travel (LimitError). Then ``settle_frames`` frames are exposed.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from rig.config import RailConfig
from rig.errors import CameraError, LimitError, MotionError
from rig.motion.common import RailState

log = logging.getLogger(__name__)
CANON_DEFAULT_DRIVE = "Far 1"
NIKON_DEFAULT_DRIVE_UNITS = 20.0  # 1 unit is answered "stepping too small" (config.c, _put_Nikon_MFDrive)
MAX_FOLLOW_FRAMES = 1000  # frames a LensPosition change may take to arrive, at most
STALLED_FRAMES = 8  # reported position unchanged this many frames (> the control latency): end of travel
DIOPTRE_TOL = 1e-6


class LensRail(RailState):
    _farthest_dioptres: float  # the picam lens's LensPosition range
    _closest_dioptres: float

    def __init__(self, cfg: RailConfig, camera: Any = None) -> None:
        super().__init__(cfg, "lens rail", "steps", pos=0.0, enabled=True)
        self.lens = cfg.lens
        self.backlash_steps = cfg.backlash
        self.camera = camera
        self.drives = 0  # focus-drive commands sent (tests, wear)
        if camera is None:
            raise MotionError("the lens rail needs a camera to drive (camera.backend = 'gphoto' or 'picam')")
        if self.lens.driver == "gphoto":
            self._setup_gphoto()
        else:
            self._setup_picam()

    # -- gphoto: counted drive steps -------------------------------------------------------
    def _setup_gphoto(self) -> None:
        if not hasattr(self.camera, "focus_widget"):
            raise MotionError("rail.lens.driver = 'gphoto' needs camera.backend = 'gphoto'")
        try:
            _, choices, drive_range = self.camera.focus_widget()
        except CameraError as exc:
            raise MotionError(str(exc)) from None
        self._far_drive: str | float
        self._near_drive: str | float
        if choices:  # Canon: a radio widget with named drive sizes
            far = self.lens.gphoto_step or CANON_DEFAULT_DRIVE
            near = far.replace("Far", "Near")
            missing = [c for c in (far, near) if c not in choices]
            if missing:
                raise MotionError(
                    f"rail.lens.gphoto_step = {far!r}: the camera's manualfocusdrive offers "
                    f"{', '.join(choices)} (need both {far!r} and {near!r})"
                )
            self._far_drive, self._near_drive = far, near
        else:  # Nikon: a signed number of drive units per step
            match = re.search(r"\d+(\.\d+)?", self.lens.gphoto_step)
            units = float(match.group()) if match else NIKON_DEFAULT_DRIVE_UNITS
            if drive_range is not None and units > max(abs(drive_range[0]), abs(drive_range[1])):
                raise MotionError(
                    f"rail.lens.gphoto_step = {units:g} drive units exceeds the camera's range {drive_range}"
                )
            self._far_drive, self._near_drive = units, -units
        self._picam = False
        log.info("lens rail: gphoto focus drive, one step = %r / %r", self._far_drive, self._near_drive)

    def _drive_steps_to(self, target: float, abort: threading.Event | None) -> None:
        while True:
            here = self.position()
            if here == target or self._interrupted(abort):
                return
            if self._estopped:
                raise MotionError(f"e-stop during a focus move; stopped at step {here:g}")
            direction = 1 if target > here else -1
            try:
                self.camera.focus_drive(self._far_drive if direction > 0 else self._near_drive)
            except LimitError as exc:
                raise LimitError(f"lens focus drive stopped at step {here:g}: {exc}") from None
            except CameraError as exc:
                raise MotionError(f"lens focus drive failed at step {here:g}: {exc}") from None
            with self._pos_lock:
                self._pos += direction
                self.drives += 1

    # -- picam: LensPosition in dioptres ---------------------------------------------------
    def _setup_picam(self) -> None:
        if not hasattr(self.camera, "set_lens_position"):
            raise MotionError("rail.lens.driver = 'picam' needs camera.backend = 'picam'")
        try:
            farthest, closest = self.camera.lens_range()
            motor_step = float(getattr(self.camera, "lens_motor_step", lambda: 0.0)())
            current = self.camera.lens_position()
        except CameraError as exc:
            raise MotionError(f"lens rail: {exc}") from None
        if self.lens.max_dioptres is not None:
            closest = min(closest, self.lens.max_dioptres)
        self._farthest_dioptres, self._closest_dioptres = farthest, closest
        per_step = self.lens.dioptres_per_step
        if motor_step > 0:  # whole motor steps: 0.05 D would alternate 1 and 2 motor steps
            per_step = max(1, round(per_step / motor_step)) * motor_step
            if abs(per_step - self.lens.dioptres_per_step) > DIOPTRE_TOL:
                log.warning(
                    "rail.lens.dioptres_per_step = %g is not a whole number of lens-motor steps (%g dioptre); using %g",
                    self.lens.dioptres_per_step,
                    motor_step,
                    per_step,
                )
        self.dioptres_per_step = per_step
        self._pos = round(self._steps_at(current), 3)
        self._picam = True
        log.info(
            "lens rail: LensPosition %g..%g dioptres, %g dioptre per step, step 0 = closest focus",
            farthest,
            closest,
            per_step,
        )

    def _dioptres_at(self, steps: float) -> float:
        return self._closest_dioptres - steps * self.dioptres_per_step

    def _steps_at(self, dioptres: float) -> float:
        return (self._closest_dioptres - dioptres) / self.dioptres_per_step

    def _lens_move(self, target: float, abort: threading.Event | None) -> float:
        """Command LensPosition, follow the lens frame by frame (its reported LensPosition), then
        let ``settle_frames`` frames be exposed. On abort, hold the lens where it got to."""
        wanted = self._dioptres_at(target)
        lo, hi = self._farthest_dioptres, self._closest_dioptres
        if not lo - DIOPTRE_TOL <= wanted <= hi + DIOPTRE_TOL:
            raise LimitError(
                f"step {target:g} is {wanted:.3f} dioptres, outside the lens range {lo:g}..{hi:g} dioptres "
                f"(steps 0..{self._steps_at(lo):g})"
            )
        if self.position() == target or self._interrupted(abort):
            return self.position()
        try:
            self.camera.set_lens_position(wanted)
            self.drives += 1
            self._follow_lens(wanted, target, abort)
            if self._interrupted(abort):
                return self.position()
            self.camera.wait_frames(self.lens.settle_frames, abort or self._stop)
        except CameraError as exc:
            raise MotionError(f"lens position change failed: {exc}") from None
        with self._pos_lock:
            self._pos = target
        return self.position()

    def _follow_lens(self, wanted: float, target: float, abort: threading.Event | None) -> None:
        previous, unchanged = None, 0
        for _ in range(MAX_FOLLOW_FRAMES):
            reported = self.camera.lens_position()  # the next frame's LensPosition
            with self._pos_lock:
                self._pos = round(self._steps_at(reported), 3)
            if self._estopped or self._interrupted(abort):
                self.camera.set_lens_position(reported)  # stay where the lens got to
                if self._estopped:
                    raise MotionError(f"e-stop during a focus move; stopped at step {self.position():g}")
                return
            if abs(reported - wanted) < self.dioptres_per_step / 2:
                return
            unchanged = unchanged + 1 if previous is not None and abs(reported - previous) < DIOPTRE_TOL else 0
            previous = reported
            if unchanged >= STALLED_FRAMES:
                self.camera.set_lens_position(reported)
                raise LimitError(
                    f"the lens stopped at {reported:.3f} dioptres (step {self.position():g}) before reaching "
                    f"{wanted:.3f} (step {target:g}): the end of its travel; set rail.lens.max_dioptres"
                )
        raise MotionError(f"the lens did not reach {wanted:.3f} dioptres within {MAX_FOLLOW_FRAMES} frames")

    # -- Rail protocol (position, limits, stop, estop, set_enabled: RailState) ------------
    def move_to(self, target: float, abort: threading.Event | None = None) -> float:
        self._begin_move(target)
        target = float(round(target))
        if self._picam:
            return self._lens_move(target, abort)
        return self._approach(self.position(), target, round(self.backlash_steps), self._drive_steps_to, abort)

    def home(self, abort: threading.Event | None = None) -> float:
        raise MotionError("a lens focus drive has no home switch; focus by hand, then start from there")

    def health(self) -> dict[str, Any]:
        error = "closed" if self.closed else ("e-stopped" if self._estopped else None)
        return {
            "ok": error is None,
            "backend": "lens",
            "driver": self.lens.driver,
            "position": self.position(),
            "units": self.units,
            "error": error,
        }

    def close(self) -> None:
        """Leaves the camera open: the machine owns and closes it."""
        if not self.closed:
            self._stop.set()
            self.closed = True
