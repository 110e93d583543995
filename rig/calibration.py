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
- **Distance per step** (with ``target_depth_um``, ``rig calibrate --target-depth-um D``): the
  target shows two textured planes ``D`` um apart in depth (a plate of known thickness on a
  textured card, a gauge block, a coverslip). A forward sweep of ``DEPTH_FRAMES + 1`` frames over
  ``-E/2 .. 1.5 E`` around the start (``E`` = ``D`` in the rail's configured um, or ``sweep``
  drive steps on a lens drive) gives every tile's sharpness curve; its peak (a parabola through
  the log sharpness) is where that tile is in focus. The peaks fall in two groups, the near and
  the far plane; the rail travel between their medians is ``D`` real um, so the distance per
  motor step is ``D / (travel x steps per unit)``: for a lens drive, the depth one drive step
  moves focus. Without a target depth it is ``1000 / rail.steps_per_mm`` as configured (None on
  the lens rail), or the value a previous calibration measured (kept).
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
DEPTH_FRAMES = 40
PEAK_CONTRAST = np.log(1.5)  # a tile whose sharpness varies less than this over the sweep has no peak
MIN_TILES = 3  # each plane must be seen in at least this many tiles
FLAT = 0.1  # a plane's tiles agree on their focus within this fraction of the planes' separation (median)


@dataclass(frozen=True)
class Calibration:
    units: str
    backlash: float  # in ``units``
    settle_s: float | None
    um_per_step: float | None
    source: str
    measured_at: str
    um_per_step_source: str | None = None  # "measured" (from images), "configured", None (unknown)

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


class BeyondLimits(UsageError):
    """The calibration's moves from where the rail is would leave its soft limits (nothing moved)."""


def steps_per_unit(config: MachineConfig) -> float:
    """Motor steps per unit of rail position: per um on a rail (as configured), 1 on a lens drive."""
    return config.rail.steps_per_mm / 1000.0 if config.rail.units == "um" else 1.0


def calibrate(
    rail: Rail,
    camera: Camera,
    config: MachineConfig,
    cancel: threading.Event,
    sweep: float | None = None,
    target_depth_um: float | None = None,
) -> Calibration:
    """Measure; the rail ends where it started. Raises UsageError before moving when there is no
    texture or the sweeps would leave the soft limits."""
    units = rail.units
    span = sweep if sweep is not None else DEFAULT_SWEEP.get(units, 300.0)
    home = rail.position()
    lo, hi = rail.limits()
    low, high = home - span / 3, home + span * 4 / 3
    depth_span = None
    if target_depth_um is not None:
        depth_span = target_depth_um if units == "um" else span
        low, high = min(low, home - depth_span * 0.75), max(high, home + depth_span * 1.5)
    if low < lo or high > hi:
        raise BeyondLimits(
            f"calibration moves {low:g}..{high:g} {units}, beyond the soft limits "
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
    measured_step: float | None = None
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
        if depth_span is not None and target_depth_um is not None:
            go(home - depth_span * 0.75)  # forward again: the lash is taken up
            positions = home - depth_span / 2 + np.arange(DEPTH_FRAMES + 1) * (2 * depth_span / DEPTH_FRAMES)
            tiles = np.stack([shot_at(float(p)).tiles for p in positions])
            travel = plane_separation(positions, tiles)
            measured_step = target_depth_um / (travel * steps_per_unit(config))
    finally:
        if not cancel.is_set():
            rail.move_to(home - span / 3)
            rail.move_to(home)
    um_per_step, step_source = _distance_per_step(config, measured_step)
    return Calibration(
        units=units,
        backlash=statistics.median(backlash),
        settle_s=round(max(settles), 3) if settles else None,
        um_per_step=um_per_step,
        source=config.source,
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        um_per_step_source=step_source,
    )


def plane_separation(positions: np.ndarray, tiles: np.ndarray) -> float:
    """The rail travel between the near and the far plane of a two-plane target: ``tiles`` holds
    each frame's per-tile sharpness (frames x rows x columns) at ``positions`` (evenly spaced).
    Raises UsageError when the frames do not show two planes."""
    dx = float(positions[1] - positions[0])
    curves = np.log(tiles.reshape(len(positions), -1) + 1e-3)
    peaks = []
    for curve in curves.T:
        j = int(np.argmax(curve))
        if not 0 < j < len(curve) - 1 or curve[j] - curve.min() < PEAK_CONTRAST:
            continue  # no peak inside the sweep (or no texture): this tile says nothing
        a, b, c = curve[j - 1], curve[j], curve[j + 1]
        bend = a - 2 * b + c
        peaks.append(float(positions[j]) + (0.5 * (a - c) / bend * dx if bend < 0 else 0.0))
    found = np.sort(np.array(peaks))
    if len(found) >= 2 * MIN_TILES:
        cut = int(np.argmax(np.diff(found[MIN_TILES - 1 : len(found) - MIN_TILES + 1]))) + MIN_TILES
        near, far = found[:cut], found[cut:]
        separation = float(np.median(far) - np.median(near))
        spread = max(float(np.median(np.abs(g - np.median(g)))) for g in (near, far))
        if far.min() - near.max() > 2 * abs(dx) and spread < FLAT * separation:
            return separation
    raise UsageError(
        "--target-depth-um: the sweep did not show two planes in focus at different depths "
        f"({len(found)} tiles came into focus); point the camera at a target with two textured planes "
        "that far apart, each filling part of the view, focused on the near one"
    )


def _distance_per_step(config: MachineConfig, measured: float | None) -> tuple[float | None, str | None]:
    """The distance per step to store: measured now, else one measured before for the same units, else
    the configured one (None on a lens drive)."""
    if measured is not None:
        return round(measured, 5), "measured"
    before = load_calibration(config) or {}
    if before.get("um_per_step_source") == "measured" and before.get("units") == config.rail.units:
        value = before.get("um_per_step")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value), "measured"
    if config.rail.units == "um":
        return round(1000.0 / config.rail.steps_per_mm, 5), "configured"
    return None, None


def describe(result: Calibration) -> list[str]:
    """The human-readable lines ``rig calibrate`` prints."""
    lines = [f"backlash: {result.backlash:.1f} {result.units}"]
    lines.append(
        f"settle: {result.settle_s:.2f} s" if result.settle_s is not None else "settle: not measured (no live view)"
    )
    if result.um_per_step is not None:
        how = "measured" if result.um_per_step_source == "measured" else "as configured: rail.steps_per_mm"
        what = "depth per drive step" if result.units == "steps" else "distance per step"
        lines.append(f"{what}: {result.um_per_step:g} um ({how})")
    return lines
