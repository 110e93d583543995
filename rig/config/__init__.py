"""Machine config and stack profiles: TOML files -> frozen, validated dataclasses.

The machine config (``--config FILE``; default: the simulated rig) says which rail and
camera backends to use and their parameters. Profiles (per lens and subject) live as TOML
files in ``$XDG_CONFIG_HOME/rig/profiles/``. Every option is documented in docs/config.md,
which ``tests/test_docs.py`` keeps in step with these classes.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.config.schema import from_table, option, to_table, validate
from rig.errors import ConfigError

RAIL_BACKENDS = ("sim", "gpio", "stackshot", "pico", "lens")
CAMERA_BACKENDS = ("sim", "gphoto", "shutter", "picam")
RUN_MODES = ("full", "preview-images", "preview")
FAILED_CHECK_ACTIONS = ("pause", "fail")
PIN = (0, 27)


# ---------------------------------------------------------------- rail backends
def _check_counts(option_name: str, counts: tuple[int, ...]) -> None:
    """A fault-injection list: shot or move numbers, each 1 or more."""
    bad = [k for k in counts if k < 1]
    if bad:
        raise ConfigError(f"option '{option_name}' = {list(counts)}: {bad[0]} is not a count (each must be 1 or more)")


@dataclass(frozen=True)
class SimRailConfig:
    time_scale: float = option(0.0, range=(0, 100), help="0 = instant moves; 1 = real time from speed and acceleration")
    start_um: float = option(0.0, range=(-1e6, 1e6), unit="um", help="power-on position")
    fail_after_moves: int = option(
        0, range=(0, 1_000_000), help="fault injection: fail the Nth move and every move after it (0 = never)"
    )
    fail_every_moves: int = option(
        0,
        range=(0, 1_000_000),
        help="fault injection (soak): every Nth move (counting every move from 1) fails, the next works (0 = never)",
    )
    skip_moves: tuple[int, ...] = option(
        (),
        help="fault injection (lost steps): the k-th move (counting every move from 1) silently does not happen; "
        "the rail reports the target, the carriage stays until the next move",
    )
    backlash_um: float = option(
        0.0, range=(0, 10000), unit="um", help="simulated mechanical backlash: lost motion on each reversal"
    )
    vibration_s: float = option(
        0.0, range=(0, 60), unit="s", help="simulated vibration: frames are motion-blurred for this long after a move"
    )
    true_um_per_step: float | None = option(
        None,
        range=(0.001, 10000),
        unit="um",
        help="the carriage's real travel per motor step, when it differs from 1000 / rail.steps_per_mm (a lead "
        "screw of another pitch): what `rig calibrate --target-depth-um` measures; omit = as configured",
    )

    def __post_init__(self) -> None:
        _check_counts("rail.sim.skip_moves", self.skip_moves)


@dataclass(frozen=True)
class GpioRailConfig:
    step_pin: int = option(17, range=PIN, help="BCM pin to the driver's STEP input")
    dir_pin: int = option(27, range=PIN, help="BCM pin to the driver's DIR input")
    enable_pin: int | None = option(None, range=PIN, help="BCM pin to the driver's EN input (omit if hard-wired)")
    enable_active_low: bool = option(True, help="A4988/DRV8825/TMC2209 enable when EN is low")
    dir_invert: bool = option(False, help="swap the direction of travel")
    microsteps: int = option(
        16, range=(1, 256), help="microstepping set on the driver (documentation; steps_per_mm includes it)"
    )
    step_pulse_us: float = option(5.0, range=(1, 1000), unit="us", help="STEP high time")
    min_limit_pin: int | None = option(None, range=PIN, help="BCM pin of the limit switch at the near end")
    max_limit_pin: int | None = option(None, range=PIN, help="BCM pin of the limit switch at the far end")
    home_pin: int | None = option(None, range=PIN, help="BCM pin of the home switch")
    switch_active_low: bool = option(True, help="switches pull the pin to ground when pressed (pull-up enabled)")
    switch_normally_closed: bool = option(
        False, help="switches open when pressed (NC): a broken wire then reads as pressed, so the rail stops"
    )
    home_offset_um: float = option(0.0, range=(-1e6, 1e6), unit="um", help="position assigned at the home switch")
    home_direction: str = option("backward", choices=("forward", "backward"), help="direction to seek the home switch")


@dataclass(frozen=True)
class StackShotRailConfig:
    port: str = option("", help="serial device; empty = auto-detect the FTDI 'StackShot' adapter")
    timeout_s: float = option(2.0, range=(0.1, 60), unit="s", help="reply timeout for one frame")
    poll_s: float = option(0.1, range=(0.02, 2), unit="s", help="status poll interval while moving")
    move_timeout_s: float = option(120.0, range=(1, 3600), unit="s", help="longest a single move may take")
    trailer: int = option(0x69, range=(0, 255), help="trailing byte of host frames (checksum algorithm unverified)")
    speed_steps_s: float | None = option(
        None,
        range=(1, 100_000),
        unit="steps/s",
        help="write the speed register at connect (omit = keep the keypad setting; register code unverified)",
    )
    ramp_s: float | None = option(
        None, range=(0, 10), unit="s", help="write the ramp-time register at connect (omit = keep; code unverified)"
    )
    backlash_steps: float | None = option(
        None,
        range=(0, 10_000),
        unit="steps",
        help="write the controller's own backlash register (omit = keep; rig does its own via rail.backlash_um)",
    )
    shutter_pulse_s: float = option(0.2, range=(0.01, 10), unit="s", help="shutter-port pulse (SHUTTER_FIRE on time)")
    shutter_settle_s: float = option(0.5, range=(0, 60), unit="s", help="wait after a shutter-port pulse (off time)")


@dataclass(frozen=True)
class PicoRailConfig:
    port: str = option("", help="serial device of the Pico (USB CDC); empty = auto-detect")
    baud: int = option(115200, range=(9600, 4_000_000), help="ignored by USB CDC, used by UART bridges")
    timeout_s: float = option(1.0, range=(0.1, 60), unit="s", help="reply timeout")
    ping_s: float = option(0.2, range=(0.02, 5), unit="s", help="keep-alive interval while moving")
    watchdog_ms: int = option(
        1000, range=(100, 60000), unit="ms", help="firmware stops if the host is silent this long"
    )
    move_timeout_s: float = option(120.0, range=(1, 3600), unit="s", help="longest a single move may take")


@dataclass(frozen=True)
class LensRailConfig:
    driver: str = option("gphoto", choices=("gphoto", "picam"), help="whose focus motor to step")
    gphoto_step: str = option(
        "",
        help="one drive step toward far (gphoto): a manualfocusdrive choice on Canon ('Far 1'..'Far 3'), "
        "drive units on Nikon ('20'); empty = 'Far 1' on Canon, 20 units on Nikon",
    )
    dioptres_per_step: float = option(
        0.0625,
        range=(0.0001, 5),
        unit="dioptre",
        help="LensPosition change per step (picam); rounded to whole lens-motor steps (1/32 dioptre)",
    )
    settle_frames: int = option(
        3, range=(0, 100), help="frames exposed after the lens stopped, before the move ends (picam)"
    )
    max_dioptres: float | None = option(
        None,
        range=(0.1, 100),
        unit="dioptre",
        help="closest focus the lens reaches (picam); omit = what the camera reports, at most 15 on a Camera Module 3",
    )
    # Positions on the lens rail are drive steps, not um: these are the limits and overshoot in
    # steps. rail.min_um / rail.max_um / rail.backlash_um are accepted as their old names.
    min_steps: float | None = option(
        None, range=(-1e7, 1e7), unit="steps", help="soft limit, near end (omit = rail.min_um, its old name)"
    )
    max_steps: float | None = option(
        None, range=(-1e7, 1e7), unit="steps", help="soft limit, far end (omit = rail.max_um, its old name)"
    )
    backlash_steps: float | None = option(
        None,
        range=(0, 10000),
        unit="steps",
        help="overshoot so every target is approached the same way (omit = rail.backlash_um, its old name)",
    )


@dataclass(frozen=True)
class RailConfig:
    backend: str = option("sim", choices=RAIL_BACKENDS, help="which rail driver to use")
    steps_per_mm: float = option(3200.0, range=(1, 1e6), unit="steps/mm", help="motor (micro)steps per mm of travel")
    min_um: float = option(0.0, range=(-1e7, 1e7), unit="um", help="soft travel limit, near end")
    max_um: float = option(100_000.0, range=(-1e7, 1e7), unit="um", help="soft travel limit, far end")
    max_speed_mm_s: float = option(5.0, range=(0.001, 200), unit="mm/s", help="top speed")
    accel_mm_s2: float = option(20.0, range=(0.001, 10000), unit="mm/s^2", help="acceleration of the trapezoidal ramp")
    backlash_um: float = option(
        0.0, range=(0, 10000), unit="um", help="overshoot so every target is approached the same way"
    )
    approach: str = option("forward", choices=("forward", "backward"), help="direction every target is approached from")
    disable_when_idle: bool | None = option(
        None,
        help="release the driver between stacks (less heat and battery, less holding force); "
        "omit = on in field-kit mode (system.field_kit), else off",
    )
    sim: SimRailConfig = option(SimRailConfig)
    gpio: GpioRailConfig = option(GpioRailConfig)
    stackshot: StackShotRailConfig = option(StackShotRailConfig)
    pico: PicoRailConfig = option(PicoRailConfig)
    lens: LensRailConfig = option(LensRailConfig)

    def __post_init__(self) -> None:
        if self.min_um >= self.max_um:
            raise ConfigError(f"rail.min_um ({self.min_um:g}) must be below rail.max_um ({self.max_um:g})")
        defaults = RailConfig.__dataclass_fields__
        for old_name, new_name in (("min_um", "min_steps"), ("max_um", "max_steps"), ("backlash_um", "backlash_steps")):
            old, new = getattr(self, old_name), getattr(self.lens, new_name)
            if new is not None and old != defaults[old_name].default and old != new:
                raise ConfigError(
                    f"rail.{old_name} = {old:g} and rail.lens.{new_name} = {new:g}: give only "
                    f"rail.lens.{new_name} (rail.{old_name} is its old name)"
                )
        lo, hi = self.travel
        if self.backend == "lens" and lo >= hi:
            raise ConfigError(f"rail.lens.min_steps ({lo:g}) must be below rail.lens.max_steps ({hi:g})")

    @property
    def units(self) -> str:
        return "steps" if self.backend == "lens" else "um"

    @property
    def travel(self) -> tuple[float, float]:
        """Soft limits in ``units`` (the lens rail's own step-named keys win over the old names)."""
        if self.backend != "lens":
            return (self.min_um, self.max_um)
        lens = self.lens
        return (
            self.min_um if lens.min_steps is None else lens.min_steps,
            self.max_um if lens.max_steps is None else lens.max_steps,
        )

    @property
    def backlash(self) -> float:
        """Backlash overshoot in ``units``."""
        if self.backend == "lens" and self.lens.backlash_steps is not None:
            return self.lens.backlash_steps
        return self.backlash_um


# ---------------------------------------------------------------- camera backends
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
            _check_counts(f"camera.sim.{name}", getattr(self, name))


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


@dataclass(frozen=True)
class OutputConfig:
    root: str = option("~/rig-stacks", help="folder that relative output templates live under")
    min_free_mb: float = option(200.0, range=(0, 1e7), unit="MB", help="refuse to start a stack with less free space")
    copyright: str = option("", help="copyright notice written into merged images (EXIF, IPTC, XMP)")
    creator: str = option("", help="who made the images (institution or photographer), written into their metadata")


@dataclass(frozen=True)
class WebConfig:
    host: str = option("127.0.0.1", help="address to bind; 0.0.0.0 opens LAN access (pairing token required)")
    port: int = option(8080, range=(1, 65535), help="TCP port")
    allowed_hosts: tuple[str, ...] = option((), help="extra Host header names accepted (DNS-rebinding guard)")
    threads: int = option(24, range=(4, 256), help="waitress worker threads (each SSE/MJPEG viewer holds one)")
    max_live_viewers: int = option(4, range=(1, 64), help="concurrent live-view streams")


@dataclass(frozen=True)
class SystemConfig:
    shutdown_pin: int | None = option(None, range=PIN, help="BCM pin of a shutdown button (field kit); omit = none")
    shutdown_hold_s: float = option(2.0, range=(0.1, 30), unit="s", help="how long the button must be held")
    shutdown_active_low: bool = option(True, help="the button pulls the pin to ground (pull-up enabled)")
    poweroff_command: str = option("systemctl poweroff", help="run after the rail is stopped safely")
    field_kit: bool = option(
        False,
        help="field-kit mode (battery): the touchscreen blanks when idle, live view streams only while shown, "
        "the rail driver is released between stacks unless rail.disable_when_idle = false (docs/field-kit.md)",
    )
    screen_blank_s: float = option(
        120.0,
        range=(0, 86400),
        unit="s",
        help="field-kit mode: blank the touchscreen after this long without input (0 = never)",
    )


@dataclass(frozen=True)
class MachineConfig:
    rail: RailConfig = option(RailConfig)
    camera: CameraConfig = option(CameraConfig)
    output: OutputConfig = option(OutputConfig)
    web: WebConfig = option(WebConfig)
    system: SystemConfig = option(SystemConfig)
    source: str = "<built-in simulated rig>"

    def __post_init__(self) -> None:
        used: dict[int, str] = {}
        for option_name, pin in self.gpio_pins():
            if pin in used:
                raise ConfigError(f"option '{option_name}' uses BCM pin {pin}, already used by '{used[pin]}'")
            used[pin] = option_name

    def resolved(self) -> MachineConfig:
        """Defaults that depend on other options filled in: ``rail.disable_when_idle`` omitted is
        on in field-kit mode. ``Machine.build`` uses this, so every part sees one answer."""
        import dataclasses

        if self.rail.disable_when_idle is not None:
            return self
        rail = dataclasses.replace(self.rail, disable_when_idle=self.system.field_kit)
        return dataclasses.replace(self, rail=rail)

    def gpio_pins(self) -> list[tuple[str, int]]:
        """(option, BCM pin) of every GPIO line the selected backends will claim."""
        pins: list[tuple[str, int | None]] = []
        if self.rail.backend == "gpio":
            g = self.rail.gpio
            pins += [
                ("rail.gpio.step_pin", g.step_pin),
                ("rail.gpio.dir_pin", g.dir_pin),
                ("rail.gpio.enable_pin", g.enable_pin),
                ("rail.gpio.min_limit_pin", g.min_limit_pin),
                ("rail.gpio.max_limit_pin", g.max_limit_pin),
                ("rail.gpio.home_pin", g.home_pin),
            ]
        if self.camera.backend == "shutter":
            c = self.camera.shutter
            pins += [("camera.shutter.focus_pin", c.focus_pin), ("camera.shutter.shutter_pin", c.shutter_pin)]
        pins.append(("system.shutdown_pin", self.system.shutdown_pin))
        return [(name, pin) for name, pin in pins if pin is not None]

    def summary(self) -> dict[str, Any]:
        """The backends and limits, for ``rig check`` and stack manifests."""
        return {
            "source": self.source,
            "rail": {
                "backend": self.rail.backend,
                "units": self.rail.units,
                "min": self.rail.travel[0],
                "max": self.rail.travel[1],
                "steps_per_mm": self.rail.steps_per_mm,
            },
            "camera": {"backend": self.camera.backend},
            **(
                {"archive": {"copyright": self.output.copyright, "creator": self.output.creator}}
                if self.output.copyright or self.output.creator
                else {}
            ),
        }


def load_config(path: str | os.PathLike[str] | None) -> MachineConfig:
    """Load and validate a machine config; ``None`` gives the simulated rig."""
    if path is None:
        return MachineConfig()
    table = read_toml(Path(path))
    table.pop("source", None)
    cfg = from_table(MachineConfig, table, str(path))
    return _with_source(cfg, str(path))


def _with_source(cfg: MachineConfig, source: str) -> MachineConfig:
    import dataclasses

    return dataclasses.replace(cfg, source=source)


def read_toml(path: Path) -> dict[str, Any]:
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path}: not a regular file")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a TOML file") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


