"""The Rail protocol every motion backend implements.

Positions are floats in the rail's ``units``: ``"um"`` (micrometres) for linear rails,
``"steps"`` (focus-drive units) for the lens backend. The sequencer only ever sees this
protocol, so it never knows which kit it drives.

Threading: the sequencer's worker thread makes every call except ``stop()`` and
``estop()``, which any thread may call at any time (a web handler, a signal handler).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Rail(Protocol):
    units: str

    def position(self) -> float:
        """Current position. Must not block: return the host-tracked value, kept up to date
        during moves (status snapshots read it from other threads)."""

    def limits(self) -> tuple[float, float]:
        """Soft travel limits (min, max) in ``units``."""

    def move_to(self, target: float, abort: threading.Event | None = None) -> float:
        """Move to ``target`` and block until there (or stopped). Returns the final position.

        If ``abort`` is set before or during the move, the rail decelerates, stops and
        returns early with the position actually reached (no exception). Faults
        (lost link, limit switch, e-stop, timeout) raise ``MotionError``; the position
        stays truthful afterwards.
        """

    def stop(self) -> None:
        """Decelerate and stop the current move, if any. Any thread. Idempotent."""

    def estop(self) -> None:
        """Stop at once and disable the driver. Any thread. Idempotent."""

    def set_enabled(self, enabled: bool) -> None:
        """Energise or release the motor driver."""

    def home(self, abort: threading.Event | None = None) -> float:
        """Seek the home switch and set the position to the home offset.

        Raises ``MotionError`` if the backend has no home switch.
        """

    def health(self) -> dict[str, Any]:
        """A small JSON-able dict: at least ``{"ok": bool, "backend": str}``."""

    def close(self) -> None:
        """Stop, disable and release the hardware. Idempotent."""


def check_target(target: float, limits: tuple[float, float], units: str) -> None:
    """Raise LimitError if ``target`` is not a finite value inside ``limits``."""
    import math

    from rig.errors import LimitError

    lo, hi = limits
    if not isinstance(target, (int, float)) or not math.isfinite(target):
        raise LimitError(f"target {target!r} is not a finite number")
    if not lo <= target <= hi:
        raise LimitError(f"target {target:g} {units} is outside the soft limits {lo:g}..{hi:g} {units}")
