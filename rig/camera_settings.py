"""Camera settings read and set by name (``rig camera``, ``GET``/``POST /api/camera``).

A backend that has settings defines ``settings() -> list[Setting]`` and
``set_setting(name, value)``; :func:`apply` checks every name and value against what the camera
reports before it changes anything, so a bad ``--set`` changes nothing. The names are shared by
the backends, so one profile's ``camera_settings`` mean the same on each (where the body has them):

name              sim              gphoto widget (gphoto_settings.py)   picam control (picam_settings.py)
``iso``           -                iso                                 AnalogueGain x 100
``shutter_speed`` -                shutterspeed, shutterspeed2         ExposureTime
``aperture``      -                aperture, f-number                  -
``format``        jpg, png, tiff   imageformat, imagequality           jpg, png, dng
``white_balance`` -                whitebalance                        AwbMode
``colour_gains``  -                -                                   ColourGains
``exposure_ev``   brightness       exposurecompensation                ExposureValue

Each value is one the camera itself lists (a gphoto radio widget's choices, a control's range), so
nothing the body would refuse, or pick the nearest for, is ever sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rig.camera.base import Camera
from rig.errors import UsageError


@dataclass(frozen=True)
class Setting:
    name: str
    value: str
    choices: tuple[str, ...] | None = None  # allowed values, or
    range: tuple[float, float] | None = None  # a number from..to
    unit: str = ""
    help: str = ""
    # a value that is neither a choice nor one number (e.g. colour gains "2.1,1.6"): this checks it,
    # returning the stored form or raising UsageError naming what is allowed
    parse: Callable[[str], str] | None = field(default=None, compare=False, repr=False)

    def check(self, raw: str) -> str:
        """``raw`` as this setting stores it, or :class:`UsageError` naming the allowed values."""
        text = raw.strip()
        if self.parse is not None:
            return self.parse(text)
        if self.choices is not None:
            for choice in self.choices:
                if choice.lower() == text.lower():
                    return choice
            raise UsageError(f"camera setting {self.name} = {raw!r}: must be one of {', '.join(self.choices)}")
        if self.range is not None:
            lo, hi = self.range
            try:
                number = float(text)
            except ValueError:
                raise UsageError(f"camera setting {self.name} = {raw!r}: must be a number") from None
            if not lo <= number <= hi:
                raise UsageError(
                    f"camera setting {self.name} = {raw!r}: must be from {lo:g} to {hi:g} {self.unit}".strip()
                )
            return f"{number:g}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "choices": list(self.choices) if self.choices is not None else None,
            "range": list(self.range) if self.range is not None else None,
            "unit": self.unit,
            "help": self.help,
        }


def read(camera: Camera) -> list[Setting]:
    """The camera's settings (empty when its backend has none)."""
    getter = getattr(camera, "settings", None)
    return list(getter()) if getter is not None else []


def parse_assignments(items: list[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings (``--set``) as a dict; a malformed one is a :class:`UsageError`."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set {item!r}: write NAME=VALUE (e.g. --set exposure_ev=-1)")
        out[name.strip()] = value
    return out


def apply(camera: Camera, changes: dict[str, str]) -> list[Setting]:
    """Check every change against the camera's settings, then make them; returns the settings after."""
    known = {s.name: s for s in read(camera)}
    checked: dict[str, str] = {}
    for name, raw in changes.items():
        if name not in known:
            have = ", ".join(sorted(known)) or "none"
            raise UsageError(f"unknown camera setting {name!r} (this camera has: {have})")
        checked[name] = known[name].check(str(raw))
    setter = getattr(camera, "set_setting", None)
    for name, value in checked.items():
        assert setter is not None  # a camera with settings can set them
        setter(name, value)
    return read(camera)
