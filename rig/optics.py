"""Depth of field and the step between slices, from the optics.

One formula for photographic lenses and microscope objectives: the total depth of field in
object space is the sum of a wave-optics (diffraction) term and a geometric term limited by the
detector (Berek's formula, as given by Nikon MicroscopyU, "Depth of Field and Depth of Focus"):

    DOF = lambda * n / NA**2  +  n * e / (M * NA)

where ``lambda`` is the wavelength (0.55 um, green), ``n`` the refractive index of the medium
(1, air), ``NA`` the object-side numerical aperture, ``M`` the magnification on the sensor and
``e`` the smallest distance the sensor resolves. ``e`` is two pixel pitches (Nyquist: a line pair
needs two pixels), the usual circle of confusion for stacking with today's sensors.

A photographic (bellows, macro) lens is given by its f-number ``N``. Its effective aperture at
magnification ``M`` is ``N * (1 + M)`` (unit pupil magnification; Zerene Stacker, "Depth of Field
in Macro Photography"), so its object-side numerical aperture is ``NA = M / (2 * N * (1 + M))``.
With that NA the geometric term above is the textbook macro formula ``2 * N * c * (1 + M) / M**2``
with ``c = e``, and the diffraction term adds what stopping down costs.

The recommended step leaves an ``overlap`` fraction of each slice's depth of field shared with the
next one: ``step = DOF * (1 - overlap)``; a range from start to end then takes
``ceil(|end - start| / step) + 1`` slices, so no depth between the two is further than half a
step from a slice.

For a lens whose own focus motor moves (the Pi camera), planning happens in dioptres: the depth of
field in dioptres is ``2 * c * N / f**2`` (c and f in metres), the same at every focus distance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rig.errors import UsageError

WAVELENGTH_UM = 0.55
DEFAULT_PIXEL_UM = 4.0
DEFAULT_OVERLAP = 0.25

# name: (low, high, low inclusive, high inclusive, unit)
LIMITS: dict[str, tuple[float, float, bool, bool, str]] = {
    "magnification": (0.0, 50.0, False, True, "x"),
    "f_number": (0.7, 128.0, True, True, ""),
    "na": (0.0, 1.6, False, False, ""),
    "pixel_um": (0.5, 20.0, True, True, "um"),
    "overlap": (0.0, 0.9, True, True, ""),
    "focal_mm": (0.5, 2000.0, True, True, "mm"),
}


def check(name: str, value: float, flag: str | None = None) -> float:
    """``value`` as a float inside its allowed range, or :class:`UsageError` naming both."""
    lo, hi, lo_in, hi_in, unit = LIMITS[name]
    shown = flag or name
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{shown} = {value!r}: must be a number") from None
    inside = (
        math.isfinite(number) and (number >= lo if lo_in else number > lo) and (number <= hi if hi_in else number < hi)
    )
    if not inside:
        span = f"{'[' if lo_in else '('}{lo:g}, {hi:g}{']' if hi_in else ')'}"
        raise UsageError(f"{shown} = {value!r}: must be in {span}{' ' + unit if unit else ''}")
    return number


@dataclass(frozen=True)
class Optics:
    """What the planner needs to know about the lens and the sensor."""

    magnification: float
    f_number: float | None = None
    na: float | None = None
    pixel_um: float = DEFAULT_PIXEL_UM

    def __post_init__(self) -> None:
        check("magnification", self.magnification)
        check("pixel_um", self.pixel_um)
        if (self.f_number is None) == (self.na is None):
            raise UsageError("give either an f-number or a numerical aperture (NA), not both and not neither")
        if self.f_number is not None:
            check("f_number", self.f_number)
        if self.na is not None:
            check("na", self.na)

    @property
    def numerical_aperture(self) -> float:
        """The object-side NA: as given, or from the effective f-number of a photographic lens."""
        if self.na is not None:
            return self.na
        assert self.f_number is not None
        return self.magnification / (2.0 * self.f_number * (1.0 + self.magnification))

    @property
    def effective_f_number(self) -> float:
        """The working f-number at the sensor: ``N * (1 + M)``, or ``M / (2 NA)`` for an objective."""
        if self.f_number is not None:
            return self.f_number * (1.0 + self.magnification)
        return self.magnification / (2.0 * self.numerical_aperture)

    @property
    def resolvable_um(self) -> float:
        """``e``: the smallest distance the sensor resolves (two pixels), in um on the sensor."""
        return 2.0 * self.pixel_um

    @property
    def dof_um(self) -> float:
        """The depth of field; :class:`UsageError` when it is beyond any float (a magnification such as
        1e-181 makes the NA underflow to 0)."""
        na = self.numerical_aperture
        try:
            dof = WAVELENGTH_UM / na**2 + self.resolvable_um / (self.magnification * na)
        except (ZeroDivisionError, OverflowError):
            dof = math.inf
        if not math.isfinite(dof):
            raise UsageError(
                f"magnification = {self.magnification!r}: too small to plan; the depth of field is endless"
            )
        return dof


@dataclass(frozen=True)
class StackPlan:
    """The planner's answer: depth of field, recommended step and, with a range, the slices."""

    optics: Optics
    overlap: float
    start_um: float | None = None
    end_um: float | None = None

    @property
    def dof_um(self) -> float:
        return self.optics.dof_um

    @property
    def step_um(self) -> float:
        return self.dof_um * (1.0 - self.overlap)

    @property
    def slices(self) -> int | None:
        if self.start_um is None or self.end_um is None:
            return None
        return math.ceil(abs(self.end_um - self.start_um) / self.step_um - 1e-9) + 1

    def as_dict(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {
            "dof_um": round(self.dof_um, 3),
            "step_um": round(self.step_um, 3),
            "magnification": self.optics.magnification,
            "f_number": self.optics.f_number,
            "na": round(self.optics.numerical_aperture, 5),
            "effective_f_number": round(self.optics.effective_f_number, 3),
            "pixel_um": self.optics.pixel_um,
            "overlap": self.overlap,
        }
        if self.slices is not None:
            out.update(start_um=self.start_um, end_um=self.end_um, slices=self.slices)
        return out


def plan_stack(
    optics: Optics,
    overlap: float = DEFAULT_OVERLAP,
    start_um: float | None = None,
    end_um: float | None = None,
) -> StackPlan:
    """Check the inputs and plan; a range needs both ends, different and finite."""
    overlap = check("overlap", overlap)
    if (start_um is None) != (end_um is None):
        raise UsageError("a range needs both a start and an end")
    for name, value in (("start_um", start_um), ("end_um", end_um)):
        if value is not None and not math.isfinite(value):
            raise UsageError(f"{name} = {value!r}: must be a finite position in um")
    if start_um is not None and start_um == end_um:
        raise UsageError("start and end are the same position; a stack needs some travel")
    return StackPlan(optics=optics, overlap=overlap, start_um=start_um, end_um=end_um)


def dof_dioptres(f_number: float, focal_mm: float, pixel_um: float) -> float:
    """The depth of field of a lens focused by its own motor, in dioptres (the same at any distance)."""
    n = check("f_number", f_number)
    f_m = check("focal_mm", focal_mm) / 1000.0
    c_m = 2.0 * check("pixel_um", pixel_um) * 1e-6
    return 2.0 * c_m * n / f_m**2
