"""The gphoto camera's settings (rig.camera_settings): ISO, shutter speed, aperture, image format,
white balance and exposure compensation, read and set through libgphoto2's config widgets.

A mixin of ``GphotoCamera`` (rig/camera/gphoto.py): it uses that class's device thread (``_call``)
and retries (``_retrying``). The widget names differ by brand; libgphoto2 (camlibs/ptp2/config.c,
the ``generic_properties`` and vendor tables) names them:

* ``iso``: Canon (``_get_Canon_ISO``), Nikon, Sony, Fuji and generic PTP ``ExposureIndex``
  (``_get_INT``: a radio widget of numbers, "100", "200", ...);
* ``shutterspeed``: Canon EOS ("1/125", "0.5", "30"), generic PTP ``ExposureTime``
  (``_get_ExpTime``: "0.0080s", Nikon also "Bulb"), Sony, Fuji, Olympus; Nikon's own is
  ``shutterspeed2`` ("1/125", ``_get_Nikon_ShutterSpeed``);
* ``aperture`` on Canon, Fuji, Olympus and the Nikon 1 ("5.6"); ``f-number`` on Nikon, Sony and
  generic PTP (``_get_FNumber``: "f/5.6", or a range widget when the body gives a range);
* ``imageformat`` on Canon ("Large Fine JPEG", "RAW + Large Fine JPEG"), Fuji, Olympus and
  Panasonic; ``imagequality`` on Nikon ("JPEG Fine", "NEF (Raw)", "NEF+Fine") and Sony;
* ``whitebalance`` everywhere ("Automatic", "Daylight", ... from the ``whitebalance`` tables);
* ``exposurecompensation`` everywhere ("-1", "-0.3", "0", "0.7").

Radio and menu widgets give their choices, range widgets their range; a widget the body lacks
("bad parameters"), or shows read-only, is left out. Only a listed value is ever sent: libgphoto2's
``_put_*`` functions pick the nearest value or fail for others, and its virtual camera crashes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rig.errors import CameraError

if TYPE_CHECKING:
    from rig.camera_settings import Setting

T = TypeVar("T")

# rig's setting name -> the widgets that carry it, the first the body has wins
WIDGETS: dict[str, tuple[str, ...]] = {
    "iso": ("iso",),
    "shutter_speed": ("shutterspeed", "shutterspeed2"),
    "aperture": ("aperture", "f-number"),
    "format": ("imageformat", "imagequality"),
    "white_balance": ("whitebalance",),
    "exposure_ev": ("exposurecompensation",),
}
HELP = {
    "iso": "sensor sensitivity",
    "shutter_speed": "exposure time, as the camera writes it",
    "aperture": "lens aperture (f-number)",
    "format": "file format and quality of the shots (a RAW+JPEG choice gives two files per shot)",
    "white_balance": "white balance preset",
    "exposure_ev": "exposure compensation, in stops (the camera's auto modes only)",
}


class GphotoSettings:
    """``settings`` / ``set_setting`` for GphotoCamera."""

    gp: Any
    _cam: Any
    if TYPE_CHECKING:  # GphotoCamera's

        def _call(self, fn: Callable[[], T], what: str, timeout: float | None = None) -> T: ...
        def _retrying(self, fn: Callable[[], T], what: str) -> T: ...
        def _check_open(self) -> None: ...

    def settings(self) -> list[Setting]:
        """The settings this body exposes, with their current values and allowed values."""
        self._check_open()
        return self._call(lambda: self._retrying(self._read_settings, "settings read"), "settings read")

    def set_setting(self, name: str, value: str) -> None:
        """Set ``name`` to ``value`` (already checked against :meth:`settings` by rig.camera_settings)."""
        self._check_open()
        if name not in WIDGETS:
            raise CameraError(f"the camera has no setting {name!r}")

        def put() -> None:
            widget_name, widget = self._widget(name)
            if widget is None:
                raise CameraError(f"the camera has no setting {name!r} (none of its widgets {WIDGETS[name]})")
            widget.set_value(float(value) if widget.get_type() == self.gp.GP_WIDGET_RANGE else value)
            self._cam.set_single_config(widget_name, widget)

        self._call(lambda: self._retrying(put, f"setting {name}"), f"setting {name}")

    # -- on the device thread --------------------------------------------------------------
    def _widget(self, name: str) -> tuple[str, Any]:
        """(widget name, widget) of rig setting ``name``, or ("", None) when the body has none."""
        for widget_name in WIDGETS[name]:
            try:
                widget = self._cam.get_single_config(widget_name)
            except self.gp.GPhoto2Error as exc:
                if getattr(exc, "code", None) == self.gp.GP_ERROR_BAD_PARAMETERS:  # no such widget
                    continue
                raise
            if _readonly(widget):
                continue
            return widget_name, widget
        return "", None

    def _read_settings(self) -> list[Setting]:
        from rig.camera_settings import Setting

        out: list[Setting] = []
        for name in WIDGETS:
            _, widget = self._widget(name)
            if widget is None:
                continue
            kind = widget.get_type()
            value = widget.get_value()
            if kind in (self.gp.GP_WIDGET_RADIO, self.gp.GP_WIDGET_MENU):
                choices = tuple(dict.fromkeys(widget.get_choice(i) for i in range(widget.count_choices())))
                out.append(Setting(name, str(value), choices=choices, help=HELP[name]))
            elif kind == self.gp.GP_WIDGET_RANGE:
                lo, hi, _step = widget.get_range()
                unit = "EV" if name == "exposure_ev" else ""
                out.append(Setting(name, f"{float(value):g}", range=(lo, hi), unit=unit, help=HELP[name]))
        return out


def _readonly(widget: Any) -> bool:
    getter = getattr(widget, "get_readonly", None)
    return bool(getter()) if getter is not None else False
