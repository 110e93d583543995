"""The simulated camera: renders the sim scene at the rail's focus position."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rig.camera.base import Frame
from rig.config import CameraConfig
from rig.errors import CameraError, FrameMissing

if TYPE_CHECKING:  # both load lazily (numpy and OpenCV only when a frame is rendered)
    import numpy as np

    from rig.camera.scene import Scene

log = logging.getLogger(__name__)
PREVIEW_FACTOR = 4
LENS_CLOSEST_DIOPTRES = 15.0  # the simulated focus motor's LensPosition range 0..15, as the imx708's
LENS_START_DIOPTRES = 7.5  # where it starts: focused on the subject's nearest point (near_um)
CROP_CACHES = 2  # magnified views whose blurred layers are kept (each up to ~50 MB at 400x300)


def motion_blurred(img: np.ndarray, jitter: float | None) -> np.ndarray:
    """``img`` smeared sideways over 1/30 of its width, as by a camera that shakes during the
    exposure; with ``jitter`` (-1..1) also shifted by up to half that, so successive frames of a
    shaking camera differ."""
    import cv2
    import numpy as np

    length = max(5, img.shape[1] // 30)
    kernel = np.full((1, length), 1.0 / length, np.float32)
    out = cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT)
    if jitter is not None:
        shift = 0.5 * length * jitter
        m = np.array([[1, 0, shift], [0, 1, 0]], np.float32)
        out = cv2.warpAffine(out, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)
    return out


class SimCamera:
    def __init__(
        self,
        cfg: CameraConfig,
        focus: Callable[[], float] | None = None,
        shake: Callable[[], float] | None = None,
    ) -> None:
        self.cfg = cfg.sim
        self._focus = focus or self._lens_focus  # a rail's position, or the camera's own focus motor
        self._lens_dioptres = LENS_START_DIOPTRES
        self._shake = shake or (lambda: 0.0)  # the rail's vibration: 0 still, 1 shaking
        self._scene: Scene | None = None
        self._preview_scene: Scene | None = None
        self._crop_scenes: dict[int, Any] = {}  # scale factor -> scene, for preview_crop
        self._preview_blurs: Any = None  # the preview scene's blurred layers (scene.LayerCache)
        self._crop_blurs: dict[tuple[int, int, int, int, int], Any] = {}  # the last crops' (box -> LayerCache)
        self._exposure_ev = 0.0  # camera setting (rig.camera_settings): brightness, in stops
        self._format = self.cfg.format
        self.preview_lag_s = 0.0  # a preview shows the rail's position at once (rig.range_sweep)
        self.preview_factor = PREVIEW_FACTOR  # the zoom at which preview_crop shows sensor pixels 1:1
        self._lock = threading.Lock()
        self._captures = 0
        self._frames_rendered = 0
        self._injected: str | None = None
        self.unplugged = False
        self.closed = False
        self._released = threading.Event()

    # -- fault injection -----------------------------------------------------------
    def inject_fault(self, message: str) -> None:
        """Make the next capture fail with ``message`` (e.g. 'card full')."""
        self._injected = message

    def unplug(self) -> None:
        self.unplugged = True

    # -- rendering -----------------------------------------------------------------
    def _scenes(self) -> tuple[Scene, Scene]:
        from rig.camera.scene import LayerCache, downscale, make_scene

        with self._lock:
            if self._scene is None:
                self._scene = make_scene(
                    self.cfg.subject, self.cfg.width, self.cfg.height, self.cfg.depth_um, self.cfg.seed
                )
                self._preview_scene = downscale(self._scene, PREVIEW_FACTOR)
                self._preview_blurs = LayerCache()
            assert self._preview_scene is not None  # made with the scene
            return self._scene, self._preview_scene

    def render(self, focus_um: float | None = None, preview: bool = False) -> np.ndarray:
        import numpy as np

        from rig.camera.scene import render

        scene, small = self._scenes()
        focus = self._focus() if focus_um is None else focus_um
        with self._lock:
            self._frames_rendered += 1
            rng = np.random.default_rng((self.cfg.seed, self._frames_rendered))
        factor = PREVIEW_FACTOR if preview else 1
        img: np.ndarray = self._exposed(
            render(
                small if preview else scene,
                focus - self.cfg.near_um,
                blur_px_per_um=self.cfg.blur_px_per_mm / 1000.0 / factor,
                breathing=self.cfg.breathing,
                depth_um=self.cfg.depth_um,
                noise=self.cfg.noise,
                rng=rng,
                cache=self._preview_blurs if preview else None,  # full frames: too big to keep
            )
        )
        shake = self._shake()
        if shake <= 0:
            return img
        swing = (1 if self._frames_rendered % 2 else -1) * float(rng.uniform(0.5, 1.0))  # to and fro
        blurred: np.ndarray = motion_blurred(img, swing)
        return blurred

    def _exposed(self, img: Any) -> Any:
        """``img`` brighter or darker by the exposure setting (stops)."""
        import cv2

        if self._exposure_ev == 0.0:
            return img
        return cv2.convertScaleAbs(img, alpha=2.0**self._exposure_ev)

    # -- settings (rig.camera_settings) ---------------------------------------------------
    def settings(self) -> list[Any]:
        from rig.camera_settings import Setting

        return [
            Setting("exposure_ev", f"{self._exposure_ev:g}", range=(-3.0, 3.0), unit="EV", help="brighter or darker"),
            Setting("format", self._format, choices=("jpg", "png", "tiff"), help="file format of full frames"),
        ]

    def set_setting(self, name: str, value: str) -> None:
        if name == "exposure_ev":
            self._exposure_ev = float(value)
        elif name == "format":
            self._format = value
        else:
            raise CameraError(f"the simulated camera has no setting {name!r}")

    # -- Camera protocol --------------------------------------------------------------
    def capture(self) -> Frame:
        import cv2

        self._check()
        self._captures += 1
        shot = self._captures
        if self.cfg.fail_after_captures and shot >= self.cfg.fail_after_captures:
            raise CameraError(f"simulated camera fault on capture {shot}")
        if self.cfg.fail_every_captures and shot % self.cfg.fail_every_captures == 0:
            raise CameraError(f"simulated camera fault on capture {shot} (one in {self.cfg.fail_every_captures})")
        self._released.clear()
        if self.cfg.capture_s and self._released.wait(self.cfg.capture_s):
            raise CameraError("capture aborted")
        if shot in self.cfg.drop_captures:
            raise FrameMissing(f"the camera delivered no file for shot {shot} (simulated drop)")
        img = self.render()
        if shot in self.cfg.blur_captures:
            img = motion_blurred(img, None)
        if shot in self.cfg.dark_captures:
            img = (img.astype("float32") * 0.25 + 0.5).astype("uint8")  # two stops under
        self._check()
        ext = self._format
        params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == "jpg" else []
        ok, buf = cv2.imencode("." + ext, img, params)
        if not ok:
            raise CameraError(f"could not encode a {ext} frame")
        data = buf.tobytes()
        if ext == "jpg" and 0 < self.cfg.embedded_preview_px < img.shape[1]:
            data = self._with_preview(data, img)
        return Frame(data=data, ext=ext, meta={"focus": self._focus()})

    def _with_preview(self, data: bytes, img: np.ndarray) -> bytes:
        """The frame with an MPF preview ``embedded_preview_px`` wide, as a camera writes one."""
        import cv2

        from rig.jpeg_preview import with_mpf_preview

        width = self.cfg.embedded_preview_px
        small = cv2.resize(
            img, (width, max(1, round(img.shape[0] * width / img.shape[1]))), interpolation=cv2.INTER_AREA
        )
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise CameraError("could not encode the frame's preview")
        return with_mpf_preview(data, buf.tobytes())

    def _check(self) -> None:
        if self.closed:
            raise CameraError("camera is closed")
        if self.unplugged:
            raise CameraError("camera disconnected (simulated unplug)")
        if self._injected:
            message, self._injected = self._injected, None
            raise CameraError(message)

    def frame_saved(self, frame: Frame) -> None:
        pass

    def preview(self) -> bytes:
        import cv2

        if self.closed or self.unplugged:
            raise CameraError("camera not available")
        ok, buf = cv2.imencode(".jpg", self.render(preview=True), [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            raise CameraError("could not encode a preview frame")
        return buf.tobytes()

    def preview_crop(self, x: float, y: float, zoom: int) -> bytes:
        """The part of the view ``zoom`` times magnified around ``x``, ``y`` (fractions of the frame),
        rendered from the full-resolution scene as far as it has pixels (at ``zoom`` =
        ``PREVIEW_FACTOR`` one screen pixel is one sensor pixel: 100 %), never larger than a
        preview frame. For the focusing screen (rig.live_view)."""
        import cv2
        import numpy as np

        from rig.camera.scene import LayerCache, Scene, downscale, render

        if self.closed or self.unplugged:
            raise CameraError("camera not available")
        full, _ = self._scenes()
        factor = max(1, PREVIEW_FACTOR // max(1, zoom))
        with self._lock:
            scaled = self._crop_scenes.get(factor)
            if scaled is None:
                scaled = self._crop_scenes[factor] = full if factor == 1 else downscale(full, factor)
        h, w = scaled.depth_um.shape
        cw, ch = max(1, round(self.cfg.width / zoom / factor)), max(1, round(self.cfg.height / zoom / factor))
        left = min(w - cw, max(0, round(x * w - cw / 2)))
        top = min(h - ch, max(0, round(y * h - ch / 2)))
        part = Scene(
            texture=np.ascontiguousarray(scaled.texture[top : top + ch, left : left + cw]),
            depth_um=np.ascontiguousarray(scaled.depth_um[top : top + ch, left : left + cw]),
        )
        with self._lock:
            self._frames_rendered += 1
            rng = np.random.default_rng((self.cfg.seed, self._frames_rendered))
            # a view held still while the focus changes re-renders the same crop: keep its blurs
            key = (factor, left, top, cw, ch)
            blurs = self._crop_blurs.pop(key, None) or LayerCache()
            self._crop_blurs[key] = blurs  # most recent last
            while len(self._crop_blurs) > CROP_CACHES:
                self._crop_blurs.pop(next(iter(self._crop_blurs)))
        img = self._exposed(
            render(
                part,
                self._focus() - self.cfg.near_um,
                blur_px_per_um=self.cfg.blur_px_per_mm / 1000.0 / factor,
                breathing=0.0,
                depth_um=self.cfg.depth_um,
                noise=self.cfg.noise,
                rng=rng,
                cache=blurs,
            )
        )
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if not ok:
            raise CameraError("could not encode a preview frame")
        return bytes(buf.tobytes())

    def release(self) -> None:
        self._released.set()

    # -- focus motor (camera.sim.lens_um_per_dioptre; the lens rail's picam driver) ---------
    def _lens_focus(self) -> float:
        """Where the camera's own lens focuses, in the scene's um (near_um at the start)."""
        return self.cfg.near_um + (LENS_START_DIOPTRES - self._lens_dioptres) * self.cfg.lens_um_per_dioptre

    def lens_range(self) -> tuple[float, float]:
        """(farthest, closest) LensPosition in dioptres, as ``PicamCamera.lens_range``."""
        self._check()
        if not self.cfg.lens_um_per_dioptre:
            raise CameraError("the simulated camera has no focus motor (camera.sim.lens_um_per_dioptre = 0)")
        return 0.0, LENS_CLOSEST_DIOPTRES

    def lens_position(self) -> float:
        """The LensPosition: the simulated lens is where it was last sent (it moves at once)."""
        self._check()
        return self._lens_dioptres

    def set_lens_position(self, dioptres: float) -> None:
        self._check()
        self._lens_dioptres = min(max(float(dioptres), 0.0), LENS_CLOSEST_DIOPTRES)

    def wait_frames(self, frames: int, abort: threading.Event | None = None) -> None:
        """Frames exposed after a lens move: the simulated lens is still at once."""
        self._check()

    def info(self) -> dict[str, Any]:
        return {
            "model": "rig simulated camera",
            "subject": self.cfg.subject,
            "resolution": f"{self.cfg.width}x{self.cfg.height}",
            "format": self.cfg.format,
            "captures": self._captures,
        }

    def health(self) -> dict[str, Any]:
        return {
            "ok": not (self.closed or self.unplugged),
            "backend": "sim",
            "error": "unplugged" if self.unplugged else None,
        }

    def close(self) -> None:
        self.release()
        self.closed = True
