"""A wired remote release: focus (half-press) and shutter lines through opto-isolators.

The camera stores every frame on its own card, so ``capture()`` returns ``None`` and the
manifest records ``"stored": "camera-card"``. There is no feedback from the camera: an
unplugged cable, a full card or a missed shot cannot be detected from here (the docs say so).

One shot: focus on -> ``prefocus_s`` -> [mirror-lockup press, ``mirror_lockup_s``] ->
shutter pulse ``pulse_s`` -> both lines off -> ``exposure_s`` for the exposure and card write.
``release()`` from any thread drops both lines at once and aborts the waits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from rig.camera.base import Frame
from rig.config import CameraConfig
from rig.errors import BackendUnavailable, CameraError

log = logging.getLogger(__name__)


class ShutterCamera:
    has_live_view = False  # the sequencer refuses preview-images before anything moves

    def __init__(
        self, cfg: CameraConfig, pin_factory: Any = None, wait: Callable[[threading.Event, float], bool] | None = None
    ) -> None:
        """``wait(event, seconds)``: ``event.wait(seconds)`` unless a test gives a virtual clock's."""
        try:
            import gpiozero
        except ImportError as exc:  # pragma: no cover - gpiozero is a core dependency
            raise BackendUnavailable(f"shutter camera backend unavailable: {exc} (pip install gpiozero)") from None
        self.cfg = cfg.shutter
        self._lock = threading.Lock()  # one shot at a time
        self._released = threading.Event()
        self._event_wait = wait or threading.Event.wait
        self._devices: list[Any] = []
        self._shutter: Any = None
        self._focus: Any = None
        self.shots = 0
        self.closed = False
        kw = {"pin_factory": pin_factory} if pin_factory is not None else {}
        try:
            self._shutter = self._add(
                gpiozero.DigitalOutputDevice(
                    self.cfg.shutter_pin, active_high=self.cfg.active_high, initial_value=False, **kw
                )
            )
            if self.cfg.focus_pin is not None:
                self._focus = self._add(
                    gpiozero.DigitalOutputDevice(
                        self.cfg.focus_pin, active_high=self.cfg.active_high, initial_value=False, **kw
                    )
                )
        except gpiozero.GPIOZeroError as exc:
            self.close()
            raise CameraError(f"shutter release: cannot claim the pins ({type(exc).__name__}: {exc})") from None

    def _add(self, device: Any) -> Any:
        self._devices.append(device)
        return device

    def _wait(self, seconds: float) -> None:
        if seconds > 0 and self._event_wait(self._released, seconds):
            raise CameraError("shot aborted (shutter released)")

    def _lines_off(self) -> None:
        for device in (self._shutter, self._focus):
            if device is not None:
                try:
                    device.off()
                except Exception:  # noqa: BLE001 - best effort, any thread
                    log.exception("shutter release: could not drop a line")

    # -- Camera protocol ---------------------------------------------------------------
    def capture(self) -> Frame | None:
        if self.closed:
            raise CameraError("shutter release is closed")
        with self._lock:
            self._released.clear()
            try:
                if self._focus is not None:
                    self._focus.on()
                    self._wait(self.cfg.prefocus_s)
                if self.cfg.mirror_lockup_s > 0:  # first press lifts the mirror
                    self._pulse()
                    self._wait(self.cfg.mirror_lockup_s)
                self._pulse()
            finally:
                self._lines_off()
            self.shots += 1
            self._wait(self.cfg.exposure_s)
        return None  # the frame stays on the camera's card

    def _pulse(self) -> None:
        self._shutter.on()
        try:
            self._wait(self.cfg.pulse_s)
        finally:
            self._shutter.off()

    def frame_saved(self, frame: Frame) -> None:
        pass

    def preview(self) -> bytes:
        raise CameraError("a shutter-release cable has no live view (use the camera's own screen)")

    def release(self) -> None:
        self._released.set()
        if not self.closed:
            self._lines_off()

    def info(self) -> dict[str, Any]:
        return {
            "model": "wired shutter release",
            "focus_pin": self.cfg.focus_pin,
            "shutter_pin": self.cfg.shutter_pin,
            "frames": "stored on the camera's card",
            "shots": self.shots,
        }

    def health(self) -> dict[str, Any]:
        return {
            "ok": not self.closed,
            "backend": "shutter",
            "feedback": False,
            "error": "closed" if self.closed else None,
        }

    def close(self) -> None:
        if self.closed:
            return
        self.release()
        self.closed = True
        for device in reversed(self._devices):
            try:
                device.close()
            except Exception:  # noqa: BLE001
                log.exception("shutter release: closing %r failed", device)
        self._devices.clear()
