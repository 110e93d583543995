"""``rig merge-batch`` throughput: 20 small stacks merged with 1 and 2 local workers, and on a local
Dask cluster (a scheduler and 1, then 2, single-threaded worker processes), as a user runs it.

Prints stacks/minute per setup, the speed-ups, and whether the Dask results equal the local ones
(pixel for pixel). Targets (issue 17): 2 local workers >= 1.7x of 1; Dask with 2 workers >= 1.5x
of 1. Speed-ups need 2 idle cores: on a shared machine the figures say what the load allowed
(the load average is printed beside them).

    .venv/bin/python bench/merge_batch_bench.py [--stacks 20] [--slices 8] [--size 480x360] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
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


def report(setup: str, seconds: float, stacks: int, loads: list[float]) -> None:
    loads.append(os.getloadavg()[0])
    print(f"{setup}: {seconds:6.1f} s  {stacks * 60 / seconds:6.1f} stacks/min  (load {loads[-1]:.1f})", flush=True)


def snapshot(root: Path) -> dict[str, bytes]:
    import tifffile

    return {p.parent.name: tifffile.imread(p).tobytes() for p in sorted(root.rglob("merged.tif"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=20)
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--size", default="480x360", help="frame size WxH")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each setup (medians are printed)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    from tests.stack_factory import make_stack_folder

    tmp = Path(tempfile.mkdtemp(prefix="rig-batch-bench-"))
    try:
        root = tmp / "stacks"
        for i in range(args.stacks):
            make_stack_folder(root / f"s{i:03d}", slices=args.slices, size=(height, width), seed=i)
        print(f"{args.stacks} stacks of {args.slices} slices {width}x{height}; cores: {os.cpu_count()}")
        times: dict[str, list[float]] = {}
        loads: list[float] = []
        local: dict[str, bytes] = {}
        same = True
        for _rep in range(args.repeat):  # 1 and 2 workers back to back, so each pair saw the same load
            for workers in (1, 2):
                seconds = run_batch(root, "--workers", str(workers))
                times.setdefault(f"local {workers}", []).append(seconds)
                report(f"local, {workers} worker(s)", seconds, args.stacks, loads)
            local = local or snapshot(root)
            if args.no_dask:
                continue
            from distributed import LocalCluster

            for workers in (1, 2):
                with LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cluster:
                    seconds = run_batch(root, "--scheduler", cluster.scheduler_address)
                times.setdefault(f"dask {workers}", []).append(seconds)
                report(f"dask, {workers} worker(s)", seconds, args.stacks, loads)
                same = same and snapshot(root) == local
        print(f"medians of {args.repeat} run(s); load average (1 min) {min(loads):.1f} to {max(loads):.1f}:")
        for setup, runs in times.items():
            median = statistics.median(runs)
            print(f"  {setup} worker(s): {median:6.1f} s  {args.stacks * 60 / median:6.1f} stacks/min")
        for kind, target in (("local", 1.7), ("dask", 1.5)):
            if f"{kind} 2" not in times:
                continue
            ratio = statistics.median(times[f"{kind} 1"]) / statistics.median(times[f"{kind} 2"])
            pairs = [a / b for a, b in zip(times[f"{kind} 1"], times[f"{kind} 2"], strict=True)]
            print(
                f"{kind} speed-up 2 vs 1 worker: {ratio:.2f}x of the medians, per pair {min(pairs):.2f}x to "
                f"{max(pairs):.2f}x (target >= {target}x: {'met' if ratio >= target else 'NOT met'})"
            )
        if not args.no_dask:
            print(f"dask results equal the local ones: {same}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
