#!/usr/bin/env python3
"""Soak: ``rig serve`` on the simulated rig runs stack after stack; prints its RSS, open files
and threads every few stacks, and the growth from the first sample to the last.

    .venv/bin/python bench/soak.py [--stacks 50] [--slices 10] [--size 1600x1200] [--env K=V ...]

``--env MALLOC_MMAP_THRESHOLD_=...`` etc. are passed to the server (to compare allocators).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servekit import Client, Serve, write_config  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stacks", type=int, default=50)
    ap.add_argument("--slices", type=int, default=10)
    ap.add_argument("--size", default="1600x1200")
    ap.add_argument("--every", type=int, default=5)
    ap.add_argument("--env", nargs="*", default=[])
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="rig-soak-") as work:
        cfg = write_config(Path(work), width=width, height=height)
        serve = Serve(cfg, env=dict(e.split("=", 1) for e in args.env))
        proc = psutil.Process(serve.pid)
        client = Client(serve.base)
        samples = []
        print(f"stacks  frames   RSS MB  open files  threads   ({args.slices} slices of {args.size} per stack)")
        try:
            for i in range(1, args.stacks + 1):
                code, answer = client.call("POST", "/api/start", {"profile": {"slices": args.slices, "settle_s": 0}})
                if code != 202:
                    raise RuntimeError(f"start refused: {answer}")
                status = client.wait_idle()
                if status["outcome"] != "completed":
                    raise RuntimeError(f"stack {i} ended {status['outcome']}: {status['error']}")
                if i % args.every == 0 or i == 1:
                    row = (i, i * args.slices, proc.memory_info().rss / 1e6, proc.num_fds(), proc.num_threads())
                    samples.append(row)
                    print(f"{row[0]:6d} {row[1]:7d} {row[2]:8.1f} {row[3]:11d} {row[4]:8d}", flush=True)
        finally:
            serve.stop()
        first, last = samples[0], samples[-1]
        print(
            f"RSS {first[2]:.1f} -> {last[2]:.1f} MB (growth {last[2] - first[2]:+.1f} MB after stack 1); "
            f"open files {first[3]} -> {last[3]}; threads {first[4]} -> {last[4]}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
