"""A stand-in for the ``picamera2`` module, with the parts of its API the picam backend uses.

It copies picamera2 0.3.36 (github.com/raspberrypi/picamera2) on libcamera 0.7 with the
imx708 tuning (github.com/raspberrypi/libcamera), the versions docs/hardware-checklist.md names:

* Frame clock and queue: frames complete every 1/``fps`` s. As in ``Picamera2.process_requests``
  (picamera2/picamera2.py), the newest completed request is kept queued when ``buffer_count``
  > 1 (``_max_queue_len = 1``, set in ``configure_``), so ``capture_metadata()`` and
  ``capture_request()`` first return that frame, which may predate the caller's last change.
  ``capture_request(flush=t)`` drops queued frames that started exposing before ``t``
  (``wait_for_timestamp_``: start = SensorTimestamp - 1000 * ExposureTime).
* Waiting: ``wait=None``/``True`` blocks until the job completes (forever on a dead camera);
  a number raises ``TimeoutError`` after that many seconds (``dispatch_functions`` ->
  ``Job.get_result`` -> ``Future.result(timeout)``) and leaves the job queued, so ``stop()``
  blocks behind it until ``cancel_all_and_flush()`` clears the job list.
* Controls reach the sensor one request late (``set_controls`` applies to the next request
  queued to libcamera, one is already in flight). Unknown controls raise.
* Lens (libcamera src/ipa/rpi/controller/rpi/af.cpp, imx708.json ``rpi.af``): in manual
  ``AfMode`` the target is clamped to the tuning map's domain, 0..15 dioptres
  (``setLensPosition``), and the lens moves at most ``max_slew`` = 1.5 dioptres per frame
  (``updateLensPosition``). Metadata ``LensPosition`` is that commanded, slew-limited value,
  not a readout (``getLensPosition``). ``camera_controls["LensPosition"]`` advertises 0..32 as
  libcamera did before commit 30114cad (2025-06-20, ``ipa_base.cpp``'s fixed ``ipaAfControls``).
* Exposure and white balance (libcamera src/ipa/rpi/common/ipa_base.cpp ``applyControls``, the
  modes as control_ids_core.yaml defines them; picamera2/request.py ``CompletedRequest.release``
  adds ``ExposureTimeMode``/``AnalogueGainMode`` manual for a non-zero ``ExposureTime`` /
  ``AnalogueGain`` and auto for 0): ``AeEnable`` sets both modes, a value in the same request
  overrides its own mode; switching to manual without a value keeps the AE's last one.
  ``AwbEnable`` is handled before ``ColourGains``: non-zero gains turn AWB off, (0, 0) on.
  ``AwbMode`` is reported in the metadata once set. In auto, ``ExposureTime`` follows
  ``scene_light`` (times 2**``ExposureValue``; divided by a fixed gain) and ``ColourGains``
  ``scene_tint``, which tests may change between frames; the AE here changes the time, not the
  gain, and leaves a fixed time's shortfall to the gain (up to 16). The still's brightness is
  time x gain. The frame clock does not stretch for long exposures: keep them under a frame.
* Configuration: a lores stream larger than main raises as ``check_camera_config`` does;
  ``make_array("lores")`` of the default YUV420 lores is ``(h * 3 // 2, stride)`` wide, the
  stride padded to 64 bytes (``_make_array_shared`` keeps the padding for YUV420).
* Faults: ``unplug()`` (requests fail: "Camera frontend has timed out!"), ``hang()`` (no
  frame completes until ``release_hang`` is set).
"""

from __future__ import annotations

import threading
import time
import types
from typing import Any

import numpy as np

FRONTEND_TIMEOUT = "Camera frontend has timed out!"
LENS_MAP_DOMAIN = (0.0, 15.0)  # imx708.json rpi.af "map": [0.0, 445, 15.0, 925]
STRIDE_ALIGN = 64


