"""The ``[camera]`` table of the machine config: which camera backend and each backend's options."""

from __future__ import annotations

from dataclasses import dataclass

from rig.config.schema import PIN, check_counts, option
from rig.errors import ConfigError

CAMERA_BACKENDS = ("sim", "gphoto", "shutter", "picam")


@dataclass(frozen=True)
class SimCameraConfig:
    width: int = option(1600, range=(64, 8000), unit="px", help="rendered frame width")
    height: int = option(1200, range=(48, 6000), unit="px", help="rendered frame height")
    seed: int = option(1, range=(0, 2**31 - 1), help="scene and noise seed (deterministic per seed)")
    subject: str = option(
        "coin",
        choices=("coin", "bug", "blank", "step"),
        help="the 3-D subject rendered ('blank': a featureless grey card; 'step': a calibration target, a "
        "textured plate over the left half of a textured card, depth_um nearer than the card)",
    )
    near_um: float = option(
        0.0, range=(-1e6, 1e6), unit="um", help="rail position focused on the subject's nearest point"
    )
    depth_um: float = option(
        1500.0, range=(10, 1e5), unit="um", help="relief depth of the subject (the step's height for 'step')"
    )
    blur_px_per_mm: float = option(16.0, range=(0, 1000), unit="px/mm", help="defocus blur (sigma) per mm out of focus")
    breathing: float = option(
        0.01, range=(0, 0.05), help="magnification change across the subject depth (focus breathing)"
    )
    noise: float = option(0.01, range=(0, 0.2), help="sensor noise, standard deviation as a fraction of full scale")
    format: str = option("jpg", choices=("jpg", "png", "tiff"), help="file format of full frames")
    capture_s: float = option(0.0, range=(0, 60), unit="s", help="simulated exposure + download time")
    fail_after_captures: int = option(
        0, range=(0, 1_000_000), help="fault injection: fail the Nth capture and every capture after it (0 = never)"
    )
    fail_every_captures: int = option(
        0,
        range=(0, 1_000_000),
        help="fault injection (soak): every Nth capture (counting every shot from 1) fails, the next works (0 = never)",
    )
    dark_captures: tuple[int, ...] = option(
        (),
        help="fault injection: the k-th capture (counting every shot from 1) comes out two stops dark (a missed flash)",
    )
    blur_captures: tuple[int, ...] = option(
        (), help="fault injection: the k-th capture (counting every shot from 1) is motion-blurred (vibration)"
    )
    drop_captures: tuple[int, ...] = option(
        (), help="fault injection: the k-th capture (counting every shot from 1) never delivers a file"
    )
    lens_um_per_dioptre: float = option(
        0.0,
        range=(0, 1e5),
        unit="um",
        help="a focus motor as the Camera Module 3's, for rail.backend = 'lens' with rail.lens.driver = 'picam': "
        "LensPosition 0..15 dioptres, starting at 7.5 focused on near_um; one dioptre moves focus this far "
        "(deeper as LensPosition falls); 0 = no focus motor",
    )
    embedded_preview_px: int = option(
        0,
        range=(0, 4000),
        unit="px",
        help="JPEG frames carry an MPF preview this wide, as most cameras embed one (0 = none); the "
        "per-frame checks measure it instead of decoding the frame",
    )

    def __post_init__(self) -> None:
        for name in ("dark_captures", "blur_captures", "drop_captures"):
            check_counts(f"camera.sim.{name}", getattr(self, name))


@dataclass(frozen=True)
class GphotoCameraConfig:
    port: str = option("", help="libgphoto2 port (e.g. 'usb:001,004'); empty = first camera found")
    capture_target: str = option("card", choices=("card", "ram"), help="where the camera stores each frame")
    delete_from_card: bool = option(False, help="delete each frame from the camera after a verified download")
    keep_on_card_only: bool = option(False, help="do not download frames (they stay on the card)")
    timeout_s: float = option(30.0, range=(1, 3600), unit="s", help="longest a capture + download may take")
    retries: int = option(1, range=(0, 5), help="retries after a transient USB error")
    extra_files_wait_s: float = option(
        3.0,
        range=(0, 10),
        unit="s",
        help="after each capture, collect more files of the same shot (RAW+JPEG: same name) until the camera "
        "reports the capture complete or none arrives for this long (as the gphoto2 tool); 0 = do not wait",
    )
    files_per_shot: int = option(
        0,
        range=(0, 4),
        help="files each shot writes (1 = JPEG or RAW, 2 = RAW+JPEG): the wait ends once they are in; 0 = not known",
    )
    busy_retries: int = option(
        8, range=(0, 50), help="retries, with pauses growing from 0.05 s to 1 s, when the camera answers 'busy'"
    )
    focus_drive_wait_s: float = option(
        0.2,
        range=(0, 10),
        unit="s",
        help="lens rail, Canon: wait after each focus drive (the body answers before the lens stops); "
        "longer while the body keeps sending events",
    )


@dataclass(frozen=True)
class ShutterCameraConfig:
    focus_pin: int | None = option(23, range=PIN, help="BCM pin driving the focus (half-press) opto-isolator")
    shutter_pin: int = option(24, range=PIN, help="BCM pin driving the shutter opto-isolator")
    active_high: bool = option(True, help="the opto-isolator's LED conducts when the pin is high")
    prefocus_s: float = option(0.3, range=(0, 10), unit="s", help="focus line held before the shutter")
    pulse_s: float = option(0.15, range=(0.01, 10), unit="s", help="shutter pulse length")
    exposure_s: float = option(1.0, range=(0, 3600), unit="s", help="wait for the exposure and card write")
    mirror_lockup_s: float = option(
        0.0, range=(0, 30), unit="s", help="extra delay after a mirror-lockup first press (0 = off)"
    )


@dataclass(frozen=True)
class PicamCameraConfig:
    camera_num: int = option(0, range=(0, 7), help="which attached camera")
    width: int | None = option(None, range=(64, 16000), unit="px", help="still width (omit = sensor maximum)")
    height: int | None = option(None, range=(48, 12000), unit="px", help="still height (omit = sensor maximum)")
    preview_width: int = option(640, range=(64, 4000), unit="px", help="preview stream width")
    preview_height: int = option(480, range=(48, 3000), unit="px", help="preview stream height")
    format: str = option("jpg", choices=("jpg", "png", "dng"), help="file format of full frames")
    quality: int = option(95, range=(1, 100), help="JPEG quality")
    timeout_s: float = option(10.0, range=(0.5, 600), unit="s", help="longest a still capture may take")
    lock_exposure: bool = option(
        True,
        help="lock exposure time, gain and colour gains after the first frame of each stack "
        "(false = auto exposure and white balance keep running between slices)",
    )

    def __post_init__(self) -> None:
        for side in ("width", "height"):
            main, preview = getattr(self, side), getattr(self, f"preview_{side}")
            if main is not None and preview > main:
                raise ConfigError(
                    f"camera.picam.preview_{side} ({preview}) must not exceed camera.picam.{side} ({main}): "
                    f"the preview stream cannot be larger than the still stream"
                )


@dataclass(frozen=True)
class CameraConfig:
    backend: str = option("sim", choices=CAMERA_BACKENDS, help="which camera driver to use")
    sim: SimCameraConfig = option(SimCameraConfig)
    gphoto: GphotoCameraConfig = option(GphotoCameraConfig)
    shutter: ShutterCameraConfig = option(ShutterCameraConfig)
    picam: PicamCameraConfig = option(PicamCameraConfig)
