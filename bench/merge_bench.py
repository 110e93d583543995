#!/usr/bin/env python3
"""Benchmark ``rig merge`` against focus-stack (and enfuse) on synthetic stacks with ground truth.

    .venv/bin/python bench/merge_bench.py [--work DIR] [--only NAME,...] [--set tune|heldout|synth|all]
                                          [--no-peers] [--enfuse] [--no-real] [--focus-stack PATH]
                                          [--repeat N [--repeat-only NAME,...]]

Stacks: the realistic ones of bench/realistic_stack.py (layered occlusion, aperture bokeh,
speculars, fibres, Poisson-Gaussian noise) and the Gaussian-blur ones of
../shared/tools/synth_stack.py, generated once and cached in --work. Each merger runs as a
child process; wall time and peak RSS (the child and its children) are measured, then PSNR/SSIM
against the truth (overall and in the occlusion-edge band) with ``synth_stack.py eval``. The
real stacks in ../shared/data/stacks/ are scored with ``score_merge.py`` for rig and the peer.
focus-stack is built by ../shared/tools/build_focus_stack.sh into /work/build/focus-stack (or
--focus-stack); when it is missing the bench says so and runs rig alone. Prints Markdown tables.
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
from typing import NamedTuple

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

# name: (family, seed, width, height, slices, held out). The held-out ones (a seed and a whole
# family) were never looked at while the merge was tuned.
REALISTIC = {
    "coins-2mpx25": ("coins", 1, 1600, 1200, 25, False),
    "pcb-2mpx25": ("pcb", 1, 1600, 1200, 25, False),
    "leaves-2mpx25": ("leaves", 1, 1600, 1200, 25, False),
    "fibres-2mpx80": ("fibres", 1, 1600, 1200, 80, False),
    "pcb-12mpx20": ("pcb", 2, 4000, 3000, 20, False),
    "coins-seed7-2mpx25": ("coins", 7, 1600, 1200, 25, True),
    "minerals-2mpx25": ("minerals", 3, 1600, 1200, 25, True),
    "minerals-2mpx80": ("minerals", 4, 1600, 1200, 80, True),
}
SETS = {
    "tune": [k for k, v in REALISTIC.items() if not v[5] and v[2] < 4000],
    "heldout": [k for k, v in REALISTIC.items() if v[5]],
    "synth": list(STACKS),
}
SETS["all"] = [*REALISTIC, *STACKS]
GENERATOR = Path(__file__).resolve().parent / "realistic_stack.py"
FOCUS_STACK = Path("/work/build/focus-stack/build/focus-stack")
BUILD_FS = SHARED / "tools" / "build_focus_stack.sh"

log = logging.getLogger("merge_bench")


class Run(NamedTuple):
    wall: float  # s
    rss: float  # peak, MB
    rc: int
    err: str  # stderr
    cpu: float  # s of CPU (user + system) of the process and its reaped children


def measure(cmd: list[str], cwd: Path | None = None) -> Run:
    """Run ``cmd``; return wall seconds, peak RSS MB, return code, stderr and CPU seconds. The CPU
    time is much less sensitive to other jobs on the machine than the wall time.

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
    return Run(wall, peak / 2**20, proc.returncode, text, usage.ru_utime + usage.ru_stime)


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
    if name in REALISTIC:
        family, seed, w, h, n, _ = REALISTIC[name]
        out = work / name
        if not (out / "meta.json").is_file():
            cmd = [sys.executable, str(GENERATOR), str(out), "--family", family, "--seed", str(seed)]
            cmd += ["--width", str(w), "--height", str(h), "--n", str(n)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return out
    w, h, n, step_blur = STACKS[name]
    out = work / name
    meta = out / "meta.json"
    if meta.is_file() and json.loads(meta.read_text()).get("step_blur_px") != step_blur:
        shutil.rmtree(out)  # cached with other generator settings
    if not meta.is_file():
        cmd = [sys.executable, str(SYNTH), "gen", str(out), "--width", str(w), "--height", str(h), "--n", str(n)]
        subprocess.run([*cmd, "--step-blur", str(step_blur)], check=True, stdout=subprocess.DEVNULL)
    return out


def evaluate(stack: Path, fused: Path) -> dict:
    """PSNR/SSIM in the frame ``synth_stack.py eval`` detects and in the reference (middle) slice's
    frame, which rig and focus-stack both use by default; the better of the two counts (the
    detection is unreliable on dark, low-texture outputs)."""
    best: dict = {}
    for frame in ("auto", "ref"):
        r = subprocess.run(
            [sys.executable, str(SYNTH), "eval", str(stack), str(fused), "--json", "--frame", frame, "--oracle"],
            capture_output=True,
            text=True,
        )
        try:
            got = json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            continue
        if got.get("psnr", -1) > best.get("psnr", -1):
            best = got
    return best


def run_rig(slices: Path, out: Path) -> Run:
    return measure(
        [sys.executable, "-m", "rig.merge", str(slices), "-o", str(out), "--overwrite", "--progress", "none"]
    )


def find_focus_stack(path: Path | None) -> tuple[Path | None, str]:
    """The focus-stack binary (built on demand), or None and why not."""
    exe = path or FOCUS_STACK
    if exe.is_file():
        return exe, ""
    if path is None and BUILD_FS.is_file():
        r = subprocess.run(["bash", str(BUILD_FS), str(exe.parents[1])], capture_output=True, text=True)
        if r.returncode == 0 and exe.is_file():
            return exe, ""
        return None, f"focus-stack could not be built: {(r.stderr or r.stdout).strip()[-200:]}"
    return None, f"focus-stack not found at {exe}"


def run_focus_stack(exe: Path, slices: Path, out: Path) -> Run:
    files = sorted(glob.glob(str(slices / "*")))
    with tempfile.TemporaryDirectory() as tmp:  # it writes nothing else, but keep its cwd clean
        return measure([str(exe), "--align-keep-size", f"--output={out}", *files], cwd=Path(tmp))


def run_enfuse(slices: Path, out: Path, tmp: Path) -> Run | None:
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


def score(img: Path, stack: Path) -> float | None:
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


def score_real(work: Path, fs: Path | None, singles: bool) -> list[str]:
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    rows = []
    for stack in sorted(p for p in REAL.iterdir() if (p / "slices").is_dir()):
        cells = []
        for merger in ("rig", "focus-stack"):
            out = work / f"real_{stack.name}_{merger}.png"
            if merger == "rig":
                got = run_rig(stack / "slices", out)
            elif fs is not None:
                got = run_focus_stack(fs, stack / "slices", out)
            else:
                cells += ["-", "-", "-", "-"]
                continue
            ok = fmt(score(out, stack)) if got.rc == 0 else f"failed ({got.err[-80:]})"
            cells += [f"{got.wall:.1f}", f"{got.cpu:.1f}", f"{got.rss:.0f}", ok]
        refs = sorted((stack / "reference").glob("*")) if (stack / "reference").is_dir() else []
        refs = [r for r in refs if "depth" not in r.name]
        ref = score(refs[0], stack) if refs else None
        best = None
        if singles:
            got = [v for v in (score(Path(f), stack) for f in sorted(glob.glob(str(stack / "slices" / "*")))) if v]
            best = max(got) if got else None
        rows.append(f"| {stack.name} | {' | '.join(cells)} | {fmt(ref)} | {fmt(best)} |")
        log.info(rows[-1])
    return rows


def row(name: str, merger: str, got: Run, ev: dict, oracle: bool) -> str:
    if got.rc:
        return f"| {name} | {merger} | failed: {got.err.strip()[-100:]} | | | | | | |"
    o = ev.get("slice_oracle_psnr", "-") if oracle else ""
    return (
        f"| {name} | {merger} | {got.wall:.1f} | {got.cpu:.1f} | {got.rss:.0f} "
        f"| {ev.get('psnr', 'fail')} | {ev.get('ssim', '-')} "
        f"| {ev.get('psnr_edge', '-')} | {o} |"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "rig-merge-bench")
    ap.add_argument("--only", default="", help="comma-separated stack names (overrides --set)")
    ap.add_argument("--set", choices=sorted(SETS), default="all", help="which stacks (default all)")
    ap.add_argument("--repeat", type=int, default=1, help="run each merger N times in turn (noisy machines)")
    ap.add_argument("--repeat-only", default="", help="comma-separated stacks that --repeat applies to (default all)")
    ap.add_argument("--no-peers", action="store_true", help="rig merge only")
    ap.add_argument("--enfuse", action="store_true", help="also enfuse + align_image_stack (20-slice synth stacks)")
    ap.add_argument("--no-real", action="store_true", help="skip the real stacks")
    ap.add_argument("--singles", action="store_true", help="also score every single slice of the real stacks")
    ap.add_argument("--focus-stack", type=Path, default=None, help="focus-stack binary (default: build it)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not SYNTH.is_file():
        log.error("synth_stack.py not found at %s", SYNTH)
        return 1
    a.work.mkdir(parents=True, exist_ok=True)
    fs, why = (None, "peers skipped (--no-peers)") if a.no_peers else find_focus_stack(a.focus_stack)
    print(machine())
    if fs is None:
        print(f"NOTE: {why}; rig merge runs alone")
    lines = [
        "| stack | merger | wall s | CPU s | peak RSS MB | PSNR dB | SSIM | PSNR occl. edges dB "
        "| slice-oracle PSNR dB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    names = a.only.split(",") if a.only else SETS[a.set]
    for name in names:
        log.info("generating %s ...", name)
        stack = gen(a.work, name)
        for rep in range(a.repeat if name in a.repeat_only.split(",") or not a.repeat_only else 1):
            label = name if rep == 0 else f"{name}, run {rep + 1}"
            out = a.work / f"{name}_rig.png"
            got = run_rig(stack / "slices", out)
            lines.append(row(label, "rig merge", got, evaluate(stack, out) if got.rc == 0 else {}, True))
            log.info(lines[-1])
            if fs is not None:
                out_f = a.work / f"{name}_focus-stack.png"
                got = run_focus_stack(fs, stack / "slices", out_f)
                lines.append(row(label, "focus-stack", got, evaluate(stack, out_f) if got.rc == 0 else {}, False))
                log.info(lines[-1])
        if a.enfuse and name in STACKS and STACKS[name][2] <= 20:  # enfuse on 80 slices: minutes
            with tempfile.TemporaryDirectory(dir=a.work) as tmp:
                out_e = a.work / f"{name}_enfuse.tif"
                got = run_enfuse(stack / "slices", out_e, Path(tmp))
                if got is None:
                    lines.append(f"| {name} | enfuse + align_image_stack | not installed | | | | | | |")
                else:
                    lines.append(row(name, "enfuse + align_image_stack", got, evaluate(stack, out_e), False))
                log.info(lines[-1])
    print("\n".join(lines))
    if not a.no_real and REAL.is_dir() and SCORE.is_file():
        print(
            "\n| real stack | rig wall s | rig CPU s | rig peak RSS MB | score rig "
            "| focus-stack wall s | focus-stack CPU s | focus-stack peak RSS MB "
            "| score focus-stack | score reference merge | best single slice |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(score_real(a.work, fs, a.singles)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