# ---------------------------------------------------------------- profiles
@dataclass(frozen=True)
class ProfileOptics:
    """The lens and sensor a profile is for: the Stack page and ``POST /api/plan`` propose the step
    from them (formulas: docs/planning.md). Bounds that exclude their end are checked below."""

    magnification: float | None = option(
        None, range=(0, 50), unit="x", help="on the sensor (0 < M <= 50); needed except on the Pi camera's lens drive"
    )
    f_number: float | None = option(None, range=(0.7, 128), help="the lens's f-number as set (give this or na)")
    na: float | None = option(None, range=(0, 1.6), help="a microscope objective's numerical aperture (0 < NA < 1.6)")
    pixel_um: float = option(4.0, range=(0.5, 20), unit="um", help="the sensor's pixel pitch")
    overlap: float = option(0.25, range=(0, 0.9), help="fraction of each slice's depth of field shared with the next")
    focal_mm: float | None = option(
        None, range=(0.5, 2000), unit="mm", help="focal length; plans in dioptres on the Pi camera's lens drive"
    )

    def __post_init__(self) -> None:
        for name, value, top in (("magnification", self.magnification, 50.0), ("na", self.na, 1.6)):
            if value is not None and not (0 < value <= top and (name != "na" or value < top)):
                bounds = "(0, 50]" if name == "magnification" else "(0, 1.6)"
                raise ConfigError(f"option 'optics.{name}' = {value!r}: out of range (allowed: {bounds})")
        if self.f_number is not None and self.na is not None:
            raise ConfigError("[optics]: give f_number or na, not both")
        if self.f_number is None and self.na is None:
            raise ConfigError("[optics]: give f_number (a photographic lens) or na (a microscope objective)")

    @staticmethod
    def json_schema_extra(schema: dict[str, Any]) -> None:
        """The checks above in JSON Schema (rig.config.json_schema): exclusive bounds, f_number or na."""
        props = schema["properties"]
        props["magnification"]["anyOf"][0]["exclusiveMinimum"] = props["magnification"]["anyOf"][0].pop("minimum")
        props["na"]["anyOf"][0]["exclusiveMinimum"] = props["na"]["anyOf"][0].pop("minimum")
        props["na"]["anyOf"][0]["exclusiveMaximum"] = props["na"]["anyOf"][0].pop("maximum")
        schema["oneOf"] = [
            {"required": [name], "properties": {name: {"type": "number"}}} for name in ("f_number", "na")
        ]


