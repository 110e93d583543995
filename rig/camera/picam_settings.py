"""The Pi camera's settings (rig.camera_settings) as picamera2 controls.

A mixin of ``PicamCamera`` (rig/camera/picam.py). The controls are libcamera's
(src/libcamera/control_ids_core.yaml); their ranges are what picamera2's ``camera_controls``
reports, ``(min, max, default)`` from the Raspberry Pi IPA's ``ControlInfo``
(src/ipa/rpi/common/ipa_base.cpp: after ``configure`` the sensor mode's limits):

* ``iso``: ``AnalogueGain`` (ISO = 100 x gain; 1..16 on the imx708): "auto" or whole stops
  100, 200, 400 ... within the range. A non-zero gain is fixed (picamera2's request.py sets
  ``AnalogueGainMode`` manual with it); "auto" hands it back to the AE algorithm.
* ``shutter_speed``: ``ExposureTime`` in microseconds: "auto" or the usual third-stop series
  ("1/125", "0.5", "2") within the range; fixed the same way (``ExposureTimeMode``).
* ``white_balance``: ``AwbMode`` with AWB on: auto, incandescent, tungsten, fluorescent, indoor,
  daylight, cloudy (``AwbModeEnum`` 0..6; ``AwbCustom`` needs a tuning-file entry, left out).
* ``colour_gains``: ``ColourGains`` (red, blue): fixed gains turn AWB off; "auto" turns it on.
* ``exposure_ev``: ``ExposureValue`` (-8..8 stops), honoured while exposure is automatic.
* ``format``: jpg, png or dng (dng reconfigures the camera with a raw stream).

No aperture: the Pi camera modules have a fixed one. What the user fixed is sent again when a
stack starts (``stack_started`` re-arms auto exposure for the exposure lock; a control set in the
same request keeps its manual mode) and after a reconfiguration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from rig.errors import CameraError, UsageError

if TYPE_CHECKING:
    from rig.camera_settings import Setting

T = TypeVar("T")
AUTO = "auto"
FORMATS = ("jpg", "png", "dng")
AWB_MODES = ("auto", "incandescent", "tungsten", "fluorescent", "indoor", "daylight", "cloudy")  # AwbModeEnum 0..6
SHUTTER_SPEEDS = (
    "1/8000", "1/6400", "1/5000", "1/4000", "1/3200", "1/2500", "1/2000", "1/1600", "1/1250", "1/1000",
    "1/800", "1/640", "1/500", "1/400", "1/320", "1/250", "1/200", "1/160", "1/125", "1/100", "1/80",
    "1/60", "1/50", "1/40", "1/30", "1/25", "1/20", "1/15", "1/13", "1/10", "1/8", "1/6", "1/5", "1/4",
    "0.3", "0.4", "0.5", "0.6", "0.8", "1", "1.3", "1.6", "2", "2.5", "3.2", "4", "5", "6", "8", "10",
    "13", "15", "20", "25", "30",
)  # fmt: skip


def shutter_us(text: str) -> int:
    """``"1/125"`` or ``"0.5"`` (seconds) in whole microseconds."""
    num, _, den = text.partition("/")
    return round(float(num) / float(den or 1) * 1e6)


def parse_gains(text: str, lo: float, hi: float) -> str:
    """``"auto"`` or ``"R,B"`` (two numbers within lo..hi), as stored; else a UsageError."""
    if text.lower() == AUTO:
        return AUTO
    parts = text.replace(" ", "").split(",")
    try:
        gains = [float(p) for p in parts]
    except ValueError:
        gains = []
    if len(gains) != 2 or not all(math.isfinite(g) and lo <= g <= hi for g in gains):
        raise UsageError(
            f"camera setting colour_gains = {text!r}: must be auto or red,blue gains from {lo:g} to {hi:g} "
            "(e.g. 2.1,1.6)"
        )
    return f"{gains[0]:g},{gains[1]:g}"


class PicamSettings:
    """``settings`` / ``set_setting`` for PicamCamera."""

    _cam: Any
    _format: str
    _values: dict[str, str]  # what the user set, by rig name (absent: automatic / as configured)
    if TYPE_CHECKING:  # PicamCamera's

        def _call(self, fn: Callable[[], T], what: str, timeout: float | None = None) -> T: ...
        def _check(self) -> None: ...
        def _configure(self, fmt: str) -> None: ...

    def _controls(self) -> dict[str, tuple[Any, Any, Any]]:
        return dict(getattr(self._cam, "camera_controls", {}) or {})

    def settings(self) -> list[Setting]:
        from rig.camera_settings import Setting

        self._check()
        ctl, v = self._controls(), self._values
        out = []
        if "AnalogueGain" in ctl:
            lo, hi, _ = ctl["AnalogueGain"]
            isos = [str(100 * 2**k) for k in range(12) if lo - 1e-6 <= 2**k <= hi + 1e-6]
            out.append(Setting("iso", v.get("iso", AUTO), choices=(AUTO, *isos), help="sensor gain x 100"))
        if "ExposureTime" in ctl:
            lo, hi, _ = ctl["ExposureTime"]
            speeds = [s for s in SHUTTER_SPEEDS if lo <= shutter_us(s) <= hi]
            value = v.get("shutter_speed", AUTO)
            out.append(Setting("shutter_speed", value, choices=(AUTO, *speeds), unit="s", help="exposure time"))
        if "AwbMode" in ctl:
            value = v.get("white_balance", AUTO)
            out.append(Setting("white_balance", value, choices=AWB_MODES, help="white balance for this light"))
        if "ColourGains" in ctl:
            lo, hi = max(0.1, float(ctl["ColourGains"][0])), float(ctl["ColourGains"][1])
            value, what = v.get("colour_gains", AUTO), f"auto, or fixed red,blue gains ({lo:g}-{hi:g})"
            out.append(Setting("colour_gains", value, help=what, parse=partial(parse_gains, lo=lo, hi=hi)))
        if "ExposureValue" in ctl:
            lo, hi, _ = ctl["ExposureValue"]
            value, what = v.get("exposure_ev", "0"), "brighter or darker, while exposure is automatic"
            out.append(Setting("exposure_ev", value, range=(float(lo), float(hi)), unit="EV", help=what))
        out.append(Setting("format", self._format, choices=FORMATS, help="file format of full frames"))
        return out

    def set_setting(self, name: str, value: str) -> None:
        self._check()
        if name == "format":
            if value != self._format:
                self._call(lambda: self._reconfigure(value), "reconfigure")
            return
        if name not in ("iso", "shutter_speed", "white_balance", "colour_gains", "exposure_ev"):
            raise CameraError(f"the Pi camera has no setting {name!r}")
        self._values[name] = value
        if name == "white_balance":
            self._values.pop("colour_gains", None)  # a preset means automatic white balance again
        if value == AUTO:
            self._values.pop(name)
            controls = {"AeEnable": True} if name in ("iso", "shutter_speed") else {"AwbEnable": True}
        else:
            controls = {"AwbEnable": True} if name == "white_balance" else {}
        controls = {**controls, **self.fixed_controls()}
        self._call(lambda: self._cam.set_controls(controls), f"setting {name}")

    def fixed_controls(self) -> dict[str, Any]:
        """The controls for what the user fixed (sent with every change, and again at a stack's start)."""
        v = self._values
        out: dict[str, Any] = {}
        if "iso" in v:
            out["AnalogueGain"] = int(v["iso"]) / 100
        if "shutter_speed" in v:
            out["ExposureTime"] = shutter_us(v["shutter_speed"])
        if "white_balance" in v:
            out["AwbMode"] = AWB_MODES.index(v["white_balance"])
        if "colour_gains" in v:
            red, blue = (float(g) for g in v["colour_gains"].split(","))
            out["ColourGains"] = (red, blue)
        if "exposure_ev" in v:
            out["ExposureValue"] = float(v["exposure_ev"])
        return out

    def _reconfigure(self, fmt: str) -> None:
        """Stop, configure for ``fmt`` (a raw stream for dng), start, and fix again what the user fixed."""
        self._cam.stop()
        self._configure(fmt)
        fixed = self.fixed_controls()
        if fixed:
            self._cam.set_controls(fixed)
