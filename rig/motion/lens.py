"""No rail: step the camera's own focus motor.

Positions are in focus-drive steps (``units = "steps"``), counted by the host from where the
focus was at connect (0). ``rail.min_um`` / ``rail.max_um`` are the soft limits *in steps*,
``rail.backlash_um`` the overshoot in steps. Positive steps drive toward far (infinity).

* ``driver = "gphoto"``: libgphoto2's ``manualfocusdrive`` on Canon EOS (a radio widget:
  ``Near 1..3`` / ``None`` / ``Far 1..3``) and Nikon bodies (a range widget: signed drive
  units), in live view. One step = one ``rail.lens.gphoto_step`` drive (a number of drive
  units on Nikon). The lens has no position readout: counts are host-side, so a cancel
  returns by exactly the steps actually driven.
* ``driver = "picam"``: the Camera Module 3's ``LensPosition`` (dioptres): position x steps
  = x * ``dioptres_per_step``; each move waits ``settle_frames`` frames for the lens.
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
MAX_FOLLOW_FRAMES = 1000  # frames a LensPosition change may take to arrive


class LensRail(RailState):
    def __init__(self, cfg: RailConfig, camera: Any = None) -> None:
        super().__init__(cfg, "lens rail", "steps", pos=0.0, enabled=True)
        self.lens = cfg.lens
        self.camera = camera
        self.drives = 0  # focus-drive commands sent (tests, wear)
        if camera is None:
            raise MotionError("the lens rail needs a camera to drive (camera.backend = 'gphoto' or 'picam')")
        if self.lens.driver == "gphoto":
            self._setup_gphoto()
        else:
            self._setup_picam()

    # -- drivers ---------------------------------------------------------------------------
    def _setup_gphoto(self) -> None:
        if not hasattr(self.camera, "focus_widget"):
            raise MotionError("rail.lens.driver = 'gphoto' needs camera.backend = 'gphoto'")
        try:
            kind, choices, rng = self.camera.focus_widget()
        except CameraError as exc:
            raise MotionError(str(exc)) from None
        if choices:  # Canon: a radio widget with named drive sizes
            far = self.lens.gphoto_step
            near = far.replace("Far", "Near")
            missing = [c for c in (far, near) if c not in choices]
            if missing:
                raise MotionError(
                    f"rail.lens.gphoto_step = {far!r}: the camera's manualfocusdrive offers "
                    f"{', '.join(choices)} (need both {far!r} and {near!r})"
                )
            self._far, self._near = far, near
        else:  # Nikon: a signed number of drive units per step
            match = re.search(r"\d+(\.\d+)?", self.lens.gphoto_step)
            amount = float(match.group()) if match else 1.0
            if rng is not None and amount > max(abs(rng[0]), abs(rng[1])):
                raise MotionError(f"rail.lens.gphoto_step = {amount:g} drive units exceeds the camera's range {rng}")
            self._far, self._near = amount, -amount
        self._drive = self._gphoto_step
        log.info("lens rail: gphoto focus drive, one step = %r / %r", self._far, self._near)

    def _gphoto_step(self, direction: int) -> None:
        self.camera.focus_drive(self._far if direction > 0 else self._near)

    def _setup_picam(self) -> None:
        if not hasattr(self.camera, "set_lens_position"):
            raise MotionError("rail.lens.driver = 'picam' needs camera.backend = 'picam'")
        try:
            lo, hi = self.camera.lens_range()
            current = self.camera.lens_position()
        except CameraError as exc:
            raise MotionError(f"lens rail: {exc}") from None
        self._dioptre_range = (lo, hi)
        self._pos = round(current / self.lens.dioptres_per_step)
        self._drive = None

    # -- Rail protocol (position, limits, stop, estop, set_enabled: RailState) ------------
    def move_to(self, target: float, abort: threading.Event | None = None) -> float:
        self._begin_move(target)
        target = float(round(target))
        if self._drive is None:
            return self._picam_move(target, abort)
        return self._approach(self.position(), target, round(self.cfg.backlash_um), self._steps_to, abort)

    def _steps_to(self, target: float, abort: threading.Event | None) -> None:
        while True:
            here = self.position()
            if here == target or self._interrupted(abort):
                return
            if self._estopped:
                raise MotionError(f"e-stop during a focus move; stopped at step {here:g}")
            direction = 1 if target > here else -1
            try:
                self._drive(direction)
            except CameraError as exc:
                raise MotionError(f"lens focus drive failed at step {here:g}: {exc}") from None
            with self._pos_lock:
                self._pos += direction
                self.drives += 1

    def _picam_move(self, target: float, abort: threading.Event | None) -> float:
        """Command LensPosition, follow the lens frame by frame (its reported LensPosition),
        then wait ``settle_frames``. On abort, hold the lens where it is."""
        dps = self.lens.dioptres_per_step
        dioptres = target * dps
        lo, hi = self._dioptre_range
        if not lo - 1e-9 <= dioptres <= hi + 1e-9:
            raise LimitError(f"step {target:g} is {dioptres:.3f} dioptres, outside the lens range {lo:g}..{hi:g}")
        if self.position() == target or self._interrupted(abort):
            return self.position()
        try:
            self.camera.set_lens_position(dioptres)
            self.drives += 1
            for _ in range(MAX_FOLLOW_FRAMES):
                reported = self.camera.lens_position()  # one frame goes by
                with self._pos_lock:
                    self._pos = round(reported / dps, 3)
                if self._estopped or self._interrupted(abort):
                    self.camera.set_lens_position(reported)  # stay where the lens got to
                    if self._estopped:
                        raise MotionError(f"e-stop during a focus move; stopped at step {self.position():g}")
                    return self.position()
                if abs(reported - dioptres) < dps / 2:
                    break
            else:
                raise MotionError(f"the lens did not reach {dioptres:.3f} dioptres within {MAX_FOLLOW_FRAMES} frames")
            self.camera.wait_frames(self.lens.settle_frames, abort or self._stop)
        except CameraError as exc:
            raise MotionError(f"lens position change failed: {exc}") from None
        with self._pos_lock:
            self._pos = target
        return self.position()

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
