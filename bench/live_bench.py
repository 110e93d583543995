#!/usr/bin/env python3
"""Live view on the simulated rig: frames per second at the Focus page's sizes and the latency
from a jog to a changed picture (issue 13's targets: >= 15 fps whole, >= 10 fps magnified,
<= 300 ms jog to picture).

    .venv/bin/python bench/live_bench.py [--seconds 5]

A real server (waitress) on 127.0.0.1 with the default simulated camera (1600x1200, previews of
400x300, which the 800x480 touchscreen shows at about 470x350). The stream is read as a browser
reads it (MJPEG over HTTP). Latency: a jog of 100 um (instant moves, so the time is the live
view's), then the time until a frame arrives that differs clearly from the one before the jog.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rig.config import MachineConfig  # noqa: E402
from rig.machine import Machine  # noqa: E402
from rig.web import create_app  # noqa: E402


def frames(port: int, path: str) -> Iterator[tuple[float, bytes]]:
    """(arrival time, JPEG) for each part of an MJPEG stream."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    try:
        while True:
            line = resp.readline()
            if not line:
                return
            if line.lower().startswith(b"content-length:"):
                size = int(line.split(b":")[1])
                resp.readline()
                data = resp.read(size)
                yield time.perf_counter(), data
    finally:
        conn.close()


def fps(port: int, path: str, seconds: float) -> tuple[float, str]:
    count, shape, t0 = 0, "", None
    for t, data in frames(port, path):
        if t0 is None:
            t0 = t
            shape = "x".join(map(str, cv2.imdecode(np.frombuffer(data, np.uint8), 1).shape[1::-1]))
            continue
        count += 1
        if t - t0 >= seconds:
            return count / (t - t0), shape
    return 0.0, shape


def jog_latency(port: int, machine: Machine, trials: int = 5) -> list[float]:
    out: list[float] = []
    stream = frames(port, "/live/view.mjpg?zoom=1")
    for i in range(trials):
        for _ in range(3):
            _, before = next(stream)
        ref = cv2.imdecode(np.frombuffer(before, np.uint8), 0).astype(np.float32)
        asked = time.perf_counter()
        machine.sequencer.jog(delta=300.0 if i % 2 == 0 else -300.0)
        for t, data in stream:
            img = cv2.imdecode(np.frombuffer(data, np.uint8), 0).astype(np.float32)
            if float(np.mean(np.abs(img - ref))) > 2.0:  # noise alone stays well under 1 grey level
                out.append(t - asked)
                break
        machine.sequencer.wait()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    from waitress.server import create_server

    base = MachineConfig()
    tmp = Path(tempfile.mkdtemp())
    cfg = dataclasses.replace(base, output=dataclasses.replace(base.output, root=str(tmp / "stacks"), min_free_mb=0))
    machine = Machine.build(cfg, profiles_dir=tmp / "profiles")
    machine.sequencer.jog(target=700.0)  # the coin's middle in focus: detail to see
    machine.sequencer.wait()
    machine.camera.preview()  # the scene is made at the first frame (seconds on a loaded machine): not timed
    app = create_app(machine)
    srv = create_server(app, host="127.0.0.1", port=0, threads=8)
    threading.Thread(target=srv.run, daemon=True).start()
    port = srv.effective_port
    print("| view | frame | fps |\n|---|---|---|")
    for label, path in (
        ("whole frame (Fit)", "/live/view.mjpg?zoom=1"),
        ("magnified 2x", "/live/view.mjpg?zoom=2&x=0.5&y=0.5"),
        ("magnified 100 % (4x)", "/live/view.mjpg?zoom=4&x=0.5&y=0.5"),
        ("magnified 8x + peaking", "/live/view.mjpg?zoom=8&x=0.5&y=0.5&peaking=1"),
    ):
        rate, shape = fps(port, path, args.seconds)
        print(f"| {label} | {shape} | {rate:.1f} |")
    lat = jog_latency(port, machine)
    print(
        f"\njog to changed picture: median {1000 * float(np.median(lat)):.0f} ms, worst {1000 * max(lat):.0f} ms "
        f"({len(lat)} jogs)"
    )
    app.extensions["rig"].shutdown()
    srv.close()
    machine.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
