"""How long a stack will take and how much it will write, told before it starts, and whether the
battery and the card last that long (the Stack page's warnings; ``POST /api/plan``).

Duration: the moves (a trapezoidal profile from ``rail.max_speed_mm_s`` and ``rail.accel_mm_s2``,
the same ramp the rail drivers run) plus, per slice, ``settle_s`` + the capture + ``exposure_s``.
Size: slices x the expected frame size: the mean frame of the newest stack in ``output.root``
(the camera actually in use), else what the camera config implies (the simulated and Pi cameras'
width x height in their format), else unknown. Free space is ``rig.paths.free_mb``, the sequencer's
own pre-flight, less ``output.min_free_mb`` (below which the sequencer refuses to start).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rig.calibration_store import calibrated_settle_s
from rig.config import CameraConfig, MachineConfig, Profile, RailConfig
from rig.manifest import MANIFEST, UnreadableManifest, read_manifest
from rig.paths import free_mb
from rig.plan import Plan
from rig.power_supply import Battery

# Typical bytes per pixel of a saved frame: JPEG at high quality of a detailed subject, 16-bit
# RGB PNG/TIFF, a Bayer DNG. Used only when no earlier stack shows the real size.
BYTES_PER_PIXEL = {"jpg": 0.6, "png": 3.0, "tiff": 6.0, "dng": 2.0}
CAPTURE_S = {"gphoto": 2.0, "picam": 0.5}  # capture + download of one frame, when the config does not say
LENS_STEP_S = 0.05  # one focus-drive step of the lens rail


@dataclass(frozen=True)
class Estimate:
    duration_s: float
    size_mb: float | None  # None: the frame size is not known yet
    free_mb: float | None  # usable: free space less output.min_free_mb
    battery_s: float | None  # time left on battery while discharging; None on mains or without one
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def move_time_s(distance: float, rail: RailConfig) -> float:
    """Time of one move of ``distance`` (um, or focus steps on the lens rail)."""
    distance = abs(distance)
    if rail.backend == "lens":
        return distance * LENS_STEP_S
    d_mm, v, a = distance / 1000.0, rail.max_speed_mm_s, rail.accel_mm_s2
    ramp_mm = v * v / a  # accelerating to v and back down
    if d_mm <= ramp_mm:
        return 2.0 * math.sqrt(d_mm / a)
    return 2.0 * v / a + (d_mm - ramp_mm) / v


def capture_time_s(camera: CameraConfig) -> float:
    if camera.backend == "sim":
        return camera.sim.capture_s
    if camera.backend == "shutter":
        s = camera.shutter
        return s.prefocus_s + s.pulse_s + s.exposure_s + s.mirror_lockup_s
    return CAPTURE_S.get(camera.backend, 1.0)


def configured_frame_mb(camera: CameraConfig) -> float | None:
    """The frame size the camera config implies (None when it does not say)."""
    if camera.backend == "shutter" or (camera.backend == "gphoto" and camera.gphoto.keep_on_card_only):
        return 0.0  # frames stay on the camera's card
    if camera.backend == "sim":
        w, h, fmt = camera.sim.width, camera.sim.height, camera.sim.format
    elif camera.backend == "picam" and camera.picam.width and camera.picam.height:
        w, h, fmt = camera.picam.width, camera.picam.height, camera.picam.format
    else:
        return None
    return w * h * BYTES_PER_PIXEL[fmt] / 1e6


def newest_stack(root: str | os.PathLike[str], limit: int = 10_000) -> tuple[Path, float] | None:
    """The newest run folder under ``root`` (by its manifest's modification time) and that time."""
    base = Path(root).expanduser()
    best: tuple[Path, float] | None = None
    if not base.is_dir():
        return None
    for n, path in enumerate(base.rglob(MANIFEST)):
        if n >= limit:
            break
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        if best is None or mtime > best[1]:
            best = (path.parent, mtime)
    return best


def recent_frame_mb(root: str | os.PathLike[str]) -> float | None:
    """The mean size of the full frames of the newest stack (None when it has none)."""
    newest = newest_stack(root)
    if newest is None:
        return None
    try:
        frames = read_manifest(newest[0]).frames or ()
    except (OSError, UnreadableManifest):
        return None
    sizes = [f.bytes for f in frames if not f.preview and f.bytes]
    return sum(sizes) / len(sizes) / 1e6 if sizes else None


def estimate(plan: Plan, profile: Profile, config: MachineConfig, position: float, battery: Battery | None) -> Estimate:
    """The run's duration and size, and warnings when the battery or the card would not last."""
    rail = config.rail
    moves = move_time_s(plan.start - position, rail) + (plan.slices - 1) * move_time_s(plan.step, rail)
    if plan.take_up:  # the calibrated backlash taken up before the first slice: out and back
        moves += 2 * move_time_s(plan.take_up, rail)
    if profile.return_to_start:
        moves += move_time_s(plan.targets[-1] - plan.start, rail)
    shooting = profile.mode != "preview"
    settle_s = profile.settle_guess_s(calibrated_settle_s(config) or 0.5)  # "auto": as calibrated
    per_slice = settle_s + (capture_time_s(config.camera) + profile.exposure_s if shooting else 0.0)
    duration = moves + plan.slices * per_slice
    size: float | None = 0.0
    if profile.mode == "full":
        frame = recent_frame_mb(config.output.root)
        frame = configured_frame_mb(config.camera) if frame is None else frame
        size = None if frame is None else frame * plan.slices
    elif profile.mode == "preview-images":
        size = plan.slices * 0.1  # small live-view frames
    try:
        free = max(0.0, free_mb(Path(config.output.root).expanduser()) - config.output.min_free_mb)
    except OSError:
        free = None
    warnings = []
    battery_s = battery.time_left_s if battery and not battery.covers(float("inf")) else None
    if battery is not None and battery.covers(duration) is False:
        warnings.append(
            f"the stack takes about {_minutes(duration)}; the battery has about {_minutes(battery_s or 0)} left"
        )
    if size is not None and free is not None and size > free:
        warnings.append(f"the stack needs about {size:.0f} MB; the card has {free:.0f} MB free for stacks")
    return Estimate(round(duration, 1), None if size is None else round(size, 1), free, battery_s, warnings)


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
