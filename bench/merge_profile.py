#!/usr/bin/env python3
"""Where a merge spends its time: wall and CPU seconds (all threads) per stage of one in-process merge.

    .venv/bin/python bench/merge_profile.py SLICES_DIR [-o OUT.png] [--no-refine] [--cprofile N]

Stages follow the merge's progress messages: ``focus`` (pass 1: decode, registration, focus
measure), then from the last focus slice to the first blended one ``depth map + blend 1``,
``blend`` (pass 2), ``noise model + refine 1``, ``refine`` (pass 3) and ``write`` (encoding and
writing the outputs). "cores" is CPU / wall: how many cores the stage kept
busy; "idle" the seconds the pool's threads were blocked with no part to run (neither on a core
nor queued for one: ``/proc/self/task/*/schedstat``), "queued" the seconds they were runnable but
waiting for a core (other jobs, or the merge's own extra threads), and the peak RSS of the stage
(sampled every 20 ms). ``RIG_CODE=DIR`` profiles the merge of another checkout (before/after
pairs with this script's columns). CPU time counts every thread of the process, so it is much
less sensitive to other jobs on the machine than the wall time. ``--cprofile N`` also prints the
N functions with the most main-thread time (cProfile; worker threads are not profiled).

The last line splits the CPU time by thread: the main thread outside the thread pool (serial
work), the pool's parts (``rig/merge/workers.py``, spread over the cores; since the third speed
round also the decoding and registration) and the rest (the noise model's thread, a one-thread
merge's decoder thread, OpenCV's own threads, which overlap the other two). On a loaded
machine wall times say little, but these do: on an idle one the merge takes about
main + pool / threads seconds if the rest fits beside the serial work, main + (pool + rest) /
threads if it competes with the pool (the line prints both; neither counts the interpreter's
start, ~0.5 s, which the bench's figures include).
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# RIG_CODE=/path/to/another/checkout profiles that checkout's merge (before/after comparisons)
sys.path.insert(0, os.environ.get("RIG_CODE", str(ROOT)))

from rig.merge import workers as merge_workers  # noqa: E402
from rig.merge.pipeline import MergeOptions, merge  # noqa: E402

# what runs after a stage's last slice, until the next stage's first slice is done
AFTER = {"focus": "depth map + blend 1", "blend": "noise model + refine 1", "refine": "write"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("slices", type=Path)
    ap.add_argument("-o", "--out", type=Path, default=None, help="output (default: a temporary PNG)")
    ap.add_argument("--no-refine", action="store_true", help="skip pass 3")
    ap.add_argument("--cprofile", type=int, default=0, metavar="N", help="print the N costliest functions")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    marks: list[tuple[str, float, float]] = [("setup", time.monotonic(), time.process_time())]
    sched: list[dict[int, tuple[float, float]]] = [_schedstat()]  # per mark: thread -> (on a core, queued) s

    def progress(_fraction: float, what: str) -> None:
        m = re.fullmatch(r"(focus|blend|refine) (\d+)/(\d+)", what)
        if m is None:
            return
        if marks[-1][0] != m[1]:
            marks.append((m[1], time.monotonic(), time.process_time()))
            sched.append(_schedstat())
        if m[2] == m[3]:  # the stage's last slice: what follows until the next stage's first slice
            marks.append((AFTER[m[1]], time.monotonic(), time.process_time()))
            sched.append(_schedstat())

    pool_cpu = [0.0, 0.0]  # parts run in the main thread, in the pool's threads
    pool_tids: set[int] = set()
    lock = threading.Lock()
    run = merge_workers.Workers.run

    def timed_run(self: merge_workers.Workers, fn: Any, parts: Any) -> Any:
        def timed(part: Any) -> Any:
            t = time.thread_time()
            try:
                return fn(part)
            finally:
                with lock:
                    inline = threading.current_thread() is threading.main_thread()  # one part, or one thread
                    pool_cpu[0 if inline else 1] += time.thread_time() - t
                    if not inline:
                        pool_tids.add(threading.get_native_id())

        return run(self, timed, parts)

    submit = getattr(merge_workers.Workers, "submit", None)  # absent in older checkouts

    def timed_submit(self: merge_workers.Workers, fn: Any, after: Any = ()) -> Any:
        assert submit is not None
        return submit(self, lambda: timed(fn)(None), after)

    def timed(fn: Any) -> Any:
        def part(arg: Any) -> Any:
            t = time.thread_time()
            try:
                return fn() if arg is None else fn(arg)
            finally:
                with lock:
                    inline = threading.current_thread() is threading.main_thread()
                    pool_cpu[0 if inline else 1] += time.thread_time() - t
                    if not inline:
                        pool_tids.add(threading.get_native_id())

        return part

    merge_workers.Workers.run = timed_run  # type: ignore[method-assign]
    if submit is not None:
        merge_workers.Workers.submit = timed_submit  # type: ignore[method-assign]
    rss_peaks = [0.0]  # MB, per stage (the last entry: the running stage)
    sampling = threading.Event()

    def sample_rss() -> None:  # every 20 ms, the process's resident set
        while not sampling.wait(0.02):
            while len(rss_peaks) < len(marks):
                rss_peaks.append(0.0)
            rss_peaks[-1] = max(rss_peaks[-1], _rss_mb())

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    main0 = time.thread_time()
    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or Path(tmp) / "out.png"
        prof = cProfile.Profile() if a.cprofile else None
        if prof is not None:
            prof.enable()
        merge(a.slices, out, MergeOptions(overwrite=True, refine=not a.no_refine), progress=progress)
        if prof is not None:
            prof.disable()
    sampling.set()
    sampler.join()
    marks.append(("end", time.monotonic(), time.process_time()))
    sched.append(_schedstat())
    rss_peaks += [0.0] * (len(marks) - len(rss_peaks))
    main_cpu = time.thread_time() - main0
    print("| stage | wall s | CPU s | cores | pool threads: idle s | queued s | peak RSS MB |")
    print("|---|---|---|---|---|---|---|")
    total_w = total_c = total_idle = total_queued = 0.0
    pool_threads = sorted(pool_tids)[: merge_workers.thread_count()]  # the merge's pool (not the PNG encoder's)
    for (name, w0, c0), (_, w1, c1), s0, s1, rss in zip(marks, marks[1:], sched, sched[1:], rss_peaks, strict=False):
        wall, cpu = w1 - w0, c1 - c0
        alive = [t for t in pool_threads if t in s0 and t in s1]  # the pool ends with the merge
        ran = sum(s1[t][0] - s0[t][0] for t in alive)
        queued = sum(s1[t][1] - s0[t][1] for t in alive)
        idle = max(0.0, wall * len(alive) - ran - queued)
        total_w, total_c, total_idle, total_queued = (
            total_w + wall,
            total_c + cpu,
            total_idle + idle,
            total_queued + queued,
        )
        print(
            f"| {name} | {wall:.2f} | {cpu:.2f} | {cpu / max(wall, 1e-9):.2f} | {idle:.2f} | {queued:.2f} | {rss:.0f} |"
        )
    print(
        f"| total | {total_w:.2f} | {total_c:.2f} | {total_c / max(total_w, 1e-9):.2f} "
        f"| {total_idle:.2f} | {total_queued:.2f} | {max(rss_peaks):.0f} |"
    )
    threads = merge_workers.thread_count()
    main_only, pool = main_cpu - pool_cpu[0], pool_cpu[0] + pool_cpu[1]
    rest = total_c - main_only - pool
    low = max(main_only + pool / threads, total_c / threads)  # the rest fits beside the serial work
    high = main_only + (pool + rest) / threads  # the rest competes with the pool's parts
    print(
        f"\nCPU s: main thread {main_only:.2f}, pool parts {pool:.2f} ({threads} threads), "
        f"decoder and OpenCV threads {rest:.2f}; idle-machine estimate: {low:.1f}-{high:.1f} s wall "
        f"({total_c / high:.2f}-{total_c / low:.2f} cores)"
    )
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(a.cprofile)
    return 0


def _rss_mb() -> float:
    """This process's resident set now (``/proc/self/status``; 0 where the kernel does not say)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def _schedstat() -> dict[int, tuple[float, float]]:
    """Per thread of this process: seconds on a core and seconds runnable but queued for one
    (``/proc/self/task/*/schedstat``; empty where the kernel does not say)."""
    out = {}
    for task in Path("/proc/self/task").glob("*"):
        try:
            ran, queued, _ = (int(v) for v in (task / "schedstat").read_text().split())
        except (OSError, ValueError):
            continue
        out[int(task.name)] = (ran / 1e9, queued / 1e9)
    return out


if __name__ == "__main__":
    sys.exit(main())
