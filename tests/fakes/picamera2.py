"""A stand-in for the ``picamera2`` module, with the parts of its API the picam backend uses.

It runs a frame clock (``fps``), gives each request a ``SensorTimestamp`` in
``time.monotonic_ns()`` (as picamera2 does), keeps one completed frame queued so a request
made without ``flush`` is *stale*, moves the lens toward ``LensPosition`` by at most
``lens_speed`` dioptres per frame, and encodes stills with OpenCV. Faults: ``unplug()``
(requests fail as with a loose ribbon cable), ``hang()`` (the next request never completes).
"""

from __future__ import annotations

import threading
import time
import types
from typing import Any

import numpy as np

FRONTEND_TIMEOUT = "Camera frontend has timed out!"


class FakeRequest:
    def __init__(self, cam: FakePicamera2, ts: int, lens: float) -> None:
        self.cam, self.ts, self.lens = cam, ts, lens
        self.released = False

    def get_metadata(self) -> dict[str, Any]:
        return {
            "SensorTimestamp": self.ts,
            "LensPosition": self.lens,
            "ExposureTime": 10_000,
            "AnalogueGain": 1.0,
            "FrameDuration": int(1e6 / self.cam.fps),
        }

    def make_array(self, name: str) -> np.ndarray:
        w, h = self.cam.config[name]["size"]
        if name == "lores":  # YUV420 planar, as on a Pi 4
            return np.full((h * 3 // 2, w), 128, np.uint8)
        img = np.zeros((h, w, 3), np.uint8)
        img[:, :, 1] = (np.arange(w) * 255 // max(w - 1, 1)).astype(np.uint8)
        img[:, :, 2] = int(self.lens * 10) % 256
        return img

    def save(self, name: str, file_output: Any, format: str | None = None) -> None:
        import cv2

        ext = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png"}[format or "jpeg"]
        params = [cv2.IMWRITE_JPEG_QUALITY, self.cam.options["quality"]] if ext == ".jpg" else []
        ok, buf = cv2.imencode(ext, self.make_array(name), params)
        assert ok
        file_output.write(buf.tobytes())

    def save_dng(self, file_output: Any, name: str = "raw") -> None:
        file_output.write(b"II*\x00" + b"\x00" * 64)

    def release(self) -> None:
        assert not self.released, "request released twice"
        self.released = True
        self.cam.open_requests -= 1


class FakePicamera2:
    cameras = [{"Model": "imx708", "Num": 0}]
    instances: list[FakePicamera2] = []

    def __init__(self, camera_num: int = 0) -> None:
        if camera_num >= len(self.cameras):
            raise IndexError("list index out of range")
        self.camera_num = camera_num
        self.camera_properties = {"Model": "imx708", "PixelArraySize": (4608, 2592)}
        self.sensor_resolution = (4608, 2592)
        self.camera_controls = {
            "LensPosition": (0.0, 15.0, 1.0),
            "AfMode": (0, 2, 0),
            "ExposureTime": (26, 220_000_000, 20_000),
        }
        self.options = {"quality": 90, "compress_level": 1}
        self.fps = 200.0
        self.lens_speed = 2.0
        self.controls: dict[str, Any] = {}
        self.lens = 1.0
        self.config: dict[str, Any] | None = None
        self.started = self.closed = False
        self.unplugged = self.hung = False
        self.release_hang = threading.Event()
        self.open_requests = 0
        self.requests = 0
        self.flush_calls: list[Any] = []
        self._last_ts = time.monotonic_ns()
        self._lock = threading.Lock()
        self.instances.append(self)

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        return list(FakePicamera2.cameras)

    def create_still_configuration(
        self,
        main: dict | None = None,
        lores: dict | None = None,
        raw: dict | None = None,
        buffer_count: int = 1,
        **kwargs: Any,
    ) -> dict[str, Any]:
        main = {"format": "BGR888", "size": self.sensor_resolution, **(main or {})}
        out = {"use_case": "still", "main": main, "lores": lores, "raw": raw, "buffer_count": buffer_count}
        out.update(kwargs)
        return out

    def configure(self, config: dict[str, Any]) -> None:
        assert not self.started, "configure while running"
        self.config = config

    def start(self) -> None:
        assert self.config is not None, "start before configure"
        self.started = True

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.started = False
        self.closed = True

    def set_controls(self, controls: dict[str, Any]) -> None:
        unknown = set(controls) - set(self.camera_controls)
        if unknown:
            raise RuntimeError(f"Control {sorted(unknown)[0]} is not advertised by libcamera")
        self.controls.update(controls)

    # -- the frame clock ----------------------------------------------------------------
    def unplug(self) -> None:
        self.unplugged = True

    def hang(self) -> None:
        self.hung = True

    def _next_frame(self) -> int:
        """Wait for the next frame; returns its timestamp and moves the lens one frame's worth."""
        if self.unplugged:
            time.sleep(0.01)
            raise RuntimeError(FRONTEND_TIMEOUT)
        if self.hung:
            self.release_hang.wait(30)  # a request that never completes
            raise RuntimeError(FRONTEND_TIMEOUT)
        if not self.started:
            raise RuntimeError("Camera is not running")
        with self._lock:
            ts = max(time.monotonic_ns(), self._last_ts + int(1e9 / self.fps))
            wait = (ts - time.monotonic_ns()) / 1e9
            if wait > 0:
                time.sleep(wait)
            self._last_ts = ts
            target = self.controls.get("LensPosition")
            if target is not None and self.controls.get("AfMode", 2) == 0:
                step = max(-self.lens_speed, min(self.lens_speed, target - self.lens))
                self.lens += step
            return ts

    def capture_request(self, wait: Any = None, signal_function: Any = None, flush: Any = None) -> FakeRequest:
        self.flush_calls.append(flush)
        if flush is True:
            flush = time.monotonic_ns()
        if flush:
            ts = self._next_frame()
            while ts < flush:
                ts = self._next_frame()
        else:
            ts = self._last_ts  # the frame already queued: it may predate the caller's last move
            if self.unplugged:
                raise RuntimeError(FRONTEND_TIMEOUT)
        self.requests += 1
        self.open_requests += 1
        return FakeRequest(self, ts, self.lens)

    def capture_metadata(self, wait: Any = None) -> dict[str, Any]:
        ts = self._next_frame()
        return FakeRequest(self, ts, self.lens).get_metadata()


def make_module() -> types.ModuleType:
    """A fresh ``picamera2`` stand-in module (its Picamera2 records instances per module)."""
    module = types.ModuleType("picamera2")

    class Picamera2(FakePicamera2):
        instances: list[FakePicamera2] = []

    module.Picamera2 = Picamera2
    module.__file__ = __file__
    return module
