#!/usr/bin/env python3
"""Fault matrix (issue 15): every fault the simulated rig and the test fakes can inject, at the
first, a middle and the last slice of a run; then the stack is resumed to the end. For each cell:

* frames **lost**: a frame the run had saved (listed in ``stack.json`` after the fault, or
  counted in the run's status) that is missing, changed or no longer listed after the resume;
* frames **overwritten**: any file in the folder after the fault whose bytes, inode or mtime
  differ after the resume (a new shot never takes an existing name);
* **unaccounted** files: a file in the folder that ``stack.json`` does not list (neither a frame,
  nor the run's own files, nor a frame the resume dropped), after the fault and after the resume;
* **running**: ``stack.json`` still says ``running`` once the process (or the run) has ended; after
  a SIGKILL nothing can write it, so that column is read after the restart that reconciles it.

Faults: ``rail`` (``rail.sim.fail_after_moves``), ``unplug`` / ``timeout`` / ``card_full`` (the gphoto
backend on libgphoto2's virtual camera, tests/harness/camera_gphoto.py), ``disk_full`` (a real
full disk: a small tmpfs, needs root), ``sigkill`` / ``sigterm`` (``rig serve`` child processes,
restarted and resumed through the API).

    .venv/bin/python bench/fault_matrix.py [--slices 5] [--faults rail unplug ...] [--where first last]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

FAULTS = ("rail", "unplug", "timeout", "card_full", "disk_full", "sigkill", "sigterm")
WHERE = ("first", "middle", "last")
SIZE = (160, 120)  # tiny frames: the matrix is about files, not pixels


def prepare_virtual_camera() -> None:
    """libgphoto2's virtual camera reads VCAMERADIR once, when gphoto2 is imported; every capture
    returns a copy of the first JPEG there (as tests/conftest.py sets it up)."""
    if os.environ.get("VCAMERADIR"):
        return
    import cv2
    import numpy as np

    folder = Path(tempfile.mkdtemp(prefix="rig-vcamera-"))
    img = (np.random.default_rng(7).random((120, 160, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(folder / "vcam0001.jpg"), img)
    os.environ["VCAMERADIR"] = str(folder)


@dataclass
class Cell:
    fault: str
    where: str
    slice: int  # the slice the fault was aimed at (1-based)
    slices: int
    saved_at_fault: int = 0  # frames listed in stack.json after the fault
    outcome_at_fault: str = ""
    running_left: int = 0
    lost: int = 0
    overwritten: int = 0
    unaccounted: list[str] = field(default_factory=list)
    final: str = ""  # outcome after the resume
    seconds: float = 0.0
    note: str = ""

    @property
    def ok(self) -> bool:
        return (
            not self.running_left
            and not self.lost
            and not self.overwritten
            and not self.unaccounted
            and self.final == "completed"
        )


def aimed_slice(where: str, slices: int) -> int:
    return {"first": 1, "middle": (slices + 1) // 2, "last": slices}[where]


# ---------------------------------------------------------------------------------- file checks
def snapshot(folder: Path) -> dict[str, tuple[str, int, int]]:
    """Every file in the folder but the run's own (the manifest, the coverage map and the growing
    result are rewritten as the run goes on): sha256, inode, mtime."""
    from rig.recovery import OWN_FILES

    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name not in OWN_FILES:
            st = p.stat()
            sha = hashlib.sha256(p.read_bytes()).hexdigest()
            out[p.relative_to(folder).as_posix()] = (sha, st.st_ino, st.st_mtime_ns)
    return out


def manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "stack.json").read_text())


def listed_frames(data: dict[str, Any]) -> dict[str, str]:
    """file -> sha256 of every file stack.json lists (frames and their companions)."""
    out = {}
    for f in data["frames"]:
        for part in [f, *f.get("companions", [])]:
            if part.get("file"):
                out[part["file"]] = part["sha256"]
    return out


def unaccounted(folder: Path, data: dict[str, Any]) -> list[str]:
    from rig.recovery import OWN_FILES

    known = set(listed_frames(data)) | {"stack.json"}
    known |= {d["file"] for r in data.get("resumes", []) for d in r.get("dropped", []) if d.get("file")}
    rejected = {s["file"] for f in data["frames"] for s in (f.get("checks") or {}).get("rejected", []) if "file" in s}
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    return sorted(f for f in files if f not in known and f not in rejected and Path(f).name not in OWN_FILES)


def damaged(folder: Path, data: dict[str, Any]) -> list[str]:
    bad = []
    for name, sha in listed_frames(data).items():
        path = folder / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != sha:
            bad.append(name)
    return bad


def after_fault(cell: Cell, folder: Path, reported_saved: int) -> tuple[dict[str, str], dict[str, Any]]:
    data = manifest(folder)
    cell.outcome_at_fault = data["outcome"]
    cell.running_left = int(data["outcome"] == "running")
    listed = listed_frames(data)
    cell.saved_at_fault = len(data["frames"])
    cell.lost += len(damaged(folder, data)) + max(0, reported_saved - len(data["frames"]))
    cell.unaccounted += unaccounted(folder, data)
    return listed, snapshot(folder)


def after_resume(cell: Cell, folder: Path, listed_before: dict[str, str], files_before: dict[str, Any]) -> None:
    data = manifest(folder)
    cell.final = data["outcome"]
    cell.running_left += int(data["outcome"] == "running")
    now = listed_frames(data)
    cell.lost += sum(1 for name, sha in listed_before.items() if now.get(name) != sha) + len(damaged(folder, data))
    if data["outcome"] == "completed" and [f["index"] for f in data["frames"]] != list(range(1, cell.slices + 1)):
        cell.lost += 1
        cell.note += "frames not 1..N; "
    files_now = snapshot(folder)
    changed = [name for name, seen in files_before.items() if files_now.get(name) != seen]
    cell.overwritten = len(changed)
    if changed:
        cell.note += f"changed: {changed}; "
    cell.unaccounted += [f"{u} (after resume)" for u in unaccounted(folder, data)]


# ------------------------------------------------------------------- in-process faults (Machine)
def machine_config(root: Path, rail_sim: dict[str, Any] | None = None, camera: dict[str, Any] | None = None):
    from rig.config import MachineConfig
    from rig.config.schema import from_table

    table = {
        "rail": {"backend": "sim", "sim": {"time_scale": 0.0, "start_um": 500.0, **(rail_sim or {})}},
        "camera": camera or {"backend": "sim", "sim": {"width": SIZE[0], "height": SIZE[1]}},
        "output": {"root": str(root), "min_free_mb": 0},
    }
    return from_table(MachineConfig, table, "fault-matrix")


@contextmanager
def built(cfg: Any, camera_fault: tuple[int, str] | None = None, gphoto: bool = False) -> Iterator[Any]:
    """A Machine on ``cfg``; on the gphoto backend, a fresh virtual camera (with ``camera_fault``)."""
    from rig.machine import Machine

    if not gphoto:
        with Machine.build(cfg) as m:
            yield m
        return
    from tests.harness.camera_gphoto import GphotoControl, forget_earlier_virtual_cameras, release_virtual_camera

    forget_earlier_virtual_cameras()
    ctl = GphotoControl(focus=False, drive_s=0)
    if camera_fault:
        ctl.fault_at_capture(*camera_fault)
    m = Machine.build(cfg, camera_kwargs={"camera_factory": ctl.factory, "timeout_s": 2.0})  # a loaded machine
    try:
        yield m
    finally:
        ctl.released.set()
        m.close()
        release_virtual_camera(ctl)


def profile(slices: int):
    from rig.config import Profile

    return Profile(slices=slices, step_um=50, start_um=1000, settle_s=0)


def in_process_cell(cell: Cell, work: Path, disk: Path | None = None) -> None:
    """Run 1 with the fault (a Machine in this process), checks, run 2 resumes without it."""
    root = (disk or work) / "stacks"
    gphoto = cell.fault in ("unplug", "timeout", "card_full")
    from tests.harness.camera_gphoto import CONFIG as GPHOTO

    camera = GPHOTO if gphoto else None
    rail_sim = {"fail_after_moves": cell.slice} if cell.fault == "rail" else {}
    fault = (cell.slice, cell.fault) if gphoto else None
    cfg_fault = machine_config(root, rail_sim, camera)
    if disk is not None:
        fill_to_fault(disk, cell)
    with built(cfg_fault, fault, gphoto) as m:
        m.sequencer.start(profile(cell.slices), "fault-matrix")
        status = m.sequencer.wait(60)
        if status.busy:
            raise RuntimeError(f"{cell.fault}: the run did not stop")
    folder = Path(status.folder or "")
    listed, files = after_fault(cell, folder, status.frames_saved)
    if disk is not None:
        (disk / "filler").unlink()
    if cell.outcome_at_fault != "completed":
        with built(machine_config(root, camera=camera), None, gphoto) as m:
            m.resume_stack(folder, position_confirmed=True)
            m.sequencer.wait(60)
    after_resume(cell, folder, listed, files)


# ------------------------------------------------------------------------------ a full disk
@contextmanager
def small_disk(size_mb: int = 4) -> Iterator[Path | None]:
    """A real small disk (tmpfs); None where it cannot be mounted (needs root)."""
    with tempfile.TemporaryDirectory(prefix="rig-disk-") as tmp:
        mount = Path(tmp) / "disk"
        mount.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mount)], capture_output=True)
        if r.returncode != 0:
            yield None
            return
        try:
            yield mount
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


USED: dict[int, list[int]] = {}  # slices -> disk used after frame i (i = 0..slices), from a dry run


def disk_use(disk: Path, slices: int) -> list[int]:
    """Bytes used on ``disk`` by a run after each of its frames (measured once, the run removed)."""
    if slices in USED:
        return USED[slices]
    import shutil

    from rig.config import Profile
    from rig.events import EventKind
    from rig.machine import Machine

    root = disk / "stacks"
    before = free_bytes(disk)
    with Machine.build(machine_config(root)) as m:
        sub = m.bus.subscribe()
        m.sequencer.start(Profile(slices=slices, step_um=50, start_um=1000, settle_s=0.05), "dry")
        used = [before - free_bytes(disk)]  # the folder, stack.json and the reserve
        while len(used) <= slices:
            event = sub.get(timeout=10)
            if event is None:
                raise RuntimeError("dry run: no frame_saved event")
            if event.kind == EventKind.FRAME_SAVED:
                used.append(before - free_bytes(disk))
        m.sequencer.wait(30)
        sub.close()
    shutil.rmtree(root)
    USED[slices] = used
    return used


def fill_to_fault(disk: Path, cell: Cell) -> None:
    """Fill ``disk`` so that frame ``cell.slice`` no longer fits (half of it does)."""
    used = disk_use(disk, cell.slices)
    leave = used[cell.slice - 1] + (used[cell.slice] - used[cell.slice - 1]) // 2
    with open(disk / "filler", "wb") as fh:
        fh.write(b"\0" * max(0, free_bytes(disk) - leave))


# ------------------------------------------------------------------------ signals (rig serve)
def signal_cell(cell: Cell, work: Path) -> None:
    """``rig serve`` shoots; SIGKILL or SIGTERM while slice ``cell.slice`` is under way; a new
    ``rig serve`` (which reconciles) resumes it through the API."""
    from servekit import Client, Serve, write_config

    cfg = write_config(work, width=SIZE[0], height=SIZE[1])
    serve = Serve(cfg)
    client = Client(serve.base)
    body = {"profile": {"slices": cell.slices, "settle_s": 0.4, "step_um": 50, "start_um": 1000}}
    code, answer = client.call("POST", "/api/start", body)
    if code != 202:
        raise RuntimeError(f"start refused: {answer}")
    folder = Path(answer["status"]["folder"])
    saved = 0
    while True:  # the fault lands while slice k settles (frames 1..k-1 saved)
        status = client.status()
        saved = status["frames_saved"]
        if saved >= cell.slice - 1 or not status["busy"]:
            break
        time.sleep(0.005)
    sig = signal.SIGKILL if cell.fault == "sigkill" else signal.SIGTERM
    serve.stop(sig)
    if cell.fault == "sigterm":
        listed, files = after_fault(cell, folder, saved)
    serve = Serve(cfg)  # reconciles a run a SIGKILL left running
    try:
        if cell.fault == "sigkill":
            listed, files = after_fault(cell, folder, saved)
        client = Client(serve.base)
        if cell.outcome_at_fault != "completed":
            sid = folder.relative_to(work / "stacks").as_posix()
            code, answer = client.call("POST", f"/api/stacks/{sid}/resume", {"position_confirmed": True})
            if code != 202:
                raise RuntimeError(f"resume refused: {answer}")
            client.wait_idle()
    finally:
        serve.stop()
    after_resume(cell, folder, listed, files)


# ------------------------------------------------------------------------------------- the matrix
def run_cell(fault: str, where: str, slices: int, disk: Path | None) -> Cell:
    cell = Cell(fault, where, aimed_slice(where, slices), slices)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rig-fault-") as tmp:
        if fault in ("sigkill", "sigterm"):
            signal_cell(cell, Path(tmp))
        elif fault == "disk_full":
            if disk is None:
                cell.note = "skipped: cannot mount a tmpfs (needs root)"
                return cell
            in_process_cell(cell, Path(tmp), disk)
            import shutil

            shutil.rmtree(disk / "stacks")
        else:
            in_process_cell(cell, Path(tmp))
    cell.seconds = time.monotonic() - t0
    return cell


def print_table(cells: list[Cell], out: Callable[[str], None] = print) -> None:
    out("| fault | slice | saved at fault | outcome | running left | lost | overwritten | unaccounted | resumed | s |")
    out("|---|---|---|---|---|---|---|---|---|---|")
    for c in cells:
        out(
            f"| {c.fault} | {c.where} ({c.slice}/{c.slices}) | {c.saved_at_fault} | {c.outcome_at_fault or '-'} | "
            f"{c.running_left} | {c.lost} | {c.overwritten} | {len(c.unaccounted)} | {c.final or c.note or '-'} | "
            f"{c.seconds:.1f} |"
        )
    for c in cells:
        if c.unaccounted or c.note:
            out(f"{c.fault}/{c.where}: {c.note} {c.unaccounted}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slices", type=int, default=5)
    ap.add_argument("--faults", nargs="*", default=list(FAULTS), choices=FAULTS)
    ap.add_argument("--where", nargs="*", default=list(WHERE), choices=WHERE)
    args = ap.parse_args()
    prepare_virtual_camera()
    import logging

    logging.basicConfig(level=logging.ERROR)
    t0 = time.monotonic()
    cells = []
    with small_disk() as disk:
        for fault in args.faults:
            for where in args.where:
                cells.append(run_cell(fault, where, args.slices, disk))
                print(f"{fault}/{where}: {'ok' if cells[-1].ok else 'NOT OK'}", flush=True)
    print_table(cells)
    bad = [c for c in cells if not c.ok and not c.note.startswith("skipped")]
    print(
        f"{len(cells)} cells, {len(cells) - len(bad)} ok: lost {sum(c.lost for c in cells)}, overwritten "
        f"{sum(c.overwritten for c in cells)}, unaccounted {sum(len(c.unaccounted) for c in cells)}, "
        f"running left {sum(c.running_left for c in cells)}; {time.monotonic() - t0:.0f} s"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
