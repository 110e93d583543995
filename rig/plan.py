"""A stack plan: absolute targets computed once and checked against the soft limits
before anything moves.

With a calibration (``rig calibrate``, :class:`rig.calibration_store.RailCalibration`) the
profile's step is a real distance: ``step_um`` x ``rail_per_um`` in the rail's units (on a rail
whose real distance per step differs from ``rail.steps_per_mm``; on a lens drive, um of focus
depth turned into drive steps). Positions (``start_um``, ``end_um``, the rail's own position)
are the rail's, as it reports them. ``take_up``: the overshoot the sequencer makes before the
first slice and whenever it approaches a slice against the stack's direction (the backlash).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rig.calibration_store import RailCalibration
from rig.config import Profile
from rig.errors import UsageError

DEFAULT_SLICES = 20
DEFAULT_STEP_UM = 100.0
MIN_SLICES, MAX_SLICES = 2, 999
LIMIT_KEYS = {"um": "rail.min_um / rail.max_um", "steps": "rail.lens.min_steps / rail.lens.max_steps"}


@dataclass(frozen=True)
class Plan:
    targets: tuple[float, ...]
    step: float  # signed distance between targets, in ``units``
    units: str
    take_up: float = 0.0  # overshoot (``units``) before a slice approached against the stack's direction
    rail_per_um: float = 1.0  # the calibrated rail units per real um the step was planned with

    @property
    def slices(self) -> int:
        return len(self.targets)

    @property
    def start(self) -> float:
        return self.targets[0]

    @classmethod
    def build(
        cls,
        profile: Profile,
        limits: tuple[float, float],
        current: float,
        units: str = "um",
        calibration: RailCalibration | None = None,
    ) -> Plan:
        cal = calibration or RailCalibration()
        scale = cal.rail_per_um
        start = profile.start_um if profile.start_um is not None else current
        if profile.end_um is not None:
            travel = profile.end_um - start
            if travel == 0:
                raise UsageError("start and end are the same position; a stack needs some travel")
            if profile.slices is not None:
                slices = profile.slices
                step = travel / (slices - 1)
            else:
                step_abs = (profile.step_um if profile.step_um is not None else DEFAULT_STEP_UM) * scale
                slices = int(math.floor(abs(travel) / step_abs + 1e-9)) + 1
                step = math.copysign(step_abs, travel)
        else:
            slices = profile.slices if profile.slices is not None else DEFAULT_SLICES
            step = (profile.step_um if profile.step_um is not None else DEFAULT_STEP_UM) * scale
        if not MIN_SLICES <= slices <= MAX_SLICES:
            raise UsageError(f"slices = {slices}: must be from {MIN_SLICES} to {MAX_SLICES}")
        if not math.isfinite(step) or step == 0:
            raise UsageError(f"step = {step!r} {units}: must be a non-zero finite distance")
        targets = tuple(round(start + i * step, 6) for i in range(slices))
        lo, hi = limits
        take_up = cal.take_up
        reach = targets[0] - math.copysign(take_up, step)  # the overshoot before the first slice
        first, last = min(*targets, reach), max(*targets, reach)
        if first < lo or last > hi:
            extra = f", with {take_up:g} {units} to take up the backlash" if take_up else ""
            raise UsageError(
                f"the stack would travel {first:g}..{last:g} {units}{extra}, beyond the soft limits "
                f"{lo:g}..{hi:g} {units} ({LIMIT_KEYS.get(units, LIMIT_KEYS['um'])})"
            )
        return cls(targets=targets, step=step, units=units, take_up=take_up, rail_per_um=scale)
