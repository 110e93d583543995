#!/usr/bin/env python3
"""What the per-frame checks (issue 14) add to the time per slice, on the simulated rig.

    .venv/bin/python bench/check_overhead.py [--size 1600x1200] [--slices 20] [--repeat 3]

Runs the same stack with ``check_frames = false`` and ``true`` (settle 0, instant moves, no
faults), alternating, and prints the median time per slice of each and the overhead. The target
(issue 14): at most 10 % at 1600x1200. The sim camera's rendering stands in for the camera's
exposure and download, which on a real body takes far longer, so the real overhead is smaller.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rig.config import CameraConfig, MachineConfig, OutputConfig, Profile, RailConfig, SimCameraConfig, SimRailConfig
from rig.machine import Machine


def per_slice_s(machine: Machine, slices: int, checks: bool) -> float:
    profile = Profile(slices=slices, step_um=75, settle_s=0, check_frames=checks, return_to_start=True)
    t0 = time.perf_counter()
    machine.sequencer.start(profile, "bench")
    status = machine.sequencer.wait(600)
    if status.outcome is None or status.outcome.value != "completed":
        raise SystemExit(f"bench run ended {status.state.value}: {status.error}")
    return (time.perf_counter() - t0) / slices


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1600x1200")
    ap.add_argument("--slices", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as out:
        cfg = MachineConfig(
            rail=RailConfig(sim=SimRailConfig(start_um=200)),
            camera=CameraConfig(sim=SimCameraConfig(width=width, height=height)),
            output=OutputConfig(root=out, min_free_mb=0),
        )
        with Machine.build(cfg) as machine:
            machine.camera.capture()  # build the scene once, outside the timings
            times: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.repeat):
                for checks in (False, True):
                    times[checks].append(per_slice_s(machine, args.slices, checks))
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print("| frame size | slices | per slice, checks off | per slice, checks on | overhead |")
    print("|---|---|---|---|---|")
    overhead = (on / off - 1) * 100
    print(f"| {width}x{height} | {args.slices} | {off * 1000:.0f} ms | {on * 1000:.0f} ms | {overhead:+.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
