"""A stack plan: absolute targets computed once and checked against the soft limits
before anything moves."""

from __future__ import annotations

import math
from dataclasses import dataclass

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

    @property
    def slices(self) -> int:
        return len(self.targets)

    @property
    def start(self) -> float:
        return self.targets[0]

    @classmethod
    def build(cls, profile: Profile, limits: tuple[float, float], current: float, units: str = "um") -> Plan:
        start = profile.start_um if profile.start_um is not None else current
        if profile.end_um is not None:
            travel = profile.end_um - start
            if travel == 0:
                raise UsageError("start and end are the same position; a stack needs some travel")
            if profile.slices is not None:
                slices = profile.slices
                step = travel / (slices - 1)
            else:
                step_abs = profile.step_um if profile.step_um is not None else DEFAULT_STEP_UM
                slices = int(math.floor(abs(travel) / step_abs + 1e-9)) + 1
                step = math.copysign(step_abs, travel)
        else:
            slices = profile.slices if profile.slices is not None else DEFAULT_SLICES
            step = profile.step_um if profile.step_um is not None else DEFAULT_STEP_UM
        if not MIN_SLICES <= slices <= MAX_SLICES:
            raise UsageError(f"slices = {slices}: must be from {MIN_SLICES} to {MAX_SLICES}")
        if not math.isfinite(step) or step == 0:
            raise UsageError(f"step = {step!r} {units}: must be a non-zero finite distance")
        targets = tuple(round(start + i * step, 6) for i in range(slices))
        lo, hi = limits
        first, last = min(targets), max(targets)
        if first < lo or last > hi:
            raise UsageError(
                f"the stack would travel {first:g}..{last:g} {units}, beyond the soft limits "
                f"{lo:g}..{hi:g} {units} ({LIMIT_KEYS.get(units, LIMIT_KEYS['um'])})"
            )
        return cls(targets=targets, step=step, units=units)
