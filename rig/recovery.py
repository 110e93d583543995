"""Startup reconciliation of the stack folders (``rig serve`` runs it before it listens).

A power cut or SIGKILL can leave, in a run folder whose ``stack.json`` still says ``running``:

* a whole frame saved but not yet listed (the kill came between the file and its entry):
  adopted into the manifest, marked ``recovered``, when it is the run's next frame by name and
  its image data is whole;
* a writer's temporary file (``.NAME.<pid>.tmp``) or the disk reserve (``.rig-reserve``):
  removed once no living process owns it;
* any other file the manifest does not list: left where it is and reported.

Then the run is marked ``interrupted``. Nothing here raises: a folder that cannot be read or
updated (a full or read-only disk) is reported in :attr:`Reconciled.not_updated` and left as
it was, so ``rig serve`` always starts.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rig.config import Profile
from rig.config.schema import from_table
from rig.image_check import whole_image
from rig.manifest import MANIFEST, FrameFile, FrameRecord, Manifest, find_interrupted
from rig.merge.results import RESULTS
from rig.paths import Template
from rig.run_storage import COMPOSITE_IMAGE, COVERAGE_IMAGE, PREVIEW_FOLDER, RESERVE_FILE

# what a run folder holds besides its frames: the manifest, the checks' coverage map and growing
# result, the merge's results (a follow-mode merge may have finished before the crash)
OWN_FILES = frozenset({MANIFEST, COVERAGE_IMAGE, COMPOSITE_IMAGE, *RESULTS.names})

log = logging.getLogger(__name__)
TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")
RASTER_MAIN = (".jpg", ".jpeg", ".tif", ".tiff", ".png")


@dataclass
class Reconciled:
    """What :func:`reconcile` did, folder by folder (paths as strings)."""

    interrupted: list[str] = field(default_factory=list)  # marked interrupted
    recovered: list[str] = field(default_factory=list)  # frame files adopted (marked recovered)
    removed: list[str] = field(default_factory=list)  # stale temporary files and reserves
    unlisted: list[str] = field(default_factory=list)  # files left alone, listed nowhere
    not_updated: list[dict[str, str]] = field(default_factory=list)  # {folder, error}


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: Path, report: Reconciled) -> None:
    """Remove the writers' temporary files whose process is gone."""
    for sub in (folder, folder / PREVIEW_FOLDER):
        try:
            entries = list(sub.iterdir()) if sub.is_dir() else []
        except OSError:
            continue
        for path in entries:
            m = TEMP_RE.match(path.name)
            if m and not pid_alive(int(m.group("pid"))):
                _remove(path, report)


def _remove(path: Path, report: Reconciled) -> None:
    try:
        path.unlink()
        report.removed.append(str(path))
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("%s: cannot remove (%s)", path, exc.strerror)


def _whole(path: Path) -> bool:
    try:
        return whole_image(path.read_bytes(), path.suffix)
    except OSError:
        return False


def _adopt(folder: Path, manifest: Manifest, report: Reconciled) -> None:
    rec = manifest.record
    frames = rec.frames or ()
    listed = {f.file for fr in frames for f in fr.files()}
    try:
        profile = from_table(Profile, dict(rec.profile), str(folder / MANIFEST))
        template = Template.parse(profile.out)
    except Exception:  # noqa: BLE001 - an old or odd manifest: nothing is adopted, all is reported
        template = None
    frames_dir = folder / PREVIEW_FOLDER if rec.mode == "preview-images" else folder
    try:
        on_disk = sorted(p.name for p in frames_dir.iterdir() if p.is_file())
    except OSError:
        on_disk = []
    prefix = f"{PREVIEW_FOLDER}/" if frames_dir != folder else ""
    adopted: list[FrameRecord] = []
    if template is not None:
        counter = sum(1 for f in frames if f.file) + 1
        index = len(frames) + 1
        name = rec.profile_name or "default"
        while index <= len(rec.planned_positions):
            stem = template.file_name(counter, name, "")
            parts = sorted(n for n in on_disk if n.startswith(stem + ".") and f"{prefix}{n}" not in listed)
            if not parts:
                break
            main = next((n for n in parts if n.lower().endswith(RASTER_MAIN)), parts[0])
            paths = [frames_dir / main] + [frames_dir / n for n in parts if n != main]
            if not all(_whole(p) if p.name == main else p.stat().st_size > 0 for p in paths):
                break
            files = [_frame_file(p, prefix) for p in paths]
            adopted.append(
                FrameRecord(
                    index=index,
                    position=rec.planned_positions[index - 1],
                    time=_mtime(paths[0]),
                    file=files[0].file,
                    bytes=files[0].bytes,
                    sha256=files[0].sha256,
                    preview=rec.mode == "preview-images",
                    companions=tuple(files[1:]),
                    recovered=True,
                )
            )
            listed.update(f.file for f in files)
            report.recovered.extend(str(p) for p in paths)
            counter += 1
            index += 1
    if adopted:
        manifest.adopt(adopted)
    for n in on_disk:
        rel = f"{prefix}{n}"
        if rel not in listed and n not in OWN_FILES and not n.startswith("."):
            report.unlisted.append(str(frames_dir / n))


def _frame_file(path: Path, prefix: str) -> FrameFile:
    data = path.read_bytes()
    return FrameFile(f"{prefix}{path.name}", len(data), hashlib.sha256(data).hexdigest())


def _mtime(path: Path) -> str | None:
    try:
        when = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reconcile(root: Path) -> Reconciled:
    """Reconcile every run under ``root`` left ``running`` (module docstring). Never raises."""
    report = Reconciled()
    root = Path(root).expanduser()
    try:
        folders = find_interrupted(root) if root.is_dir() else []
    except OSError as exc:
        report.not_updated.append({"folder": str(root), "error": f"cannot be read: {exc.strerror or exc}"})
        return report
    for folder in folders:
        try:
            remove_stale_temps(folder, report)
            reserve = folder / RESERVE_FILE
            if reserve.exists():
                _remove(reserve, report)  # its run is over: the space is free again
            manifest = Manifest.load(folder)
            _adopt(folder, manifest, report)
            manifest.finish("interrupted", "the rig stopped mid-run (power loss or crash); frames kept")
            report.interrupted.append(str(folder))
        except Exception as exc:  # noqa: BLE001 - a full or read-only disk: report, start anyway
            log.error("%s: cannot reconcile: %s", folder, exc)
            report.not_updated.append({"folder": str(folder), "error": str(exc) or type(exc).__name__})
    return report
