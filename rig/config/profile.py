"""Stack profiles (per lens and subject): TOML files in ``$XDG_CONFIG_HOME/rig/profiles/``."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.config.schema import from_table, option, to_table, validate
from rig.errors import ConfigError

RUN_MODES = ("full", "preview-images", "preview")
FAILED_CHECK_ACTIONS = ("pause", "fail")


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
