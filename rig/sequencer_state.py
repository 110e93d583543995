"""The sequencer's states, outcomes, transition table and the immutable status snapshot.

A module of its own so the sequencer's helpers (``rig.sequencer_checks``) can name states without
importing the sequencer; ``rig.sequencer`` re-exports everything here.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

from rig.errors import RigError


class State(enum.StrEnum):
    IDLE = "idle"
    STARTING = "starting"
    MOVING = "moving"
    SETTLING = "settling"
    CAPTURING = "capturing"
    RETURNING = "returning"
    PAUSED = "paused"  # paused by the user between slices (rig.pause), or a slice failed its checks
    # (on_failed_check = "pause"); resume() goes on (and retakes a slice that failed its checks)
    JOGGING = "jogging"
    RANGING = "ranging"  # a preview sweep finding the subject's start and end (rig.range_sweep)
    FAULT = "fault"


class Outcome(enum.StrEnum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


S = State
RUN_PHASES = frozenset({S.MOVING, S.SETTLING, S.CAPTURING, S.RETURNING, S.PAUSED})
BUSY = frozenset({S.STARTING, S.JOGGING, S.RANGING}) | RUN_PHASES
TRANSITIONS: dict[State, frozenset[State]] = {
    S.IDLE: frozenset({S.STARTING, S.JOGGING, S.RANGING, S.FAULT}),
    S.STARTING: frozenset({S.MOVING, S.PAUSED, S.IDLE, S.FAULT}),
    S.MOVING: frozenset({S.SETTLING, S.RETURNING, S.IDLE, S.FAULT}),
    S.SETTLING: frozenset({S.CAPTURING, S.MOVING, S.PAUSED, S.RETURNING, S.IDLE, S.FAULT}),
    S.CAPTURING: frozenset({S.MOVING, S.SETTLING, S.RETURNING, S.IDLE, S.FAULT, S.PAUSED}),
    S.PAUSED: frozenset({S.MOVING, S.SETTLING, S.RETURNING, S.IDLE, S.FAULT}),
    S.RETURNING: frozenset({S.IDLE, S.FAULT}),
    S.JOGGING: frozenset({S.IDLE, S.FAULT}),
    S.RANGING: frozenset({S.RETURNING, S.IDLE, S.FAULT}),
    S.FAULT: frozenset({S.IDLE}),
}


@dataclass(frozen=True)
class Status:
    state: State = State.IDLE
    slice: int = 0  # 1-based index of the current slice, 0 before the first
    slices: int = 0
    position: float = 0.0
    units: str = "um"
    mode: str | None = None
    profile: str | None = None
    folder: str | None = None
    frames_saved: int = 0
    outcome: Outcome | None = None  # of the current/last run; None while a run is in progress
    error: str | None = None
    started: float | None = None  # epoch seconds
    eta_s: float | None = None
    run_id: int = 0
    # +1 with every change (never with the position alone): a client that hears of the status
    # from several places (the SSE stream, the answer to its own command) keeps the newest
    rev: int = 0

    @property
    def phase(self) -> str | None:
        return self.state.value if self.state in RUN_PHASES else None

    @property
    def busy(self) -> bool:
        return self.state in BUSY

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["state"] = self.state.value
        d["outcome"] = self.outcome.value if self.outcome else None
        d["phase"] = self.phase
        d["busy"] = self.busy
        return d


def describe(exc: BaseException) -> str:
    """A fault's one-line reason: a rig error's own message, anything else with its type."""
    if isinstance(exc, RigError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
