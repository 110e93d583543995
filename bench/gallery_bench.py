"""Gallery at scale: list, page and search 5,000 stacks through the web API of the simulated rig.

Makes N stack folders (stack.json + one small frame each) under a temporary output root, starts
the Flask app on the simulated rig (Flask's test client: the whole request path, without the
network), and prints the first page, a later page, a search and a filter's p50/p95 in ms. The
first listing builds the SQLite catalogue (printed separately); the targets (issue 17) are the
later ones: first page and search <= 300 ms p95.

    .venv/bin/python bench/gallery_bench.py [--stacks 5000] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def make_stacks(root: Path, count: int) -> None:
    from rig.manifest import FrameRecord, StackManifest
    from rig.specimen import Specimen

    genera = ["Carabus", "Papilio", "Apis", "Bombus", "Lucanus", "Cetonia", "Vespa", "Formica"]
    base = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    jpeg = _tiny_jpeg()
    for i in range(count):
        session = f"Drawer {i // 100:03d}"
        folder = root / session.replace(" ", "_") / f"stack-{i:05d}"
        folder.mkdir(parents=True)
        (folder / "0001.jpg").write_bytes(jpeg)
        started = (base + timedelta(minutes=7 * i)).isoformat(timespec="seconds")
        record = StackManifest(
            profile_name=["insects-5x", "jewellery", "herbarium"][i % 3],
            started=started,
            started_utc=started,
            outcome="completed",
            frames=(FrameRecord(index=0, position=0.0, file="0001.jpg", bytes=len(jpeg)),),
            specimen=Specimen(f"{genera[i % len(genera)]} sp. {i}", f"NHM-{i:06d}", None, session),
        )
        (folder / "stack.json").write_text(json.dumps(record.to_json()))


def _tiny_jpeg() -> bytes:
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))
    return buf.tobytes()


def timed(client, url: str, runs: int) -> tuple[float, float, dict]:
    times, data = [], {}
    for _ in range(runs):
        t0 = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.data[:200]
        data = response.get_json()
    times.sort()
    return statistics.median(times), times[max(0, int(round(0.95 * len(times))) - 1)], data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument(
        "--rescan-every-request",
        action="store_true",
        help="re-check every folder before every answer (by default: in the background, at most every 2 s)",
    )
    args = parser.parse_args()
    if args.rescan_every_request:
        import rig.web.catalogue

        rig.web.catalogue.RESCAN_AFTER_S = 0.0
        rig.web.catalogue.BACKGROUND = False
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
        root = Path(tmp) / "stacks"
        t0 = time.perf_counter()
        make_stacks(root, args.stacks)
        print(f"made {args.stacks} stacks in {time.perf_counter() - t0:.1f} s")

        import dataclasses

        from rig.config import MachineConfig
        from rig.machine import Machine
        from rig.web import create_app

        cfg = MachineConfig()
        cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, root=str(root), min_free_mb=0))
        with Machine.build(cfg, profiles_dir=Path(tmp) / "profiles") as machine:
            app = create_app(machine)
            client = app.test_client()
            t0 = time.perf_counter()
            first = client.get("/api/stacks?per_page=60")
            print(
                f"first listing (catalogue built from {args.stacks} stack.json): "
                f"{(time.perf_counter() - t0) * 1000:.0f} ms"
            )
            assert first.get_json()["total"] == args.stacks
            cases = {
                "first page (60)": "/api/stacks?per_page=60",
                "page 40 (60)": "/api/stacks?per_page=60&page=40",
                "search 'papilio 12'": "/api/stacks?per_page=60&q=papilio+12",
                "search catalogue no.": "/api/stacks?per_page=60&q=NHM-004321",
                "filter session+group": "/api/stacks?per_page=60&session=Drawer+017&group=specimen",
            }
            worst = 0.0
            for label, url in cases.items():
                p50, p95, data = timed(client, url, args.runs)
                worst = max(worst, p95) if "page 40" not in label and "filter" not in label else worst
                print(f"{label:<24} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({data['total']} match)")
            print(
                f"target: first page and search <= 300 ms p95: {'met' if worst <= 300 else 'NOT met'} ({worst:.0f} ms)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
