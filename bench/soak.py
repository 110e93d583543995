#!/usr/bin/env python3
"""Soak: ``rig serve`` on the simulated rig runs stack after stack; prints its RSS, open files
and threads every few stacks, and the growth from the first sample to the last.

    .venv/bin/python bench/soak.py [--stacks 50] [--slices 10] [--size 1600x1200] [--env K=V ...]
    .venv/bin/python bench/soak.py --frames 5000 --fault-captures 47 --fault-moves 113 --size 640x480

``--frames N`` runs until N frames are saved (instead of ``--stacks``). ``--fault-captures K`` /
``--fault-moves M`` make every K-th capture and every M-th move fail (``camera.sim.fail_every_captures``,
``rail.sim.fail_every_moves``): the stack then ends ``failed``, the soak resets the rig
(``POST /api/reset``) and goes on, so the safe-state path runs every few stacks.
``--env MALLOC_MMAP_THRESHOLD_=...`` etc. are passed to the server (to compare allocators).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servekit import Client, Serve, write_config  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stacks", type=int, default=50)
    ap.add_argument("--frames", type=int, default=0, help="run until this many frames are saved (0: --stacks)")
    ap.add_argument("--slices", type=int, default=10)
    ap.add_argument("--size", default="1600x1200")
    ap.add_argument("--every", type=int, default=5, help="print a sample every N stacks")
    ap.add_argument("--fault-captures", type=int, default=0, help="every K-th capture fails (0: none)")
    ap.add_argument("--fault-moves", type=int, default=0, help="every M-th move fails (0: none)")
    ap.add_argument("--env", nargs="*", default=[])
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rig-soak-") as work:
        cfg = write_config(
            Path(work),
            width=width,
            height=height,
            rail_extra=f"fail_every_moves = {args.fault_moves}",
        )
        if args.fault_captures:
            cfg.write_text(
                cfg.read_text().replace(
                    "[camera.sim]\n", f"[camera.sim]\nfail_every_captures = {args.fault_captures}\n"
                )
            )
        serve = Serve(cfg, env=dict(e.split("=", 1) for e in args.env))
        proc = psutil.Process(serve.pid)
        client = Client(serve.base)
        samples = []
        frames = faults = stacks = 0
        print(f"stacks  frames  faults   RSS MB  open files  threads   ({args.slices} slices of {args.size} per stack)")
        try:
            while (frames < args.frames) if args.frames else (stacks < args.stacks):
                stacks += 1
                code, answer = client.call("POST", "/api/start", {"profile": {"slices": args.slices, "settle_s": 0}})
                if code != 202:
                    raise RuntimeError(f"start refused: {answer}")
                status = client.wait_idle(timeout=1800)
                frames += status["frames_saved"]
                injected = "simulated" in (status["error"] or "") and (args.fault_captures or args.fault_moves)
                if status["outcome"] != "completed" and not injected:
                    raise RuntimeError(f"stack {stacks} ended {status['outcome']}: {status['error']}")
                if status["state"] == "fault":  # a fault mid-stack, or on the move back after it
                    if not injected:
                        raise RuntimeError(f"stack {stacks}: fault {status['error']}")
                    faults += 1
                    code, answer = client.call("POST", "/api/reset", {})
                    if code != 200:
                        raise RuntimeError(f"reset refused: {answer}")
                if stacks % args.every == 0 or stacks == 1:
                    rss = proc.memory_info().rss / 1e6
                    row = (stacks, frames, faults, rss, proc.num_fds(), proc.num_threads())
                    samples.append(row)
                    print(f"{row[0]:6d} {row[1]:7d} {row[2]:7d} {row[3]:8.1f} {row[4]:11d} {row[5]:8d}", flush=True)
        finally:
            serve.stop()
        first, last = samples[0], samples[-1]
        peak = max(s[3] for s in samples)
        print(
            f"{stacks} stacks, {frames} frames, {faults} faulted and reset; RSS {first[3]:.1f} -> {last[3]:.1f} MB "
            f"(growth {last[3] - first[3]:+.1f} MB after stack 1, peak {peak:.1f}); open files {first[4]} -> {last[4]} "
            f"(range {min(s[4] for s in samples)}-{max(s[4] for s in samples)}); threads {first[5]} -> {last[5]} "
            f"(range {min(s[5] for s in samples)}-{max(s[5] for s in samples)}); {time.monotonic() - t0:.0f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
