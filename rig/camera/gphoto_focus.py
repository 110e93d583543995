"""The gphoto camera's focus motor (``manualfocusdrive``), used by the lens rail.

A mixin of ``GphotoCamera`` (rig/camera/gphoto.py): it uses that class's device thread
(``_call``), retries (``_retrying``), live-view flag and event reader (``_shot``).
Behaviour copied from libgphoto2 (camlibs/ptp2/config.c):

* Canon EOS: a radio widget ``Near 1..3`` / ``None`` / ``Far 1..3``
  (``_get_Canon_EOS_MFDrive``). ``_put_Canon_EOS_MFDrive`` sends the drive (PTP DriveLens) and
  returns at once while the lens still moves; "None" sends nothing. A drive sent before the
  lens stopped is dropped or answered "busy" (-110).
* Nikon: a range widget of signed drive units, -32767..32767 (``_get_Nikon_MFDrive``).
  ``_put_Nikon_MFDrive`` waits until the drive finished (``nikon_wait_busy``); it answers
  GP_ERROR outside live view and -113 (GP_ERROR_CAMERA_ERROR) at the end of the focus travel
  ("Nikon manual focus at limit") or for a step too small ("stepping too small").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rig.errors import CameraError, LimitError

if TYPE_CHECKING:
    from rig.camera.gphoto_shot import ShotFiles
    from rig.config import GphotoCameraConfig

T = TypeVar("T")

log = logging.getLogger(__name__)
GP_ERROR, GP_ERROR_CAMERA_ERROR = -1, -113
FOCUS_QUIET_S, FOCUS_EVENTS_MAX_S = 0.1, 2.0  # a Canon drive: events still coming = lens still busy


class FocusDrive:
    """``focus_widget`` / ``focus_drive`` for GphotoCamera."""

    gp: Any
    cfg: GphotoCameraConfig
    model: str
    _cam: Any
    _live_view: bool
    _shot: ShotFiles
    if TYPE_CHECKING:  # GphotoCamera's

        def _call(self, fn: Callable[[], T], what: str, timeout: float | None = None) -> T: ...
        def _retrying(self, fn: Callable[[], T], what: str) -> T: ...
        def _check_open(self) -> None: ...

    def focus_widget(self) -> tuple[int, list[str], tuple[float, float, float] | None]:
        """(type, choices, range) of ``manualfocusdrive``; CameraError if the camera has none."""

        def probe() -> tuple[int, list[str], tuple[float, float, float] | None]:
            widget = self._cam.get_single_config("manualfocusdrive")
            kind = widget.get_type()
            choices = (
                [widget.get_choice(i) for i in range(widget.count_choices())]
                if kind in (self.gp.GP_WIDGET_RADIO, self.gp.GP_WIDGET_MENU)
                else []
            )
            rng = tuple(widget.get_range()) if kind == self.gp.GP_WIDGET_RANGE else None
            return kind, choices, rng

        self._check_open()
        try:
            return self._call(probe, "focus-drive check")
        except CameraError as exc:
            raise CameraError(
                f"the {self.model} has no manual focus drive (manualfocusdrive): the lens rail "
                f"needs a Canon EOS or Nikon body in live view, lens set to AF ({exc})"
            ) from None

    def focus_drive(self, value: str | float) -> None:
        """One ``manualfocusdrive`` step, with live view on; returns when the lens has stopped.

        Canon (a radio choice such as "Far 1"): libgphoto2 sends the drive and returns while the
        lens still moves (camlibs/ptp2/config.c, ``_put_Canon_EOS_MFDrive``), and a drive sent
        too soon is dropped or answered "busy": wait ``focus_drive_wait_s`` (longer while the
        body keeps sending events) and retry "busy" with backoff. Nikon (signed drive units):
        libgphoto2 waits for the drive itself (``_put_Nikon_MFDrive``, ``nikon_wait_busy``) and
        answers -113 at the end of travel or for a step too small, raised here as LimitError.
        """

        def set_drive() -> None:
            self._ensure_live_view()
            widget = self._cam.get_single_config("manualfocusdrive")
            widget.set_value(value)
            self._cam.set_single_config("manualfocusdrive", widget)

        def drive() -> None:
            try:
                try:
                    self._retrying(set_drive, "focus drive")
                except self.gp.GPhoto2Error as exc:
                    if getattr(exc, "code", None) != GP_ERROR:
                        raise
                    # Nikon answers a plain error outside live view (config.c: "works only in
                    # LiveView mode"): the body may have ended it; start it again, once
                    log.info("focus drive refused (%s); turning live view on again", str(exc))
                    self._live_view = False
                    self._retrying(set_drive, "focus drive")
            except self.gp.GPhoto2Error as exc:
                if getattr(exc, "code", None) == GP_ERROR_CAMERA_ERROR:
                    raise LimitError(
                        f"the lens refused the focus drive {value!r}: it is at the end of its focus travel, "
                        f"or the step is too small for the {self.model} (gphoto2 error -113)"
                    ) from None
                raise
            if isinstance(value, str):
                self._wait_for_lens()

        self._check_open()
        self._call(drive, "focus drive")

    def _wait_for_lens(self) -> None:
        """Wait ``focus_drive_wait_s`` after a Canon drive, reading the body's events meanwhile;
        while events keep coming, wait until ``FOCUS_QUIET_S`` passes without one (bounded)."""
        wait_s = self.cfg.focus_drive_wait_s
        start = time.monotonic()
        end, hard_end = start + wait_s, start + wait_s + FOCUS_EVENTS_MAX_S
        while (remaining := min(end, hard_end) - time.monotonic()) > 0:
            try:
                kind, data = self._cam.wait_for_event(max(1, int(remaining * 1000)))
            except self.gp.GPhoto2Error:
                kind, data = self.gp.GP_EVENT_TIMEOUT, None
            if kind == self.gp.GP_EVENT_TIMEOUT:
                time.sleep(max(0.0, min(end, hard_end) - time.monotonic()))  # some answer at once
                break
            self._shot.note_event(kind, data)  # a file of a shot: a stray for the next drain
            end = max(end, time.monotonic() + FOCUS_QUIET_S)

    def _ensure_live_view(self) -> None:
        if self._live_view:
            return
        try:
            widget = self._cam.get_single_config("viewfinder")
            widget.set_value(1)
            self._cam.set_single_config("viewfinder", widget)
        except self.gp.GPhoto2Error:
            pass  # Canon bodies start live view on the first preview instead
        self._live_view = True
