"""The ``[rail]`` table of the machine config: which rail backend and each backend's options."""

from __future__ import annotations

from dataclasses import dataclass

from rig.config.schema import PIN, check_counts, option
from rig.errors import ConfigError

RAIL_BACKENDS = ("sim", "gpio", "stackshot", "pico", "lens")


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
        check_counts("rail.sim.skip_moves", self.skip_moves)


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
