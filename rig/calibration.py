"""Calibration from images (``rig calibrate``): backlash and settle time measured on a textured
target with the rig's own rail and camera, stored per machine config.

- **Texture**: a frame whose grey thumbnail is flat (``TEXTURE_STD``) is refused before anything
  moves: nothing in it would show a focus change.
- **Settle** first: after a short move, live view is watched until it stops changing
  (:func:`rig.settle.wait_until_still`); the longest of ``PROBES`` moves (None without live
  view). Every shot below waits that long (+20 %) after its move.
- **Backlash**: a reference sweep of frames approached forward, ``SWEEP_FRAMES + 1`` positions
  over ``sweep``; then the same positions approached backward. A backward frame looks like the
  forward frame where the carriage really was; the distance between the two (thumbnail
  difference, minimum interpolated by a parabola) is the backlash. The median of
  ``PROBES`` probes. With ``rail.backlash_um`` set, the rail's own overshoot takes most of it
  out: what is measured is what is left.
- **Distance per step**: ``1000 / rail.steps_per_mm`` as configured; not measured (that needs
  a target of known depth). None on the lens rail, whose steps have no fixed depth.
"""

from __future__ import annotations

import json
import logging
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rig.calibration_store import calibration_path, load_calibration
from rig.camera.base import Camera
from rig.config import MachineConfig
from rig.errors import CameraError, Cancelled, UsageError
from rig.frame_checks import CheckFailed, Measure, measure
from rig.motion.base import Rail
from rig.paths import write_replace
from rig.settle import wait_until_still

log = logging.getLogger(__name__)

SWEEP_FRAMES = 20
NO_LIVE_VIEW_WAIT_S = 1.0  # wait before each shot when the settle time cannot be watched
PROBES = 3
TEXTURE_STD = 4.0  # grey levels: a thumbnail flatter than this has nothing to focus on
DEFAULT_SWEEP = {"um": 300.0, "steps": 30.0}


@dataclass(frozen=True)
class Calibration:
    units: str
    backlash: float  # in ``units``
    settle_s: float | None
    um_per_step: float | None
    source: str
    measured_at: str

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["backlash_um"] = round(self.backlash, 2) if self.units == "um" else None
        out["backlash_steps"] = round(self.backlash, 3) if self.units == "steps" else None
        out.pop("backlash")
        return out


__all__ = ["Calibration", "calibrate", "calibration_path", "describe", "load_calibration", "save_calibration"]


def save_calibration(path: Path, result: Calibration) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_replace(path, (json.dumps(result.to_json(), indent=1) + "\n").encode())


def _shot(camera: Camera) -> Measure:
    frame = camera.capture()
    if frame is None:
        raise UsageError("calibration needs the frames on this computer; this camera keeps them on its card")
    try:
        return measure(frame.data)
    except CheckFailed as exc:
        raise CameraError(f"calibration: {exc}") from None


def _distance(a: Measure, b: Measure) -> float:
    return float(np.mean(np.abs(a.thumb - b.thumb)))


def check_texture(m: Measure) -> None:
    std = float(cv2.GaussianBlur(m.thumb, (0, 0), 1.0).std())
    if std < TEXTURE_STD:
        raise UsageError(
            f"no texture in view (contrast {std:.1f} grey levels, at least {TEXTURE_STD:g} needed): "
            "point the camera at a textured target in focus"
        )


def calibrate(
    rail: Rail, camera: Camera, config: MachineConfig, cancel: threading.Event, sweep: float | None = None
) -> Calibration:
    """Measure; the rail ends where it started. Raises UsageError before moving when there is no texture."""
    units = rail.units
    span = sweep if sweep is not None else DEFAULT_SWEEP.get(units, 300.0)
    home = rail.position()
    lo, hi = rail.limits()
    if home - span / 3 < lo or home + span * 4 / 3 > hi:
        raise UsageError(
            f"calibration moves {home - span / 3:g}..{home + span * 4 / 3:g} {units}, beyond the soft limits "
            f"{lo:g}..{hi:g} {units}: start it further from the ends"
        )
    check_texture(_shot(camera))
    rail.set_enabled(True)
    step = span / SWEEP_FRAMES

    def go(target: float) -> None:
        rail.move_to(target, abort=cancel)
        if cancel.is_set():
            raise Cancelled("calibration cancelled")

    settles: list[float] = []
    try:
        if getattr(camera, "has_live_view", True):  # first the settle time: every shot below waits it out
            for k in range(PROBES):
                go(home + (k % 2) * 3 * step)
                settles.append(wait_until_still(camera.preview, cancel, since=time.monotonic()))
        wait_s = max(settles) * 1.2 + 0.02 if settles else NO_LIVE_VIEW_WAIT_S

        def shot_at(target: float) -> Measure:
            go(target)
            if cancel.wait(wait_s):
                raise Cancelled("calibration cancelled")
            return _shot(camera)

        go(home - span / 3)  # take up the lash: every reference is approached forward
        refs = [shot_at(home + j * step) for j in range(SWEEP_FRAMES + 1)]
        backlash: list[float] = []
        for k in range(PROBES):
            target = home + (3 + 3 * k) * step
            go(home + span + span / 3)
            probe = shot_at(target)
            d = np.array([_distance(probe, r) for r in refs])
            j = int(np.argmin(d))
            offset = 0.0
            if 0 < j < SWEEP_FRAMES:
                a, b, c = d[j - 1], d[j], d[j + 1]
                curve = a - 2 * b + c
                offset = 0.5 * (a - c) / curve if curve > 0 else 0.0
            backlash.append(max(0.0, home + (j + offset) * step - target))
    finally:
        if not cancel.is_set():
            rail.move_to(home - span / 3)
            rail.move_to(home)
    steps_per_mm = config.rail.steps_per_mm
    return Calibration(
        units=units,
        backlash=statistics.median(backlash),
        settle_s=round(max(settles), 3) if settles else None,
        um_per_step=round(1000.0 / steps_per_mm, 4) if units == "um" else None,
        source=config.source,
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )


def describe(result: Calibration) -> list[str]:
    """The human-readable lines ``rig calibrate`` prints."""
    lines = [f"backlash: {result.backlash:.1f} {result.units}"]
    lines.append(
        f"settle: {result.settle_s:.2f} s" if result.settle_s is not None else "settle: not measured (no live view)"
    )
    if result.um_per_step is not None:
        lines.append(f"distance per step: {result.um_per_step:g} um (as configured: rail.steps_per_mm)")
    return lines
