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

from rig.config.camera import (
    CAMERA_BACKENDS,
    CameraConfig,
    GphotoCameraConfig,
    PicamCameraConfig,
    ShutterCameraConfig,
    SimCameraConfig,
)
from rig.config.profile import (
    FAILED_CHECK_ACTIONS,
    RUN_MODES,
    Profile,
    ProfileOptics,
    profile_dir,
    profile_from_toml,
    profile_to_toml,
)
from rig.config.rail import (
    RAIL_BACKENDS,
    GpioRailConfig,
    LensRailConfig,
    PicoRailConfig,
    RailConfig,
    SimRailConfig,
    StackShotRailConfig,
)
from rig.config.schema import PIN, from_table, option
from rig.errors import ConfigError

__all__ = [
    "CAMERA_BACKENDS",
    "FAILED_CHECK_ACTIONS",
    "PIN",
    "RAIL_BACKENDS",
    "RUN_MODES",
    "CameraConfig",
    "GphotoCameraConfig",
    "GpioRailConfig",
    "LensRailConfig",
    "MachineConfig",
    "OutputConfig",
    "PicamCameraConfig",
    "PicoRailConfig",
    "Profile",
    "ProfileOptics",
    "RailConfig",
    "ShutterCameraConfig",
    "SimCameraConfig",
    "SimRailConfig",
    "StackShotRailConfig",
    "SystemConfig",
    "WebConfig",
    "load_config",
    "profile_dir",
    "profile_from_toml",
    "profile_to_toml",
    "read_toml",
]


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
