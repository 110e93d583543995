"""``rig merge-batch`` throughput: 20 small stacks merged with 1 and 2 local workers, and on a local
Dask cluster (a scheduler and 1, then 2, single-threaded worker processes), as a user runs it.

Prints stacks/minute per setup, the speed-ups, and whether the Dask results equal the local ones
(pixel for pixel). Targets (issue 17): 2 local workers >= 1.7x of 1; Dask with 2 workers >= 1.5x
of 1. Speed-ups need 2 idle cores: on a shared machine the figures say what the load allowed
(the load average is printed beside them).

    .venv/bin/python bench/merge_batch_bench.py [--stacks 20] [--slices 8] [--size 480x360]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

RIG = [sys.executable, "-m", "rig.cli"]


def run_batch(root: Path, *extra: str) -> float:
    for merged in root.rglob("merged.tif"):  # every run merges every stack
        for name in ("merged.tif", "merged.jpg", "depth.png"):
            (merged.parent / name).unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = subprocess.run([*RIG, "merge-batch", str(root), *extra], capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if "--scheduler" not in extra:  # the Dask workers' CPU time is counted when the cluster ends
        print(f"    CPU {cpu:.1f} s in {seconds:.1f} s: {cpu / seconds:.2f} cores used (2 idle cores allow 2.0)")
    if result.returncode != 0:
        raise SystemExit(f"merge-batch failed: {result.stderr.strip().splitlines()[-1:]}")
    return seconds


def snapshot(root: Path) -> dict[str, bytes]:
    import tifffile

    return {p.parent.name: tifffile.imread(p).tobytes() for p in sorted(root.rglob("merged.tif"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=20)
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--size", default="480x360", help="frame size WxH")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    from tests.stack_factory import make_stack_folder

    tmp = Path(tempfile.mkdtemp(prefix="rig-batch-bench-"))
    try:
        root = tmp / "stacks"
        for i in range(args.stacks):
            make_stack_folder(root / f"s{i:03d}", slices=args.slices, size=(height, width), seed=i)
        print(f"{args.stacks} stacks of {args.slices} slices {width}x{height}; cores: {os.cpu_count()}")
        results: dict[str, float] = {}
        for workers in (1, 2):
            seconds = run_batch(root, "--workers", str(workers))
            results[f"local {workers}"] = seconds
            print(
                f"local, {workers} worker(s): {seconds:6.1f} s  {args.stacks * 60 / seconds:6.1f} stacks/min"
                f"  (load {os.getloadavg()[0]:.1f})"
            )
        local = snapshot(root)
        speedup = results["local 1"] / results["local 2"]
        print(
            f"local speed-up 2 vs 1 worker: {speedup:.2f}x (target >= 1.7x: {'met' if speedup >= 1.7 else 'NOT met'})"
        )
        if args.no_dask:
            return 0
        from distributed import LocalCluster

        for workers in (1, 2):
            with LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster:
                seconds = run_batch(root, "--scheduler", cluster.scheduler_address)
            results[f"dask {workers}"] = seconds
            print(
                f"dask, {workers} worker(s):  {seconds:6.1f} s  {args.stacks * 60 / seconds:6.1f} stacks/min"
                f"  (load {os.getloadavg()[0]:.1f})"
            )
        same = snapshot(root) == local
        speedup = results["dask 1"] / results["dask 2"]
        print(f"dask speed-up 2 vs 1 worker: {speedup:.2f}x (target >= 1.5x: {'met' if speedup >= 1.5 else 'NOT met'})")
        print(f"dask results equal the local ones: {same}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