@dataclass(frozen=True)
class Profile:
    slices: int | None = option(None, range=(2, 999), help="number of frames (default 20 when no start/end)")
    step_um: float | None = option(
        None,
        range=(0.01, 100_000),
        unit="um",
        help="distance between frames (default 100); real um once `rig calibrate --target-depth-um` measured the "
        "distance per step, and on a lens drive drive steps until then",
    )
    start_um: float | None = option(
        None, range=(-1e7, 1e7), unit="um", help="first position (default: where the rail is)"
    )
    end_um: float | None = option(
        None, range=(-1e7, 1e7), unit="um", help="last position; with start_um, slices or step follow"
    )
    settle_s: float | str = option(
        0.5,
        range=(0, 600),
        unit="s",
        words=("auto",),
        help="wait after each move before the shot; 'auto': watch live view after each move until the picture "
        "stops changing (needs a camera with live view; the measured time per slice goes into stack.json)",
    )
    check_frames: bool = option(
        True,
        help="check every shot against the previous slice (brightness, sharpness, a file at all) and retake "
        "a bad one before moving on; also keeps the coverage map and fills its gaps",
    )
    retries: int = option(
        2, range=(0, 10), help="retakes of a shot that fails its checks before the run pauses or fails"
    )
    brightness_tolerance: float = option(
        0.2,
        range=(0.01, 1.0),
        help="a shot whose mean brightness differs from the previous slice's by more than this fraction fails "
        "(missed or double flash, flicker)",
    )
    sharpness_tolerance: float = option(
        0.5,
        range=(0.05, 0.95),
        help="a shot below this fraction of the previous slice's sharpness in (nearly) every detailed tile fails "
        "(vibration); a retake that is just as soft confirms it (the subject's depth of field)",
    )
    on_failed_check: str = option(
        "pause",
        choices=FAILED_CHECK_ACTIONS,
        help="when a slice has no good shot after its retries: pause the run (Resume retakes it, Cancel "
        "ends it) or fail it; the shot is kept either way",
    )
    exposure_s: float = option(
        0.0, range=(0, 3600), unit="s", help="extra wait after each shot (long exposures, flash recharge)"
    )
    mode: str = option("full", choices=RUN_MODES, help="full run, preview sweep with low-res images, or sweep only")
    out: str = option("@GRP/@GCT4", help="output template; relative to output.root unless absolute or ~")
    return_to_start: bool = option(True, help="move back to the first position when the stack ends or is cancelled")
    merge: bool = option(False, help="merge the frames after a full run (in a child process)")
    description: str = option("", help="free text (lens, subject, lighting)")
    magnification: float | None = option(
        None,
        range=(0.01, 1000),
        help="optical magnification, written into the results' metadata (archive); default: optics.magnification",
    )
    lens: str = option("", help="lens or objective and tube lens, written into the results' metadata (archive)")
    jpeg_quality: int = option(92, range=(1, 100), help="quality of the merged JPEG derivative")
    jpeg_long_edge_px: int = option(
        0, range=(0, 100_000), unit="px", help="longest edge of the merged JPEG derivative; 0 = full size"
    )

    optics: ProfileOptics | None = option(
        None, help="[optics] table: the lens and sensor, so the Stack page proposes the step"
    )
    camera_settings: tuple[str, ...] = option(
        (), help="camera settings made at start, as NAME=VALUE (e.g. ['iso=200', 'aperture=f/8']; see rig camera)"
    )

    @property
    def settle_auto(self) -> bool:
        return self.settle_s == "auto"

    def settle_guess_s(self, fallback: float = 0.5) -> float:
        """The settle time in seconds for estimates: the set time, or ``fallback`` for "auto"."""
        return fallback if isinstance(self.settle_s, str) else float(self.settle_s)

    def checked(self, where: str = "profile") -> Profile:
        from rig.errors import UsageError
        from rig.paths import Template

        validate(self, where)
        if self.start_um is not None and self.end_um is not None and self.start_um == self.end_um:
            raise ConfigError(f"{where}: start_um and end_um are equal; a stack needs some travel")
        try:
            Template.parse(self.out)
        except UsageError as exc:
            raise ConfigError(f"{where}: option 'out': {exc}") from None
        return self


def profile_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "rig" / "profiles"


def profile_to_toml(profile: Profile) -> str:
    import tomli_w

    return tomli_w.dumps(to_table(profile))


def profile_from_toml(text: str, where: str) -> Profile:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    return from_table(Profile, table, where).checked(where)
