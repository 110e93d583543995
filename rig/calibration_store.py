"""Where ``rig calibrate`` keeps its results: one JSON file per machine config, under
``$XDG_CONFIG_HOME/rig/calibration/``. Read by the run estimate (the settle time of
``settle_s = "auto"``); written by :func:`rig.calibration.save_calibration`. The naming of such
per-config files (:func:`machine_state_path`) is also the last range sweep's (rig.range_store)."""

from __future__ import annotations

import hashlib
import json
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
