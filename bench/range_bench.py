#!/usr/bin/env python3
"""How close does ``rig range`` come to the subject's true near and far on the simulated rig?

    .venv/bin/python bench/range_bench.py

For each simulated subject (coin, bug), depth and distance, the sequencer sweeps (``find_range``,
the code behind ``rig range`` and the Range button) from 3 mm before the subject to 3 mm past it,
and the answer is compared with the scene's own depth map (``rig.camera.scene.make_scene``): its
nearest and farthest points. The target (issue 13) is an error of at most one depth of field or
100 um, whichever is larger, with at most 20 preview frames. The simulated lens's depth of field
is taken as the depth over which its blur stays within one pixel either side of focus:
2 / blur_px_per_mm mm (125 um at the default 16 px/mm). Prints a Markdown table.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rig.camera.scene import make_scene  # noqa: E402
from rig.config import MachineConfig  # noqa: E402
from rig.machine import Machine  # noqa: E402

CASES = [
    (s, near, depth)
    for s in ("coin", "bug")
    for near, depth in ((0, 1500), (3000, 800), (-2000, 3000), (500, 300), (10000, 5000), (20000, 150))
]
MARGIN_UM = 3000.0


def sim_dof_um(blur_px_per_mm: float) -> float:
    return 2.0 / blur_px_per_mm * 1000.0


def one(subject: str, near: float, depth: float) -> dict[str, float]:
    base = MachineConfig()
    cam = dataclasses.replace(base.camera.sim, subject=subject, near_um=near, depth_um=depth)
    rail = dataclasses.replace(base.rail, min_um=-50_000, max_um=50_000)
    cfg = dataclasses.replace(base, camera=dataclasses.replace(base.camera, sim=cam), rail=rail)
    scene = make_scene(subject, cam.width, cam.height, depth, cam.seed)
    true_near, true_far = near + float(scene.depth_um.min()), near + float(scene.depth_um.max())
    with Machine.build(cfg) as machine:
        t0 = time.perf_counter()
        machine.sequencer.find_range(near - MARGIN_UM, near + depth + MARGIN_UM)
        machine.sequencer.wait()
        took = time.perf_counter() - t0
        result = machine.sequencer.last_range()
    assert result is not None
    return {
        "near": true_near,
        "far": true_far,
        "start": float("nan") if result.start is None else result.start,
        "end": float("nan") if result.end is None else result.end,
        "frames": result.frames,
        "s": took,
    }


def main() -> int:
    tolerance = max(sim_dof_um(MachineConfig().camera.sim.blur_px_per_mm), 100.0)
    print(f"tolerance: {tolerance:g} um (one depth of field of the simulated lens, or 100 um)\n")
    print("| subject | true near..far (um) | found start..end (um) | error near / far (um) | frames | time (s) |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for subject, near, depth in CASES:
        r = one(subject, near, depth)
        e0, e1 = r["start"] - r["near"], r["end"] - r["far"]
        worst = max(worst, abs(e0), abs(e1))
        print(
            f"| {subject} {depth:g} um at {near:g} | {r['near']:.0f}..{r['far']:.0f} "
            f"| {r['start']:.0f}..{r['end']:.0f} "
            f"| {e0:+.0f} / {e1:+.0f} | {r['frames']:.0f} | {r['s']:.2f} |"
        )
    print(f"\nworst error: {worst:.0f} um ({'within' if worst <= tolerance else 'OUTSIDE'} {tolerance:g} um)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
