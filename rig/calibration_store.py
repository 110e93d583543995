"""Where ``rig calibrate`` keeps its results: one JSON file per machine config, under
``$XDG_CONFIG_HOME/rig/calibration/``. Read by the planner (:class:`RailCalibration`: the real
distance per step and the backlash, :mod:`rig.plan`) and the run estimate (the settle time of
``settle_s = "auto"``); written by :func:`rig.calibration.save_calibration`. The naming of such
per-config files (:func:`machine_state_path`) is also the last range sweep's (rig.range_store)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.config import MachineConfig, profile_dir


def calibration_path(config: MachineConfig) -> Path:
    """Where the calibration of this machine config lives (one file per config file)."""
    return machine_state_path(config, "calibration")


def machine_state_path(config: MachineConfig, kind: str) -> Path:
    """``$XDG_CONFIG_HOME/rig/<kind>/<config name>-<hash of its path>.json``: what rig measured
    on the rig this config file describes (the built-in simulated rig: ``builtin-sim.json``)."""
    folder = profile_dir().parent / kind
    if config.source.startswith("<"):
        return folder / "builtin-sim.json"
    resolved = str(Path(config.source).expanduser().resolve())
    digest = hashlib.sha256(resolved.encode()).hexdigest()[:12]
    return folder / f"{Path(config.source).stem}-{digest}.json"


def load_calibration(config: MachineConfig) -> dict[str, Any] | None:
    """The stored calibration of ``config``, or None (none yet, or unreadable)."""
    path = calibration_path(config)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def calibrated_settle_s(config: MachineConfig) -> float | None:
    """The settle time ``rig calibrate`` measured for ``config``, if any."""
    data = load_calibration(config) or {}
    value = data.get("settle_s")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


TAKE_UP = 1.5  # the overshoot before a slice approached against the stack's direction, x the measured backlash


@dataclass(frozen=True)
class RailCalibration:
    """What the planner takes from a stored calibration (:func:`rail_calibration`)."""

    rail_per_um: float = 1.0  # rail units per real um of travel: a profile's step_um x this is the rail's step
    take_up: float = 0.0  # rail units: overshoot before the first slice and after a reversal (0 = none)
    um_per_step: float | None = None  # measured distance (depth on a lens drive) per motor step
    backlash: float = 0.0  # measured, in rail units


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None


def rail_calibration(config: MachineConfig) -> RailCalibration | None:
    """The planner's view of ``config``'s stored calibration; None when there is none for these
    units. The distance per step counts only when measured from images (``rig calibrate
    --target-depth-um``); the measured backlash is taken up by the plan (``take_up``) unless
    the rail overshoots by itself (``rail.backlash_um`` set)."""
    data = load_calibration(config)
    units = config.rail.units
    if not data or data.get("units") != units:
        return None
    backlash = _number(data, "backlash_um" if units == "um" else "backlash_steps") or 0.0
    um_per_step = _number(data, "um_per_step") if data.get("um_per_step_source") == "measured" else None
    rail_per_um = 1.0
    if um_per_step:  # per real um: the rail's units per step (configured um, or 1 drive step) / real um per step
        rail_per_um = (1000.0 / config.rail.steps_per_mm if units == "um" else 1.0) / um_per_step
    take_up = TAKE_UP * backlash if config.rail.backlash == 0 else 0.0
    return RailCalibration(rail_per_um, take_up, um_per_step or None, backlash)
