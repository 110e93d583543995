#!/usr/bin/env python3
"""Benchmark ``rig merge`` against enfuse + align_image_stack on synthetic stacks with ground truth.

    .venv/bin/python bench/merge_bench.py [--work DIR] [--only 1600x1200x20,...] [--no-peers] [--no-real]

Stacks are generated with ../shared/tools/synth_stack.py (cached in --work). Each merger runs as
a child process; wall time and peak RSS (the child and its children, via psutil polling) are
measured, then PSNR/SSIM against the truth with ``synth_stack.py eval``. The real stacks in
../shared/data/stacks/ are scored with ``score_merge.py`` (ours, the shipped reference merge,
and the best single slice). A peer that is not installed is skipped. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SYNTH = SHARED / "tools" / "synth_stack.py"
SCORE = SHARED / "tools" / "score_merge.py"
REAL = SHARED / "data" / "stacks"
# name: (width, height, slices, step blur px). synth_stack.py sets the defocus per unit depth so that
# the blur half-way between two neighbouring slices is the step blur: 0.8 px for 20 slices over the
# scene's depth. "1600x1200x80" is the same scene shot with 4x finer focus steps (0.2 px), the
# usual way a stack grows to 80 slices; "1600x1200x80-deep" keeps the 20-slice step (0.8 px), so
# its scene is 4x deeper in units of depth of field (blur up to 127 px at the far ends).
STACKS = {
    "1600x1200x20": (1600, 1200, 20, 0.8),
    "4000x3000x20": (4000, 3000, 20, 0.8),
    "1600x1200x80": (1600, 1200, 80, 0.2),
    "1600x1200x80-deep": (1600, 1200, 80, 0.8),
}

log = logging.getLogger("merge_bench")


def measure(cmd: list[str], cwd: Path | None = None) -> tuple[float, float, int, str]:
    """Run ``cmd``; return wall seconds, peak RSS MB, return code and stderr.

    Peak RSS is the larger of the process tree's summed RSS (sampled every 20 ms, catches
    concurrent children) and the kernel's exact high-water mark of the child and its reaped
    descendants (``wait4``; catches peaks between samples).
    """
    t0 = time.monotonic()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=cwd, env=env)
        ps = psutil.Process(proc.pid)
        peak = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                procs = [ps, *ps.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.02)
        wall = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak = max(peak, usage.ru_maxrss * 1024)
        err.seek(0)
        text = err.read().decode(errors="replace")
    return wall, peak / 2**20, proc.returncode, text


def machine() -> str:
    import platform

    import cv2
    import numpy as np

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}; {platform.machine()} {cpu}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GB RAM; Python {platform.python_version()}, "
        f"OpenCV {cv2.__version__}, numpy {np.__version__}"
    )


def gen(work: Path, name: str) -> Path:
    w, h, n, step_blur = STACKS[name]
    out = work / name
    meta = out / "meta.json"
    if meta.is_file() and json.loads(meta.read_text()).get("step_blur_px") != step_blur:
        shutil.rmtree(out)  # cached with other generator settings
    if not meta.is_file():
        cmd = [sys.executable, str(SYNTH), "gen", str(out), "--width", str(w), "--height", str(h), "--n", str(n)]
        subprocess.run([*cmd, "--step-blur", str(step_blur)], check=True, stdout=subprocess.DEVNULL)
    return out


def evaluate(stack: Path, fused: Path, frame: str = "auto") -> dict:
    r = subprocess.run(
        [sys.executable, str(SYNTH), "eval", str(stack), str(fused), "--json", "--frame", frame, "--oracle"],
        capture_output=True,
        text=True,
    )
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {}


def run_rig(slices: Path, out: Path) -> tuple[float, float, int, str]:
    return measure(
        [sys.executable, "-m", "rig.merge", str(slices), "-o", str(out), "--overwrite", "--progress", "none"]
    )


def run_enfuse(slices: Path, out: Path, tmp: Path) -> tuple[float, float, int, str] | None:
    ais, enf = shutil.which("align_image_stack"), shutil.which("enfuse")
    if not ais or not enf:
        return None
    files = sorted(glob.glob(str(slices / "*")))
    script = (
        f"{ais} -m -a {tmp}/al_ -c 16 -g 4 --use-given-order {' '.join(files)} >/dev/null && "
        f"{enf} --exposure-weight=0 --saturation-weight=0 --contrast-weight=1 --hard-mask "
        f"--contrast-window-size=5 -o {out} {tmp}/al_*.tif >/dev/null"
    )
    return measure(["sh", "-c", script])


def score_real(work: Path) -> list[str]:
    rows = []
    for stack in sorted(p for p in REAL.iterdir() if (p / "slices").is_dir()):
        out = work / f"real_{stack.name}.png"
        wall, rss, rc, err = run_rig(stack / "slices", out)
        if rc:
            rows.append(f"| {stack.name} | rig merge failed: {err.strip()[-120:]} | | | |")
            continue

        def score(img: Path, stack: Path = stack) -> float | None:
            with tempfile.NamedTemporaryFile(suffix=".json") as js:
                r = subprocess.run(
                    [sys.executable, str(SCORE), str(img), str(stack / "slices"), "--json", js.name, "--quiet"],
                    capture_output=True,
                    text=True,
                )
                try:
                    return float(json.load(open(js.name))["score"])
                except (OSError, KeyError, ValueError, json.JSONDecodeError):
                    log.warning("score failed for %s: %s", img, r.stderr.strip()[-200:])
                    return None

        ours = score(out)
        refs = sorted((stack / "reference").glob("*")) if (stack / "reference").is_dir() else []
        refs = [r for r in refs if "depth" not in r.name]
        ref = score(refs[0]) if refs else None
        singles = [s for s in (score(Path(f)) for f in sorted(glob.glob(str(stack / "slices" / "*")))) if s]
        best = max(singles) if singles else None
        fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        rows.append(f"| {stack.name} | {wall:.1f} | {rss:.0f} | {fmt(ours)} | {fmt(ref)} | {fmt(best)} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "rig-merge-bench")
    ap.add_argument("--only", default=",".join(STACKS), help="comma-separated stack names")
    ap.add_argument("--no-peers", action="store_true", help="skip enfuse")
    ap.add_argument("--no-real", action="store_true", help="skip the real stacks")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not SYNTH.is_file():
        log.error("synth_stack.py not found at %s", SYNTH)
        return 1
    a.work.mkdir(parents=True, exist_ok=True)
    print(machine())
    lines = [
        "| stack | merger | wall s | peak RSS MB | PSNR dB | SSIM | PSNR at depth edges dB | slice-oracle PSNR dB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in a.only.split(","):
        log.info("generating %s ...", name)
        stack = gen(a.work, name)
        out = a.work / f"{name}_rig.png"
        wall, rss, rc, err = run_rig(stack / "slices", out)
        ev = evaluate(stack, out) if rc == 0 else {}
        lines.append(
            f"| {name} | rig merge | {wall:.1f} | {rss:.0f} | {ev.get('psnr', 'fail')} | {ev.get('ssim', '-')} "
            f"| {ev.get('psnr_edge', '-')} | {ev.get('slice_oracle_psnr', '-')} |"
        )
        log.info(lines[-1])
        if not a.no_peers and STACKS[name][2] <= 20:  # enfuse on 80 slices: minutes, nothing new
            with tempfile.TemporaryDirectory(dir=a.work) as tmp:
                out_e = a.work / f"{name}_enfuse.tif"
                got = run_enfuse(stack / "slices", out_e, Path(tmp))
                if got is None:
                    lines.append(f"| {name} | enfuse + align_image_stack | not installed | | | | | |")
                else:
                    wall, rss, rc, err = got
                    ev = evaluate(stack, out_e) if rc == 0 else {}
                    lines.append(
                        f"| {name} | enfuse + align_image_stack | {wall:.1f} | {rss:.0f} | "
                        f"{ev.get('psnr', 'fail')} | {ev.get('ssim', '-')} | {ev.get('psnr_edge', '-')} | |"
                    )
                log.info(lines[-1])
    print("\n".join(lines))
    if not a.no_real and REAL.is_dir() and SCORE.is_file():
        print("\n| real stack | rig wall s | rig peak RSS MB | score rig | score reference merge | best single slice |")
        print("|---|---|---|---|---|---|")
        print("\n".join(score_real(a.work)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
