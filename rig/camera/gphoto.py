"""A USB camera through python-gphoto2 (libgphoto2 bundled in the PyPI wheel).

Each frame: check the capture target (cameras silently fall back to internal RAM), check the
card is not full, trigger, download the exact file the camera reported, verify it (size as
the camera reports it, JPEG end-of-image), hand the bytes to the sequencer, which saves them
through the atomic writer; then, in ``frame_saved``, delete it from the camera if configured
(always for RAM captures, which otherwise fill the camera's buffer).

A transient USB error (I/O, device busy) is retried ``retries`` times, reconnecting after an
I/O error. A failed download is retried by downloading again, never by shooting again; a failed
trigger is retried at the same rail position, so at worst the card holds a spare frame of the
same slice.
All libgphoto2 calls run on one device thread with a deadline (``timeout_s``), so a wedged
camera gives a clear "timed out" fault instead of hanging the rig.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from rig.camera.base import Frame, looks_complete
from rig.camera.devthread import DeviceThread, DeviceTimeout
from rig.config import CameraConfig
from rig.errors import BackendUnavailable, CameraError

log = logging.getLogger(__name__)

# libgphoto2 result codes (gphoto2/gphoto2-result.h, gphoto2-port-result.h)
GP_ERROR, GP_ERROR_NO_MEMORY, GP_ERROR_NOT_SUPPORTED, GP_ERROR_IO = -1, -3, -6, -7
GP_ERROR_TIMEOUT, GP_ERROR_IO_READ, GP_ERROR_IO_WRITE = -10, -34, -35
GP_ERROR_IO_USB_FIND, GP_ERROR_IO_USB_CLAIM, GP_ERROR_MODEL_NOT_FOUND = -52, -53, -105
GP_ERROR_CAMERA_BUSY, GP_ERROR_NO_SPACE = -110, -115
TRANSIENT = {GP_ERROR_IO, GP_ERROR_IO_READ, GP_ERROR_IO_WRITE, GP_ERROR_CAMERA_BUSY, GP_ERROR_TIMEOUT}
GONE = {GP_ERROR_IO_USB_FIND, GP_ERROR_IO_USB_CLAIM, GP_ERROR_MODEL_NOT_FOUND}
FULL = {GP_ERROR_NO_SPACE, GP_ERROR_NO_MEMORY}
MIN_FREE_KB = 1024
RETRY_PAUSE_S = 0.3
TARGET_CHOICES = {"card": ("memory card", "card", "sdram + card"), "ram": ("internal ram", "sdram", "ram")}


class GphotoCamera:
    """Camera protocol over libgphoto2. ``camera_factory`` (tests) returns an object with
    ``gphoto2.Camera``'s methods; ``timeout_s`` overrides ``camera.gphoto.timeout_s``."""

    def __init__(
        self, cfg: CameraConfig, camera_factory: Callable[[], Any] | None = None, timeout_s: float | None = None
    ) -> None:
        try:
            import gphoto2 as gp
        except ImportError as exc:
            raise BackendUnavailable(f"gphoto camera backend unavailable: {exc} (pip install gphoto2)") from None
        self.gp = gp
        self.cfg = cfg.gphoto
        self.timeout_s = timeout_s or self.cfg.timeout_s
        self._factory = camera_factory or self._default_factory
        self._dev = DeviceThread("rig-gphoto")
        self._cam: Any = None
        self._error: str | None = None
        self._live_view = False
        self.model = "unknown"
        self.captures = 0
        self.closed = False
        try:
            self._call(self._connect, "connect")
        except BaseException:
            self._dev.close()
            self.closed = True
            raise

    # -- device plumbing ---------------------------------------------------------------
    def _default_factory(self) -> Any:
        gp = self.gp
        camera = gp.Camera()
        if self.cfg.port:
            ports = gp.PortInfoList()
            ports.load()
            camera.set_port_info(ports[ports.lookup_path(self.cfg.port)])
        return camera

    def _connect(self) -> None:
        cam = self._factory()
        cam.init()
        self._cam = cam
        try:
            self.model = cam.get_abilities().model or self.model
        except self.gp.GPhoto2Error:
            pass
        self._ensure_target()

    def _call(self, fn: Callable[[], Any], what: str, timeout: float | None = None) -> Any:
        """Run ``fn`` on the device thread; translate every failure into a clear CameraError."""
        try:
            return self._dev.call(fn, self.timeout_s if timeout is None else timeout)
        except DeviceTimeout:
            self._error = f"{what} timed out after {self.timeout_s:g} s"
            raise CameraError(
                f"camera {what} timed out after {self.timeout_s:g} s: the camera stopped "
                f"responding (check USB cable and power, then reset)"
            ) from None
        except self.gp.GPhoto2Error as exc:
            raise self._translate(exc, what) from None

    def _translate(self, exc: Any, what: str) -> CameraError:
        code = getattr(exc, "code", GP_ERROR)
        detail = f"gphoto2 error {code}: {exc}"
        if code in GONE or (what == "connect" and code in TRANSIENT):
            self._error = "camera not found"
            return CameraError(f"camera disconnected or switched off: no camera found on USB during {what} ({detail})")
        if code in FULL:
            return CameraError(f"camera card (or buffer) is full during {what}: free space on the card ({detail})")
        if code == GP_ERROR_TIMEOUT:
            self._error = f"{what} timed out"
            return CameraError(f"camera {what} timed out ({detail})")
        if code in TRANSIENT:
            self._error = "USB I/O error"
            return CameraError(f"camera disconnected or not responding: USB I/O error during {what} ({detail})")
        return CameraError(f"camera {what} failed ({detail})")

    def _retrying(self, fn: Callable[[], Any], what: str) -> Any:
        """Retry ``fn`` after a transient USB error, reconnecting once if the link dropped."""
        for attempt in range(self.cfg.retries + 1):
            try:
                return fn()
            except self.gp.GPhoto2Error as exc:
                code = getattr(exc, "code", GP_ERROR)
                if code not in TRANSIENT or code == GP_ERROR_TIMEOUT or attempt == self.cfg.retries:
                    raise
                log.warning("camera %s: %s; retrying (%d of %d)", what, exc, attempt + 1, self.cfg.retries)
                time.sleep(RETRY_PAUSE_S)
                if code != GP_ERROR_CAMERA_BUSY:
                    self._reconnect()
        raise AssertionError("unreachable")

    def _reconnect(self) -> None:
        try:
            self._cam.exit()
        except self.gp.GPhoto2Error:
            pass
        self._connect()

    def _ensure_target(self) -> None:
        """Set (and re-check) the capture target: cameras silently switch to internal RAM."""
        try:
            widget = self._cam.get_single_config("capturetarget")
        except self.gp.GPhoto2Error:
            return  # not every camera has the setting
        wanted = TARGET_CHOICES[self.cfg.capture_target]
        current = str(widget.get_value()).lower()
        if current in wanted:
            return
        for i in range(widget.count_choices()):
            choice = widget.get_choice(i)
            if choice.lower() in wanted:
                widget.set_value(choice)
                self._cam.set_single_config("capturetarget", widget)
                log.info("camera capture target set to %r (was %r)", choice, current)
                return
        log.warning(
            "camera has no %s capture target (choices: %s)",
            self.cfg.capture_target,
            [widget.get_choice(i) for i in range(widget.count_choices())],
        )

    def _free_kb(self) -> int | None:
        try:
            infos = self._cam.get_storageinfo()
        except self.gp.GPhoto2Error:
            return None
        free = [s.freekbytes for s in infos if s.fields & self.gp.GP_STORAGEINFO_FREESPACEKBYTES]
        return sum(free) if free else None

    # -- Camera protocol ---------------------------------------------------------------
    def _check_open(self) -> None:
        if self.closed:
            raise CameraError("camera is closed")

    def capture(self) -> Frame | None:
        self._check_open()
        if self._error:  # a fault earlier: try to get the camera back before giving up
            self._call(self._reconnect, "reconnect")
            self._error = None
        frame = self._call(self._capture_on_device, "capture")
        self.captures += 1
        return frame

    def _capture_on_device(self) -> Frame | None:
        gp = self.gp
        self._retrying(self._ensure_target, "capture target check")
        if self.cfg.capture_target == "card":
            free = self._free_kb()
            if free is not None and free < MIN_FREE_KB:
                raise CameraError(f"camera card is full ({free} kB free): free space on the card")
        path = self._retrying(lambda: self._cam.capture(gp.GP_CAPTURE_IMAGE), "capture")
        # RAW+JPEG: the camera announces the shot's other files as events right after capture()
        others = self._files_added((path.folder, path.name))
        if self.cfg.keep_on_card_only:
            log.info("frame %s stays on the camera card", f"{path.folder.rstrip('/')}/{path.name}")
            return None
        frame = self._fetch(path.folder, path.name)
        companions = [self._fetch(folder, name) for folder, name in others]
        return dataclasses.replace(frame, companions=companions)

    def _fetch(self, folder: str, name: str) -> Frame:
        """Download and verify one file of the camera."""
        ext = os.path.splitext(name)[1].lstrip(".").lower() or "jpg"
        meta = {"camera_path": f"{folder.rstrip('/')}/{name}", "camera_folder": folder, "camera_name": name}
        data = self._retrying(lambda: self._download(folder, name), "download")
        self._verify(data, ext, folder, name)
        return Frame(data=data, ext="jpg" if ext == "jpeg" else ext, meta=meta)

    def _files_added(self, main: tuple[str, str]) -> list[tuple[str, str]]:
        """Files the camera reports as added within ``extra_files_wait_s`` of the capture (other
        than ``main``). Draining the events also keeps a camera in RAM mode from stalling."""
        wait_ms = int(self.cfg.extra_files_wait_s * 1000)
        if wait_ms <= 0:
            return []
        gp = self.gp
        found: list[tuple[str, str]] = []
        # bounded even when a body keeps sending other events (Canon reports property changes)
        deadline = time.monotonic() + 2 * self.cfg.extra_files_wait_s + 0.2
        while time.monotonic() < deadline:
            try:
                kind, data = self._cam.wait_for_event(wait_ms)
            except gp.GPhoto2Error as exc:  # a body without events: nothing more to learn
                log.debug("wait_for_event: %s", exc)
                break
            if kind == gp.GP_EVENT_TIMEOUT:
                break
            if kind == gp.GP_EVENT_FILE_ADDED:
                where = (data.folder, data.name)
                if where != main and where not in found:
                    log.info("the camera also wrote %s/%s for this shot", data.folder.rstrip("/"), data.name)
                    found.append(where)
            elif kind == gp.GP_EVENT_CAPTURE_COMPLETE and found:
                break
        return found

    def _download(self, folder: str, name: str) -> bytes:
        cam_file = self._cam.file_get(folder, name, self.gp.GP_FILE_TYPE_NORMAL)
        return bytes(memoryview(cam_file.get_data_and_size()))

    def _verify(self, data: bytes, ext: str, folder: str, name: str) -> None:
        where = f"{folder.rstrip('/')}/{name}"
        if not data:
            raise CameraError(f"download of {where} is empty")
        try:
            info = self._cam.file_get_info(folder, name)
            if info.file.fields & self.gp.GP_FILE_INFO_SIZE and info.file.size != len(data):
                raise CameraError(f"download of {where} is incomplete: {len(data)} of {info.file.size} bytes")
        except self.gp.GPhoto2Error:
            pass  # some cameras cannot report file info for RAM captures
        if not looks_complete(data, ext):
            raise CameraError(f"download of {where} is corrupt (no {ext.upper()} end-of-image marker)")

    def frame_saved(self, frame: Frame) -> None:
        """Delete the frame (and its companions) from the camera once on disk, if so configured."""
        if not (self.cfg.delete_from_card or self.cfg.capture_target == "ram"):
            return
        for part in (frame, *frame.companions):
            folder, name = part.meta.get("camera_folder"), part.meta.get("camera_name")
            if not folder:
                continue
            try:
                self._call(lambda f=folder, n=name: self._cam.file_delete(f, n), "delete")
            except CameraError as exc:
                log.warning("could not delete %s/%s from the camera: %s", folder, name, exc)

    def preview(self) -> bytes:
        self._check_open()

        def grab() -> bytes:
            try:
                cam_file = self._cam.capture_preview()
            except self.gp.GPhoto2Error as exc:
                if getattr(exc, "code", None) == GP_ERROR_NOT_SUPPORTED:
                    raise CameraError(
                        f"the {self.model} has no live view through gphoto2 (capture_preview unsupported)"
                    ) from None
                raise
            self._live_view = True
            return bytes(memoryview(cam_file.get_data_and_size()))

        data = self._call(grab, "preview")
        if not looks_complete(data, "jpg"):
            raise CameraError("the camera's live-view frame is not a complete JPEG")
        return data

    def release(self) -> None:
        """Nothing to hold: libgphoto2 fires and releases the shutter in one call."""

    # -- focus drive (used by the lens rail) ----------------------------------------------
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
        """Set ``manualfocusdrive`` once (one drive step), with live view on; Canon needs a
        'None' between drives."""

        def drive() -> None:
            self._ensure_live_view()
            widget = self._cam.get_single_config("manualfocusdrive")
            widget.set_value(value)
            self._cam.set_single_config("manualfocusdrive", widget)
            if widget.get_type() in (self.gp.GP_WIDGET_RADIO, self.gp.GP_WIDGET_MENU):
                widget.set_value("None")
                self._cam.set_single_config("manualfocusdrive", widget)

        self._check_open()
        self._call(drive, "focus drive")

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

    # -- status ---------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "captures": self.captures,
            "capture_target_configured": self.cfg.capture_target,
        }
        if self.closed:
            return out

        def read() -> None:
            for key, name in (
                ("battery", "batterylevel"),
                ("capture_target", "capturetarget"),
                ("serial", "serialnumber"),
                ("lens", "lensname"),
            ):
                try:
                    out[key] = str(self._cam.get_single_config(name).get_value())
                except self.gp.GPhoto2Error:
                    continue
            free = self._free_kb()
            if free is not None:
                out["free_mb"] = round(free / 1024, 1)

        try:
            self._call(read, "info", timeout=min(self.timeout_s, 5.0))
        except CameraError as exc:
            out["error"] = str(exc)
        return out

    def health(self) -> dict[str, Any]:
        error = "closed" if self.closed else self._error
        return {"ok": error is None, "backend": "gphoto", "model": self.model, "error": error}

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        cam = self._cam
        if cam is not None and self._error is None:
            try:
                self._dev.call(cam.exit, 2.0)
            except Exception as exc:  # noqa: BLE001 - closing must not fail
                log.warning("camera exit failed: %s", exc)
        self._dev.close()
