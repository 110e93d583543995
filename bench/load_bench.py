#!/usr/bin/env python3
"""Load (issue 15): viewers on the status stream (SSE, ``GET /api/events``) and the live view
(MJPEG, ``GET /live.mjpg``) of ``rig serve`` on the simulated rig while it shoots a stack; a
poller times ``GET /api/status`` the whole time. Prints p50/p99/max of those requests (target:
p99 < 100 ms with 20 viewers), what the viewers received, and checks that every frame of the
stack was saved (listed once, sha256 matching).

Each viewer is a page: one SSE stream and one MJPEG stream, so 20 viewers hold 40 server
threads (``web.threads`` is set to 56 here; the default 24 serves 8 such viewers).

    .venv/bin/python bench/load_bench.py [--viewers 20] [--slices 40] [--size 1600x1200] [--baseline]

``--baseline`` runs the same stack with no viewer and with one first: with none the simulated
camera renders no live view at all; one viewer starts the shared live-view loop; the step from one
to 20 is what the extra viewers cost.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servekit import Client, Serve, write_config  # noqa: E402


class Viewer(threading.Thread):
    """Reads one stream (SSE or MJPEG) until told to stop; counts events or frames."""

    def __init__(self, base: str, path: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        url = urlparse(base)
        self.host, self.port, self.path, self.stop = url.hostname, url.port, path, stop
        self.items = 0
        self.bytes = 0
        self.error = ""
        self.opened = threading.Event()

    def run(self) -> None:
        marker = b"event: " if self.path.startswith("/api/events") else b"--frame"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request("GET", self.path)
            r = conn.getresponse()
            if r.status != 200:
                self.error = f"HTTP {r.status}: {r.read()[:200]!r}"
                return
            self.opened.set()
            tail = b""
            while not self.stop.is_set():
                chunk = r.read1(65536)
                if not chunk:
                    self.error = "stream ended"
                    return
                self.bytes += len(chunk)
                data = tail + chunk
                self.items += data.count(marker)
                tail = data[-len(marker) :]
        except OSError as exc:
            self.error = str(exc)
        finally:
            self.opened.set()
            conn.close()


def time_status(base: str, stop: threading.Event, out: list[float], period_s: float) -> None:
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    while not stop.is_set():
        t0 = time.perf_counter()
        conn.request("GET", "/api/status")
        r = conn.getresponse()
        r.read()
        out.append((time.perf_counter() - t0) * 1000)
        if r.status != 200:
            raise RuntimeError(f"/api/status: HTTP {r.status}")
        time.sleep(period_s)
    conn.close()


def verify(folder: Path, slices: int) -> str:
    data = json.loads((folder / "stack.json").read_text())
    if data["outcome"] != "completed":
        return f"outcome {data['outcome']}: {data.get('error')}"
    if [f["index"] for f in data["frames"]] != list(range(1, slices + 1)):
        return "frames are not 1..N"
    for f in data["frames"]:
        if hashlib.sha256((folder / f["file"]).read_bytes()).hexdigest() != f["sha256"]:
            return f"{f['file']} does not match its sha256"
    return f"all {slices} frames saved and verified"


def one_run(cfg: Path, viewers: int, slices: int, settle_s: float) -> dict[str, object]:
    serve = Serve(cfg)
    stop = threading.Event()
    streams: list[Viewer] = []
    try:
        client = Client(serve.base)
        for _ in range(viewers):
            for path in ("/api/events", "/live.mjpg"):
                v = Viewer(serve.base, path, stop)
                v.start()
                streams.append(v)
        for v in streams:
            v.opened.wait(30)
        times: list[float] = []
        poller = threading.Thread(target=time_status, args=(serve.base, stop, times, 0.05), daemon=True)
        poller.start()
        time.sleep(1.0)  # the viewers settle in before the stack starts
        code, answer = client.call("POST", "/api/start", {"profile": {"slices": slices, "settle_s": settle_s}})
        if code != 202:
            raise RuntimeError(f"start refused: {answer}")
        folder = Path(answer["status"]["folder"])
        t0 = time.monotonic()
        cpu0 = sum(psutil.Process(serve.pid).cpu_times()[:2])
        client.wait_idle()
        took = time.monotonic() - t0
        cpu = sum(psutil.Process(serve.pid).cpu_times()[:2]) - cpu0
        stop.set()
        poller.join(30)
        for v in streams:
            v.join(5)
    finally:
        stop.set()
        serve.stop()
    q = statistics.quantiles(times, n=100, method="inclusive")
    sse = [v for v in streams if v.path.startswith("/api/events")]
    mjpeg = [v for v in streams if v.path == "/live.mjpg"]
    return {
        "viewers": viewers,
        "requests": len(times),
        "p50": q[49],
        "p99": q[98],
        "max": max(times),
        "stack_s": took,
        "cpu": cpu / took,  # the server's CPU use during the stack, in cores
        "sse_events": statistics.mean(v.items for v in sse) if sse else 0,
        "mjpeg_frames": statistics.mean(v.items for v in mjpeg) if mjpeg else 0,
        "mjpeg_mb": sum(v.bytes for v in mjpeg) / 1e6,
        "errors": sorted({v.error for v in streams if v.error and v.error != "stream ended"}),
        "frames": verify(folder, slices),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--viewers", type=int, default=20)
    ap.add_argument("--slices", type=int, default=40)
    ap.add_argument("--settle", type=float, default=0.2, help="settle_s per slice (the stack's length)")
    ap.add_argument("--size", default="1600x1200", help="full frame size of the simulated camera")
    ap.add_argument("--baseline", action="store_true", help="also run with 0 and 1 viewer first, for comparison")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    runs = []
    with tempfile.TemporaryDirectory(prefix="rig-load-") as work:
        cfg = write_config(Path(work), width=width, height=height, threads=56, max_live_viewers=max(24, args.viewers))
        for viewers in ([0, 1] if args.baseline else []) + [args.viewers]:
            runs.append(one_run(cfg, viewers, args.slices, args.settle))
            r = runs[-1]
            print(
                f"{r['viewers']:3d} viewers (SSE + MJPEG each): GET /api/status x{r['requests']}: "
                f"p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms; "
                f"stack {r['stack_s']:.1f} s, server CPU {r['cpu']:.2f} cores; "
                f"per viewer {r['sse_events']:.0f} SSE events, {r['mjpeg_frames']:.0f} MJPEG frames "
                f"({r['mjpeg_mb']:.0f} MB in all); {r['frames']}"
                + (f"; stream errors {r['errors']}" if r["errors"] else ""),
                flush=True,
            )
    last = runs[-1]
    ok = last["p99"] < 100 and str(last["frames"]).startswith("all") and not last["errors"]
    print(f"target p99 < 100 ms with {args.viewers} viewers, every frame saved: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
