"""A USB camera through python-gphoto2 (libgphoto2 bundled in the PyPI wheel).

Each frame: check the capture target (cameras silently fall back to internal RAM), check the
card is not full, trigger, download the exact file the camera reported, verify it (size as
the camera reports it, JPEG end-of-image), hand the bytes to the sequencer, which saves them
through the atomic writer; then, in ``frame_saved``, delete it from the camera if configured
(always for RAM captures, which otherwise fill the camera's buffer).

A transient USB I/O error is retried ``retries`` times, reconnecting first. "Device busy"
(-110, e.g. a Canon still moving its lens) is not a link fault: it is retried ``busy_retries``
times with growing pauses and never reconnects (a reconnect ends live view). A failed download
is retried by downloading again, never by shooting again; a failed trigger is retried at the
same rail position, so at worst the card holds a spare frame of the same slice. A shot's other
files (RAW+JPEG) are collected by name stem from the camera's events (``gphoto_shot.py``).
ISO, shutter speed, aperture, format and white balance are config widgets (``gphoto_settings.py``).
All libgphoto2 calls run on one device thread with a deadline (``timeout_s``), so a wedged
camera gives a clear "timed out" fault instead of hanging the rig.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from rig.camera.base import Frame, looks_complete
from rig.camera.devthread import DeviceThread, DeviceTimeout
from rig.camera.gphoto_focus import FocusDrive
from rig.camera.gphoto_settings import GphotoSettings
from rig.camera.gphoto_shot import ShotFiles
from rig.config import CameraConfig
from rig.errors import BackendUnavailable, CameraError

log = logging.getLogger(__name__)
T = TypeVar("T")

# libgphoto2 result codes (gphoto2/gphoto2-result.h, gphoto2-port-result.h)
GP_ERROR, GP_ERROR_NO_MEMORY, GP_ERROR_NOT_SUPPORTED, GP_ERROR_IO = -1, -3, -6, -7
GP_ERROR_TIMEOUT, GP_ERROR_IO_READ, GP_ERROR_IO_WRITE = -10, -34, -35
GP_ERROR_IO_USB_FIND, GP_ERROR_IO_USB_CLAIM, GP_ERROR_MODEL_NOT_FOUND = -52, -53, -105
GP_ERROR_CAMERA_BUSY, GP_ERROR_NO_SPACE = -110, -115
TRANSIENT = {GP_ERROR_IO, GP_ERROR_IO_READ, GP_ERROR_IO_WRITE, GP_ERROR_TIMEOUT}  # the USB link
GONE = {GP_ERROR_IO_USB_FIND, GP_ERROR_IO_USB_CLAIM, GP_ERROR_MODEL_NOT_FOUND}
FULL = {GP_ERROR_NO_SPACE, GP_ERROR_NO_MEMORY}
MIN_FREE_KB = 1024
RETRY_PAUSE_S = 0.3
BUSY_FIRST_PAUSE_S, BUSY_MAX_PAUSE_S = 0.05, 1.0  # "busy" backoff: 0.05, 0.1, 0.2, ... 1 s
TARGET_CHOICES = {"card": ("memory card", "card", "sdram + card"), "ram": ("internal ram", "sdram", "ram")}


class GphotoCamera(FocusDrive, GphotoSettings):
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
        self._shot = ShotFiles(gp)
        self.model = "unknown"
        self.captures = 0
        self.busy_answers = 0  # "busy" answers retried (wear, hardware checks)
        self.reconnects = 0
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
        self._live_view = False  # a (re)connect ends live view on every body
        cam = self._factory()
        cam.init()
        self._cam = cam
        try:
            self.model = cam.get_abilities().model or self.model
        except self.gp.GPhoto2Error:
            pass
        self._ensure_target()

    def _call(self, fn: Callable[[], T], what: str, timeout: float | None = None) -> T:
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
        if code in GONE or (what == "connect" and (code in TRANSIENT or code == GP_ERROR_CAMERA_BUSY)):
            self._error = "camera not found"
            return CameraError(f"camera disconnected or switched off: no camera found on USB during {what} ({detail})")
        if code in FULL:
            return CameraError(f"camera card (or buffer) is full during {what}: free space on the card ({detail})")
        if code == GP_ERROR_TIMEOUT:
            self._error = f"{what} timed out"
            return CameraError(f"camera {what} timed out ({detail})")
        if code == GP_ERROR_CAMERA_BUSY:  # the link is fine: no reconnect next time
            return CameraError(f"camera stayed busy during {what} after {self.cfg.busy_retries} retries ({detail})")
        if code in TRANSIENT:
            self._error = "USB I/O error"
            return CameraError(f"camera disconnected or not responding: USB I/O error during {what} ({detail})")
        return CameraError(f"camera {what} failed ({detail})")

    def _retrying(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn``: "busy" is retried with growing pauses on the same connection; a USB I/O
        error is retried after a reconnect."""
        io_retries = busy_retries = 0
        pause = BUSY_FIRST_PAUSE_S
        while True:
            try:
                return fn()
            except self.gp.GPhoto2Error as exc:
                code = getattr(exc, "code", GP_ERROR)
                if code == GP_ERROR_CAMERA_BUSY and busy_retries < self.cfg.busy_retries:
                    busy_retries += 1
                    self.busy_answers += 1
                    log.info(
                        "camera %s: busy; retrying in %.2f s (%d of %d)",
                        what,
                        pause,
                        busy_retries,
                        self.cfg.busy_retries,
                    )
                    time.sleep(pause)
                    pause = min(2 * pause, BUSY_MAX_PAUSE_S)
                    continue
                if code not in TRANSIENT or code == GP_ERROR_TIMEOUT or io_retries >= self.cfg.retries:
                    raise
                io_retries += 1
                log.warning(
                    "camera %s: %s; reconnecting and retrying (%d of %d)", what, str(exc), io_retries, self.cfg.retries
                )
                time.sleep(RETRY_PAUSE_S)
                self._reconnect()

    def _reconnect(self) -> None:
        self.reconnects += 1
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
        self._forget_strays(self._shot.drain(self._cam))  # nothing from before this shot joins it
        self._retrying(self._ensure_target, "capture target check")
        if self.cfg.capture_target == "card":
            free = self._free_kb()
            if free is not None and free < MIN_FREE_KB:
                raise CameraError(f"camera card is full ({free} kB free): free space on the card")
        path = self._retrying(lambda: self._cam.capture(gp.GP_CAPTURE_IMAGE), "capture")
        # RAW+JPEG: the camera announces the shot's other files as events after capture()
        others = self._shot.collect(
            self._cam, (path.folder, path.name), self.cfg.extra_files_wait_s, self.cfg.files_per_shot
        )
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

    def _forget_strays(self, strays: list[tuple[str, str]]) -> None:
        """Files that arrived outside their shot's wait: never attached to another slice; in RAM
        mode deleted from the camera (else they fill its buffer)."""
        for folder, name in strays:
            where = f"{folder.rstrip('/')}/{name}"
            if self.cfg.capture_target != "ram":
                log.warning("the camera wrote %s after its shot was saved; it stays on the card", where)
                continue
            log.warning("the camera wrote %s after its shot was saved; deleting it from the camera's RAM", where)
            try:
                self._cam.file_delete(folder, name)
            except self.gp.GPhoto2Error as exc:
                log.warning("could not delete %s from the camera: %s", where, str(exc))

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

            def delete(f: str = folder, n: str | None = name) -> None:
                self._cam.file_delete(f, n)  # the camera object of the moment: a reconnect replaces it

            try:
                self._call(delete, "delete")
            except CameraError as exc:
                log.warning("could not delete %s/%s from the camera: %s", folder, name, str(exc))

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

    # -- status ---------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.model,
            "captures": self.captures,
            "busy_answers": self.busy_answers,
            "reconnects": self.reconnects,
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
        cam, self._cam = self._cam, None  # the camera (and its USB claim) goes with the device thread
        # end the camera's session even after a USB fault (else the body stays claimed until Python
        # frees the camera object); only a call still stuck on the device thread is not waited for
        if cam is not None and not self._dev.busy:
            try:
                self._dev.call(cam.exit, 2.0)
            except Exception as exc:  # noqa: BLE001 - closing must not fail
                log.warning("camera exit failed: %s", str(exc))  # text: a kept record must not keep the camera
        self._dev.close()