def _stride(width: int) -> int:
    return -(-width // STRIDE_ALIGN) * STRIDE_ALIGN


class FakeRequest:
    def __init__(self, cam: FakePicamera2, frame: dict[str, Any]) -> None:
        self.cam, self.frame = cam, frame
        self.ts, self.lens = frame["SensorTimestamp"], frame["LensPosition"]
        self.released = False

    def get_metadata(self) -> dict[str, Any]:
        return dict(self.frame)

    def make_array(self, name: str) -> np.ndarray:
        cfg = self.cam.camera_config[name]
        w, h = cfg["size"]
        if name == "lores":  # YUV420 planar: Y (h x stride), then U and V (h/2 x stride/2 each)
            stride = cfg["stride"]
            y = np.full((h, stride), 0, np.uint8)
            y[:, :w] = 128 + int(self.frame["ExposureTime"] // 100) % 64
            chroma = np.full((h // 2, stride // 2), 128, np.uint8)
            chroma[:, w // 2 :] = 0  # padding: garbage after conversion unless cut off
            return np.concatenate([y.ravel(), chroma.ravel(), chroma.ravel()]).reshape(h * 3 // 2, stride)
        level = min(255, int(self.frame["ExposureTime"] * self.frame["AnalogueGain"] * self.cam.scene_light / 40))
        img = np.zeros((h, w, 3), np.uint8)
        img[:, :, 0] = min(255, int(level * self.frame["ColourGains"][1] / 2))
        img[:, :, 1] = (np.arange(w) * level // max(w - 1, 1)).astype(np.uint8)
        img[:, :, 2] = min(255, int(level * self.frame["ColourGains"][0] / 2))
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
    model = "imx708"  # tests may set another sensor (one rig has no lens table for)
    sensor_size = (4608, 2592)

    def __init__(self, camera_num: int = 0) -> None:
        if camera_num >= len(self.cameras):
            raise IndexError("list index out of range")
        self.camera_num = camera_num
        self.camera_properties = {"Model": self.model, "PixelArraySize": self.sensor_size}
        self.sensor_resolution = self.sensor_size
        self.camera_controls = {
            "LensPosition": (0.0, 32.0, 1.0),
            "AfMode": (0, 2, 0),
            "ExposureTime": (26, 220_000_000, 20_000),
            "AnalogueGain": (1.0, 16.0, 1.0),
            "AeEnable": (False, True, True),
            "ExposureTimeMode": (0, 1, 0),
            "AnalogueGainMode": (0, 1, 0),
            "ExposureValue": (-8.0, 8.0, 0.0),
            "AwbEnable": (False, True, True),
            "AwbMode": (0, 7, None),  # ControlInfo(AwbModeValues): no default
            "ColourGains": (0.0, 32.0, None),
        }
        self.options = {"quality": 90, "compress_level": 1}
        self.fps = 200.0
        self.lens_speed = 1.5  # max_slew, dioptres per frame
        self.scene_light, self.scene_tint = 1.0, 1.0
        self.controls: dict[str, Any] = {}  # every control set so far (what the sensor will use)
        self._pending: list[tuple[int, dict[str, Any]]] = []  # (applies to frames starting from, controls)
        self._active: dict[str, Any] = {}  # controls in effect for the frame being exposed
        self.fixed_exposure: int | None = None  # ExposureTimeMode manual: this time (us); None: auto
        self.fixed_gain: float | None = None  # AnalogueGainMode manual
        self.fixed_colour: tuple[float, float] | None = None  # AWB off: these gains
        self.awb_mode: int | None = None
        self.ev = 0.0
        self._last = {"ExposureTime": 10_000, "AnalogueGain": 1.0, "ColourGains": (2.0, 1.5)}  # last frame's
        self.lens = 1.0  # imx708.json rpi.af ranges.normal.default
        self.camera_config: dict[str, Any] | None = None
        self.config = None
        self.started = self.closed = False
        self.unplugged = self.hung = False
        self.release_hang = threading.Event()
        self.open_requests = 0
        self.requests = 0
        self.flush_calls: list[Any] = []
        self.waits: list[Any] = []  # the ``wait`` argument of every capture call
        self.delivered: list[dict[str, Any]] = []  # metadata of every frame handed out, in order
        self.stuck_jobs = 0  # jobs that timed out and are still queued
        self._queue: list[dict[str, Any]] = []
        self._max_queue_len = 0
        self._next_end = 0
        self._lock = threading.RLock()
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
        queue: bool = True,
        **kwargs: Any,
    ) -> dict[str, Any]:
        main = {"format": "BGR888", "size": self.sensor_resolution, **(main or {})}
        if lores is not None:
            lores = {"format": "YUV420", "size": main["size"], **lores}
        out = {"use_case": "still", "main": main, "lores": lores, "raw": raw, "buffer_count": buffer_count}
        out.update(queue=queue, **kwargs)
        return out

    def configure(self, config: dict[str, Any]) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        lores = config.get("lores")
        if lores is not None:
            (mw, mh), (lw, lh) = config["main"]["size"], lores["size"]
            if lw > mw or lh > mh:
                raise RuntimeError("lores stream dimensions may not exceed main stream")
            lores["stride"] = _stride(lw)
        self.camera_config = self.config = config
        self._max_queue_len = 1 if config.get("queue", True) and config["buffer_count"] > 1 else 0

    def start(self) -> None:
        if self.camera_config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True
        self._next_end = time.monotonic_ns() + self._period()

    def stop(self) -> None:
        if self.stuck_jobs:  # stop is queued behind a job that never completes
            self.release_hang.wait()
            raise RuntimeError(FRONTEND_TIMEOUT)
        self.started = False

    def close(self) -> None:
        if self.started:
            self.stop()
        self.closed = True

    def cancel_all_and_flush(self) -> None:
        with self._lock:
            self.stuck_jobs = 0
            self._queue.clear()

    def set_controls(self, controls: dict[str, Any]) -> None:
        unknown = set(controls) - set(self.camera_controls)
        if unknown:
            raise RuntimeError(f"Control {sorted(unknown)[0]} is not advertised by libcamera")
        self.controls.update(controls)
        with self._lock:  # one request is already in flight: the one after it gets these
            self._pending.append((time.monotonic_ns() + self._period(), dict(controls)))

    # -- the frame clock ----------------------------------------------------------------
    def unplug(self) -> None:
        self.unplugged = True

    def hang(self) -> None:
        self.hung = True

    def _period(self) -> int:
        return int(1e9 / self.fps)

    def _complete_frame(self, end: int) -> dict[str, Any]:
        exposure_us = self._period() // 2000  # half the frame time, in us
        start = end - exposure_us * 1000
        while self._pending and self._pending[0][0] <= start:
            self._apply(self._pending.pop(0)[1])
        active = self._active
        if active.get("AfMode", 2) == 0 and "LensPosition" in active:  # af.cpp: clamp, then slew
            target = min(max(float(active["LensPosition"]), LENS_MAP_DOMAIN[0]), LENS_MAP_DOMAIN[1])
            self.lens += max(-self.lens_speed, min(self.lens_speed, target - self.lens))
        wanted = exposure_us * 2.0**self.ev / self.scene_light  # time x gain the AE aims for
        gain = self.fixed_gain if self.fixed_gain is not None else 1.0
        if self.fixed_exposure is not None:
            exposure = self.fixed_exposure
            if self.fixed_gain is None:
                gain = min(16.0, max(1.0, wanted / exposure))
        else:
            exposure = int(wanted / gain)
        if self.fixed_colour is None:
            gains = (round(2.0 * self.scene_tint, 4), round(1.5 / self.scene_tint, 4))
        else:
            gains = self.fixed_colour
        frame = {
            "SensorTimestamp": end,
            "LensPosition": self.lens,
            "ExposureTime": exposure,
            "AnalogueGain": gain,
            "ColourGains": gains,
            "FrameDuration": self._period() // 1000,
        }
        if self.awb_mode is not None:
            frame["AwbMode"] = self.awb_mode
        self._last = frame
        return frame

    def _apply(self, controls: dict[str, Any]) -> None:
        """One request's controls reach the IPA (ipa_base.cpp ``applyControls``' order)."""
        self._active.update(controls)
        last = self._last
        if "AeEnable" in controls:  # a wrapper for both modes
            auto = bool(controls["AeEnable"])
            self.fixed_exposure = None if auto else int(last["ExposureTime"])
            self.fixed_gain = None if auto else float(last["AnalogueGain"])
        if "ExposureTime" in controls:  # request.py: ExposureTimeMode manual, or auto for 0
            self.fixed_exposure = int(controls["ExposureTime"]) or None
        if "AnalogueGain" in controls:
            self.fixed_gain = float(controls["AnalogueGain"]) or None
        if "AwbEnable" in controls:
            self.fixed_colour = None if controls["AwbEnable"] else tuple(last["ColourGains"])
        if "ColourGains" in controls:
            red, blue = (float(g) for g in controls["ColourGains"])
            self.fixed_colour = (red, blue) if red and blue else None
        if "AwbMode" in controls:
            self.awb_mode = int(controls["AwbMode"])
        if "ExposureValue" in controls:
            self.ev = float(controls["ExposureValue"])

    def _advance(self) -> None:
        """Complete every frame due by now; keep the newest ``_max_queue_len`` queued."""
        now = time.monotonic_ns()
        while self._next_end <= now:
            self._queue.append(self._complete_frame(self._next_end))
            self._next_end += self._period()
        del self._queue[: max(0, len(self._queue) - self._max_queue_len)]

    def _next_frame(self, deadline: float | None) -> dict[str, Any]:
        """Block until the next frame completes (or the deadline passes: TimeoutError)."""
        if self.unplugged:
            time.sleep(0.01)
            raise RuntimeError(FRONTEND_TIMEOUT)
        if self.hung:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self.release_hang.wait(timeout):
                self.stuck_jobs += 1
                raise TimeoutError()
            raise RuntimeError(FRONTEND_TIMEOUT)
        if not self.started:
            raise RuntimeError("Camera is not running")
        wait = (self._next_end - time.monotonic_ns()) / 1e9
        if deadline is not None and time.monotonic() + wait > deadline:
            time.sleep(max(0.0, deadline - time.monotonic()))
            self.stuck_jobs += 1
            raise TimeoutError()
        if wait > 0:
            time.sleep(wait)
        frame = self._complete_frame(self._next_end)
        self._next_end += self._period()
        return frame

    def wait_queued(self) -> None:
        """(Tests) block until a completed frame sits in the queue, as it does in a running camera."""
        with self._lock:
            while True:
                self._advance()
                if self._queue or not self._max_queue_len:
                    return
                time.sleep(max(0.0, (self._next_end - time.monotonic_ns()) / 1e9))

    def _job(self, accept: Any, wait: Any) -> dict[str, Any]:
        """Run a job as the event loop does: offer it the queued frame, then each new one."""
        self.waits.append(wait)
        deadline = None if wait is None or wait is True else time.monotonic() + float(wait)
        with self._lock:
            if self.stuck_jobs:  # queued behind a job that never completes
                if deadline is None:
                    self.release_hang.wait()
                    raise RuntimeError(FRONTEND_TIMEOUT)
                time.sleep(max(0.0, deadline - time.monotonic()))
                raise TimeoutError()
            self._advance()
            while self._queue:
                frame = self._queue.pop(0)
                if accept(frame):
                    self.delivered.append(frame)
                    return frame
            while True:
                frame = self._next_frame(deadline)
                if accept(frame):
                    self.delivered.append(frame)
                    return frame

    def capture_request(self, wait: Any = None, signal_function: Any = None, flush: Any = None) -> FakeRequest:
        self.flush_calls.append(flush)
        if flush is True:
            flush = time.monotonic_ns()
        frame = self._job(lambda f: not flush or f["SensorTimestamp"] - 1000 * f["ExposureTime"] >= flush, wait)
        self.requests += 1
        self.open_requests += 1
        return FakeRequest(self, frame)

    def capture_metadata(self, wait: Any = None, signal_function: Any = None) -> dict[str, Any]:
        return dict(self._job(lambda f: True, wait))


def make_module() -> types.ModuleType:
    """A fresh ``picamera2`` stand-in module (its Picamera2 records instances per module)."""
    module = types.ModuleType("picamera2")

    class Picamera2(FakePicamera2):
        instances: list[FakePicamera2] = []

    module.Picamera2 = Picamera2
    module.__file__ = __file__
    return module
