"""A Raspberry Pi camera (Camera Module 3 and friends) through picamera2.

One still configuration with two streams: ``main`` at full resolution for stills and a small
``lores`` stream for live view. Each still comes from a request whose exposure started after
the call (``capture_request(flush=True)``), so a frame never predates the last move; the
sensor timestamp is checked as well. picamera2 is imported lazily (it only exists on a Pi:
``pip install rig[pi]`` or apt ``python3-picamera2``).

Every picamera2 call that waits for a frame gets a numeric ``wait`` (``camera.picam.timeout_s``):
without one it blocks forever on a dead ribbon cable. On its TimeoutError the pending jobs are
cancelled (``cancel_all_and_flush``), so the camera can still be stopped and closed. The calls
run on one device thread, with a deadline a little longer as a last resort.

Exposure time, gain and colour gains are locked after the first frame of a stack
(``lock_exposure``; ``stack_started()`` re-arms), so slices do not differ in brightness or
colour. Lens settling counts frames by their timestamps: the first frame picamera2 returns is
the one already queued, exposed before the call.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from rig.camera.base import Frame, looks_complete
from rig.camera.devthread import DeviceThread, DeviceTimeout
from rig.camera.picam_settings import PicamSettings
from rig.config import CameraConfig
from rig.errors import BackendUnavailable, CameraError

log = logging.getLogger(__name__)
UNAVAILABLE = "picamera2 backend unavailable: install with `pip install rig[pi]` or apt python3-picamera2"
SAVE_FORMAT = {"jpg": "jpeg", "png": "png"}
AF_MODE_MANUAL = 0  # libcamera.controls.AfModeEnum.Manual
DEADLINE_MARGIN_S = 2.0  # the device thread's deadline beyond picamera2's own wait
# What the lens really reaches, from libcamera's tuning (src/ipa/rpi/*/data/imx708.json, rpi.af
# "map": [0.0, 445, 15.0, 925]): 0..15 dioptres (older libcamera advertised 0..32) in 480 motor
# steps, so one motor step is 1/32 dioptre.
LENS_CLOSEST_DIOPTRES = {"imx708": 15.0}
LENS_MOTOR_STEP_DIOPTRES = {"imx708": 15.0 / 480}
LOCKED_CONTROLS = ("ExposureTime", "AnalogueGain", "ColourGains")
T = TypeVar("T")


class PicamCamera(PicamSettings):
    """Camera protocol over picamera2; ``picamera2_module`` injects a stand-in (tests)."""

    def __init__(self, cfg: CameraConfig, picamera2_module: Any = None, timeout_s: float | None = None) -> None:
        if picamera2_module is None:
            try:
                import picamera2

                picamera2_module = picamera2
            except ImportError as exc:
                raise BackendUnavailable(f"{UNAVAILABLE} ({exc})") from None
        self.cfg = cfg.picam
        self.timeout_s = timeout_s or self.cfg.timeout_s
        self._mod = picamera2_module
        self._dev = DeviceThread("rig-picam")
        self._abort = threading.Event()
        self._error: str | None = None
        self._flush_supported = True
        self._last_ts = -1
        self._lock_armed = self.cfg.lock_exposure  # lock at the next frame (the first of a stack)
        self._format = self.cfg.format  # a camera setting (picam_settings.py)
        self._values: dict[str, str] = {}  # the camera settings the user fixed
        self.captures = 0
        self.closed = False
        try:
            self._call(self._open, "open")
        except BaseException:
            self._dev.close()
            self.closed = True
            raise

    def _open(self) -> None:
        try:
            cam = self._mod.Picamera2(self.cfg.camera_num)
        except (IndexError, RuntimeError, OSError) as exc:
            raise CameraError(
                f"no Pi camera found as camera {self.cfg.camera_num} (is the ribbon cable seated "
                f"and the camera enabled?): {exc}"
            ) from None
        self._cam = cam
        props = getattr(cam, "camera_properties", {}) or {}
        self.model = str(props.get("Model", "Pi camera"))
        full = tuple(props.get("PixelArraySize") or cam.sensor_resolution)
        size = (self.cfg.width or full[0], self.cfg.height or full[1])
        preview = (self.cfg.preview_width, self.cfg.preview_height)
        if preview[0] > size[0] or preview[1] > size[1]:  # picamera2 refuses it at configure time
            raise CameraError(
                f"camera.picam preview {preview[0]}x{preview[1]} is larger than the still size "
                f"{size[0]}x{size[1]}: lower preview_width/preview_height"
            )
        self.size, self.preview_size = size, preview
        self._configure(self._format)

    def _configure(self, fmt: str) -> None:
        """Configure the (stopped) camera for stills in ``fmt`` (a raw stream for dng) and start it."""
        cam = self._cam
        raw: dict[str, Any] | None = {} if fmt == "dng" else None
        config = cam.create_still_configuration(
            main={"size": self.size}, lores={"size": self.preview_size}, raw=raw, buffer_count=2
        )
        cam.configure(config)
        cam.options["quality"] = self.cfg.quality
        cam.start()
        self._format = fmt

    def _call(self, fn: Callable[[], T], what: str, timeout: float | None = None) -> T:
        try:
            return self._dev.call(fn, (self.timeout_s if timeout is None else timeout) + DEADLINE_MARGIN_S)
        except TimeoutError:  # picamera2's numeric wait: its job stays queued until flushed
            self._error = f"{what} timed out"
            self._flush()
            raise CameraError(
                f"Pi camera {what} timed out after {self.timeout_s:g} s: the camera stopped "
                f"responding (check the ribbon cable, then restart rig)"
            ) from None
        except DeviceTimeout:
            self._error = f"{what} timed out"
            raise CameraError(
                f"Pi camera {what} timed out after {self.timeout_s:g} s: the camera stopped "
                f"responding (check the ribbon cable, then restart rig)"
            ) from None
        except CameraError:
            raise
        except Exception as exc:  # noqa: BLE001 - libcamera raises RuntimeError and friends
            self._error = f"{type(exc).__name__}: {exc}"
            raise CameraError(
                f"Pi camera disconnected or failed during {what}: {exc} (check the ribbon cable)"
            ) from None

    def _flush(self) -> None:
        try:
            self._dev.call(self._cam.cancel_all_and_flush, 1.0)
        except Exception as exc:  # noqa: BLE001 - picamera2 < 0.3.20 has no cancel_all_and_flush
            log.warning("Pi camera: could not cancel the pending requests: %s", str(exc))

    # -- Camera protocol ---------------------------------------------------------------
    def _check(self) -> None:
        if self.closed:
            raise CameraError("Pi camera is closed")
        if self._error:
            raise CameraError(f"Pi camera is not usable after an earlier failure ({self._error}); restart rig")

    def _fresh_request(self) -> tuple[Any, dict[str, Any]]:
        """A completed request whose exposure started after this call."""
        started = time.monotonic_ns()
        wait = self.timeout_s
        if self._flush_supported:
            try:
                request = self._cam.capture_request(flush=True, wait=wait)
            except TypeError:  # picamera2 < 0.3.13 has no flush: drop the frame in flight instead
                self._flush_supported = False
        if not self._flush_supported:
            self._cam.capture_request(wait=wait).release()
            request = self._cam.capture_request(wait=wait)
        metadata = dict(request.get_metadata() or {})
        ts = metadata.get("SensorTimestamp")
        if ts is not None and ((self._flush_supported and ts < started) or ts <= self._last_ts):
            request.release()
            raise CameraError(f"Pi camera returned a stale frame (sensor time {ts} before the request {started})")
        if ts is not None:
            self._last_ts = ts
        return request, metadata

    def capture(self) -> Frame:
        self._check()
        self._abort.clear()
        frame = self._call(self._capture_on_device, "capture")
        self.captures += 1
        return frame

    def _capture_on_device(self) -> Frame:
        request, metadata = self._fresh_request()
        try:
            buf = io.BytesIO()
            if self._format == "dng":
                request.save_dng(buf)
            else:
                request.save("main", buf, format=SAVE_FORMAT[self._format])
        finally:
            request.release()
        data = buf.getvalue()
        if not looks_complete(data, self._format) or (
            self._format == "dng" and data[:4] not in (b"II*\x00", b"MM\x00*")
        ):
            raise CameraError(f"Pi camera produced an incomplete {self._format.upper()} frame")
        meta: dict[str, Any] = {
            k: metadata[k]
            for k in ("SensorTimestamp", "ExposureTime", "AnalogueGain", "ColourGains", "LensPosition")
            if k in metadata
        }
        if self._lock_armed:
            self._lock_exposure(metadata)
        return Frame(data=data, ext=self._format, meta=meta)

    def _lock_exposure(self, metadata: dict[str, Any]) -> None:
        """Fix exposure, gain and colour gains at this frame's values for the rest of the stack."""
        advertised = getattr(self._cam, "camera_controls", {}) or {}
        values = {k: metadata[k] for k in LOCKED_CONTROLS if k in metadata and k in advertised}
        controls = {k: False for k in ("AeEnable", "AwbEnable") if k in advertised}
        # what the user fixed wins over this frame's values (a change may not have reached it yet)
        self._cam.set_controls({**controls, **values, **self.fixed_controls()})
        self._lock_armed = False
        log.info("Pi camera: exposure and white balance locked for this stack at %s", values)

    def stack_started(self) -> None:
        """A new stack: auto exposure and white balance run again until its first frame."""
        self._check()
        if not self.cfg.lock_exposure:
            return
        advertised = getattr(self._cam, "camera_controls", {}) or {}
        # what the user fixed goes in the same request, so it keeps its manual mode
        controls = {**{k: True for k in ("AeEnable", "AwbEnable") if k in advertised}, **self.fixed_controls()}
        if controls:
            self._call(lambda: self._cam.set_controls(controls), "exposure unlock")
        self._lock_armed = True

    def frame_saved(self, frame: Frame) -> None:
        pass  # nothing is stored on the camera

    def preview(self) -> bytes:
        self._check()

        def grab() -> bytes:
            import cv2

            request = self._cam.capture_request(wait=self.timeout_s)
            try:
                array = request.make_array("lores")
            finally:
                request.release()
            width, height = self.preview_size
            if array.ndim == 2:  # YUV420 planar, rows ``stride`` wide (picamera2 keeps the padding)
                array = cv2.cvtColor(array, cv2.COLOR_YUV2BGR_I420)[:height, :width]
            elif array.shape[2] == 4:  # XBGR8888
                array = array[:, :width, :3]
            ok, buf = cv2.imencode(".jpg", array, [cv2.IMWRITE_JPEG_QUALITY, 80])
            if not ok:
                raise CameraError("could not encode a preview frame")
            return buf.tobytes()

        return self._call(grab, "preview")

    def release(self) -> None:
        self._abort.set()  # ends a lens settle wait

    # -- lens (used by the lens rail) ----------------------------------------------------
    def lens_range(self) -> tuple[float, float]:
        """(farthest, closest) LensPosition in dioptres the lens really reaches: the advertised
        range, clamped to the sensor's known limit (libcamera before mid-2025 advertised 0..32)."""
        self._check()
        controls = getattr(self._cam, "camera_controls", {}) or {}
        if "LensPosition" not in controls:
            raise CameraError(
                f"the {self.model} has no focus motor (no LensPosition control); the lens rail needs a Camera Module 3"
            )
        lo, hi, _ = controls["LensPosition"]
        return float(lo), min(float(hi), LENS_CLOSEST_DIOPTRES.get(self.model, float(hi)))

    def lens_motor_step(self) -> float:
        """Dioptres per lens-motor step (0 = not known for this sensor)."""
        return LENS_MOTOR_STEP_DIOPTRES.get(self.model, 0.0)

    def lens_position(self) -> float:
        """The next frame's LensPosition: what libcamera commanded, slew-limited; no readout."""
        self._check()
        metadata = self._call(lambda: self._cam.capture_metadata(wait=self.timeout_s), "metadata read")
        return float(metadata.get("LensPosition", 0.0))

    def set_lens_position(self, dioptres: float) -> None:
        self._check()
        self._call(
            lambda: self._cam.set_controls({"AfMode": AF_MODE_MANUAL, "LensPosition": float(dioptres)}), "lens move"
        )

    def wait_frames(self, frames: int, abort: threading.Event | None = None) -> None:
        """Let ``frames`` frames be exposed from now on. Frames that started exposing earlier
        (picamera2 first returns the one already queued) do not count."""
        since = time.monotonic_ns()
        counted = 0
        while counted < frames:
            if (abort is not None and abort.is_set()) or self._abort.is_set():
                return
            md = self._call(lambda: self._cam.capture_metadata(wait=self.timeout_s), "lens settle")
            ts = md.get("SensorTimestamp")
            if ts is None or ts - 1000 * md.get("ExposureTime", 0) >= since:  # as picamera2's flush
                counted += 1

    # -- status ---------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {
            "model": getattr(self, "model", "Pi camera"),
            "camera_num": self.cfg.camera_num,
            "resolution": "x".join(map(str, getattr(self, "size", ()))),
            "format": self._format,
            "captures": self.captures,
            "error": self._error,
        }

    def health(self) -> dict[str, Any]:
        error = "closed" if self.closed else self._error
        return {"ok": error is None, "backend": "picam", "error": error}

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._abort.set()
        cam: Any = getattr(self, "_cam", None)  # a picamera2.Picamera2, None if it never opened

        def shut() -> None:
            try:
                cam.stop()
            finally:
                cam.close()

        if cam is not None:
            try:
                self._dev.call(shut, 2.0)
            except Exception as exc:  # noqa: BLE001 - closing must not fail
                log.warning("Pi camera close failed: %s", str(exc))
        self._dev.close()
