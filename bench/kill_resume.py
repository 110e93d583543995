#!/usr/bin/env python3
"""Random SIGKILLs during 50-frame runs, each followed by a restart of ``rig serve`` and a
Resume: every stack must end completed and verified (every planned frame listed once, every
listed file matching its sha256, no unlisted or temporary file left). A slice the coverage
check adds after the last one (``gap_fill``) is listed after them, numbered on.

    .venv/bin/python bench/kill_resume.py [--kills 200] [--frames 50] [--seed 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servekit import Client, Serve, write_config  # noqa: E402

from rig.recovery import OWN_FILES  # noqa: E402


def verify(folder: Path, frames: int) -> str | None:
    data = json.loads((folder / "stack.json").read_text())
    if data["outcome"] != "completed":
        return f"outcome {data['outcome']}"
    planned = [f["index"] for f in data["frames"] if not f.get("gap_fill")]
    if planned != list(range(1, frames + 1)):
        return f"planned frames are {planned}, not 1..{frames}"
    extra = [f["index"] for f in data["frames"] if f.get("gap_fill")]  # slices the coverage check added
    if extra != list(range(frames + 1, frames + 1 + len(extra))):
        return f"gap-fill frames numbered {extra}"
    for f in data["frames"]:
        if hashlib.sha256((folder / f["file"]).read_bytes()).hexdigest() != f["sha256"]:
            return f"{f['file']}: sha256 mismatch"
    listed = {f["file"] for f in data["frames"]} | OWN_FILES  # the manifest, coverage map, growing result
    extra = sorted(p.name for p in folder.iterdir() if p.name not in listed)
    dropped = {d["file"] for r in data.get("resumes", []) for d in r["dropped"]}
    if set(extra) - dropped:
        return f"unaccounted files {sorted(set(extra) - dropped)}"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--frames", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    ok = failed = recovered = gap_filled = 0
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rig-kill-") as work:
        cfg = write_config(Path(work), width=320, height=240)
        for n in range(1, args.kills + 1):
            serve = Serve(cfg)
            client = Client(serve.base)
            code, answer = client.call("POST", "/api/start", {"profile": {"slices": args.frames, "settle_s": 0.01}})
            assert code == 202, answer
            folder = Path(answer["status"]["folder"])
            kill_at = rng.randint(0, args.frames - 1)
            while client.status()["frames_saved"] < kill_at and client.status()["busy"]:
                time.sleep(rng.uniform(0, 0.01))
            serve.stop(signal.SIGKILL)
            serve = Serve(cfg)  # reconciles: interrupted, adopts a whole unlisted frame, removes temps
            recovered += sum("adopted (recovered)" in line for line in serve.output)
            client = Client(serve.base)
            sid = folder.relative_to(Path(work) / "stacks").as_posix()
            if json.loads((folder / "stack.json").read_text())["outcome"] != "completed":
                code, answer = client.call("POST", f"/api/stacks/{sid}/resume", {"position_confirmed": True})
                assert code == 202, answer
                client.wait_idle()
            serve.stop()
            why = verify(folder, args.frames)
            if why:
                failed += 1
                print(f"kill {n} at frame {kill_at}: NOT OK: {why}", flush=True)
            else:
                ok += 1
                gap_filled += any(f.get("gap_fill") for f in json.loads((folder / "stack.json").read_text())["frames"])
            if n % 10 == 0:
                print(f"{n} kills: {ok} complete and verified, {failed} not", flush=True)
    print(
        f"{args.kills} SIGKILLs during {args.frames}-frame runs, each restarted and resumed: {ok} complete and "
        f"verified, {failed} not; {recovered} restart(s) adopted a frame saved just before the kill; "
        f"{gap_filled} stack(s) got a gap-fill slice from the coverage check; "
        f"{time.monotonic() - t0:.0f} s"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
