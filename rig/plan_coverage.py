"""Will every part of the subject be sharp in some slice? Said before anything moves.

Two ways a plan leaves part of the subject soft: the step is larger than the depth of field
(depths between two slices are never in focus), or the range stops short of the subject's near
or far side as a range sweep (``rig range``, the Range button) found it. A slice covers half a
depth of field either side of its position; without a known depth of field, half a step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rig.range_sweep import RangeResult


@dataclass(frozen=True)
class SubjectRange:
    """Where the subject first and last comes into focus, in rail units (from a range sweep)."""

    start: float
    end: float
    swept_at: str | None = None  # when that sweep ended (ISO 8601), said in the warnings

    @classmethod
    def of(cls, result: RangeResult | None) -> SubjectRange | None:
        """The subject as a range sweep found it; None without a sweep or when it found no detail."""
        if result is None or result.start is None or result.end is None:
            return None
        return cls(result.start, result.end, result.at)

    @property
    def source(self) -> str:
        if not self.swept_at:
            return "from the last range sweep"
        try:
            when = datetime.fromisoformat(self.swept_at).astimezone().strftime("%Y-%m-%d %H:%M")
        except ValueError:
            when = self.swept_at
        return f"from the range sweep of {when}"

    @property
    def near(self) -> float:
        return min(self.start, self.end)

    @property
    def far(self) -> float:
        return max(self.start, self.end)


def _fmt(value: float, units: str) -> str:
    return f"{value:.1f} µm" if units == "um" else f"{value:g} {units}"


def coverage_warnings(
    targets: Sequence[float], units: str, dof: float | None, subject: SubjectRange | None
) -> list[str]:
    """One sentence per way the plan leaves part of the subject never sharp (empty: covered)."""
    out: list[str] = []
    if not targets:
        return out
    step = abs(targets[1] - targets[0]) if len(targets) > 1 else 0.0
    if dof is not None and step > dof * 1.000001:
        out.append(
            f"the step ({_fmt(step, units)}) exceeds the depth of field ({_fmt(dof, units)}): "
            "depths between slices are never sharp"
        )
    if subject is not None:
        reach = (dof if dof is not None else step) / 2.0
        lo, hi = min(targets) - reach, max(targets) + reach
        if subject.near < lo:
            out.append(
                f"the range misses the subject's near side: {_fmt(subject.near, units)} .. {_fmt(lo, units)} "
                f"is never sharp ({subject.source})"
            )
        if subject.far > hi:
            out.append(
                f"the range misses the subject's far side: {_fmt(hi, units)} .. {_fmt(subject.far, units)} "
                f"is never sharp ({subject.source})"
            )
    return out
