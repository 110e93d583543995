"""The optics planner on the configured rail: a profile's ``[optics]`` table (or the optics sent to
``POST /api/plan``) turned into a step in the rail's own units, and the slices a range needs.

On a rail that moves in um the depth of field and the step come from :mod:`rig.optics` (Berek's
formula; docs/planning.md). On the Pi camera's lens drive (``rail.backend = "lens"``,
``rail.lens.driver = "picam"``) positions are lens steps of ``rail.lens.dioptres_per_step``
dioptres, so the planner works in dioptres: the depth of field is ``2 c N / f**2`` dioptres
(:func:`rig.optics.dof_dioptres`), the same at every focus distance, and the step is the whole
number of lens steps that keeps the overlap. A gphoto lens drive has no known step size until
``rig calibrate --target-depth-um`` measured the depth of one drive step: then the step in um is
turned into whole drive steps; before that the planner says so. On a rail whose real distance
per step was measured, the depth of field and step are given in the rail's (reported) units
and ``step_um`` in real um, what a profile's ``step_um`` means (:mod:`rig.plan`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rig.calibration_store import RailCalibration
from rig.config import ProfileOptics, RailConfig
from rig.errors import UsageError
from rig.optics import Optics, dof_dioptres, plan_stack


@dataclass(frozen=True)
class OpticsAnswer:
    """Depth of field and step in the rail's units; ``slices`` for a range (else None)."""

    dof: float
    step: float
    units: str
    slices: int | None
    dof_dioptres: float | None = None
    rail_per_um: float | None = 1.0  # rail units per real um (None: the step has no size in um)

    def to_dict(self) -> dict[str, Any]:
        per_um = self.rail_per_um
        return {
            "dof_um": None if per_um is None else round(self.dof / per_um, 3),
            "step_um": None if per_um is None else round(self.step / per_um, 3),
            "slices": self.slices,
            "dof": round(self.dof, 3),
            "step": round(self.step, 3),
            "units": self.units,
            "dof_dioptres": None if self.dof_dioptres is None else round(self.dof_dioptres, 4),
        }


def slices_for(travel: float, step: float) -> int:
    """Frames that cover ``travel`` with at most ``step`` between neighbours (both ends shot)."""
    return math.ceil(abs(travel) / step - 1e-9) + 1


def plan_optics(
    optics: ProfileOptics,
    rail: RailConfig,
    start: float | None = None,
    end: float | None = None,
    calibration: RailCalibration | None = None,
) -> OpticsAnswer:
    """The proposed step on ``rail`` and, with ``start`` and ``end`` (rail units), the slices;
    ``calibration``: ``rig calibrate``'s for this machine (the real distance per step)."""
    measured = calibration.um_per_step if calibration else None
    per_um: float | None = calibration.rail_per_um if calibration else 1.0
    if rail.units == "um" or (rail.lens.driver == "gphoto" and measured):
        if optics.magnification is None:
            raise UsageError("optics: magnification is needed to plan on a rail that moves in um")
        lens = Optics(optics.magnification, optics.f_number, optics.na, optics.pixel_um)
        stack = plan_stack(lens, optics.overlap)
        assert per_um is not None
        dof, step, dioptres = stack.dof_um * per_um, stack.step_um * per_um, None
        if rail.units == "steps":  # whole drive steps
            step = float(max(1, math.floor(step + 1e-9)))
    elif rail.lens.driver == "picam":
        if optics.f_number is None or optics.focal_mm is None:
            raise UsageError("optics: the Pi camera's lens drive plans in dioptres from f_number and focal_mm")
        dioptres = dof_dioptres(optics.f_number, optics.focal_mm, optics.pixel_um)
        per_step = rail.lens.dioptres_per_step
        dof = dioptres / per_step
        step = float(max(1, math.floor(dof * (1.0 - optics.overlap) + 1e-9)))
        per_um = None
    else:
        raise UsageError(
            "optics: the gphoto lens drive's step has no known size in um or dioptres; measure it with "
            "rig calibrate --target-depth-um, or set the step by eye"
        )
    slices = None if start is None or end is None or start == end else slices_for(end - start, step)
    return OpticsAnswer(dof, step, rail.units, slices, dof_dioptres=dioptres, rail_per_um=per_um)
