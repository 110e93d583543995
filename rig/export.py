"""Hand-off to desktop stackers: a stack's slices, in order, in one folder per stack, plus what the
program's batch mode needs to merge them unattended (``rig export``, docs/workflow.md).

* ``folder``: ``DIR/<stack>/0001.jpg ...`` only (slices renamed by their order in the stack).
* ``zerene``: the same, plus ``DIR/ZereneBatch.xml``, a Zerene Stacker batch script (the
  ``ZereneStackerBatchScript`` XML of Zerene's "Batch API" page: one ``Batch`` per stack with the
  stack's folder as its ``Source``, task "align and stack, DMap", the result saved into
  ``DIR/results``). Run it with ``ZereneStacker -batchScript DIR/ZereneBatch.xml``, or load it in
  Batch > Load Batch Script.
* ``helicon``: the same, plus ``DIR/helicon-focus.bat``, one Helicon Focus command line per stack
  (``HeliconFocus.exe -silent <folder> -save:<file> -mp:1 -rp:8 -sp:4``: method B (depth map),
  radius 8, smoothing 4), saving into ``DIR\\results``.

Frames are hard-linked when ``DIR`` is on the same filesystem (no extra space), else copied;
nothing that exists is ever replaced: a name already taken in ``DIR`` is an error before
anything is written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from rig.errors import UsageError
from rig.manifest import UnreadableManifest, read_manifest
from rig.paths import fsync_dir, write_new
from rig.specimen import safe_component

TARGETS = ("zerene", "helicon", "folder")
ZERENE_SCRIPT = "ZereneBatch.xml"
HELICON_SCRIPT = "helicon-focus.bat"
RESULTS_FOLDER = "results"
HELICON_EXE = r"C:\Program Files\Helicon Software\Helicon Focus 8\HeliconFocus.exe"


@dataclass(frozen=True)
class ExportedStack:
    source: Path
    folder: Path  # DIR/<name>
    slices: tuple[str, ...]  # file names in ``folder``, in stack order


def plan_export(stacks: Sequence[Path], dest: Path) -> list[tuple[Path, str, list[Path]]]:
    """(source folder, export name, frame paths in order) per stack; :class:`UsageError` for a
    stack that cannot be exported (no stack.json, unreadable, no frames here)."""
    planned: list[tuple[Path, str, list[Path]]] = []
    used: set[str] = set()
    for stack in stacks:
        folder = Path(stack).expanduser()
        try:
            record = read_manifest(folder)
        except FileNotFoundError:
            raise UsageError(f"{folder}: not a stack folder (no stack.json)") from None
        except (OSError, UnreadableManifest) as exc:
            raise UsageError(f"{folder}/stack.json: {exc}") from None
        frames = record.focus_order(  # in depth order: a gap fill between its neighbours
            sorted(
                (f for f in record.frames or () if f.file and not f.preview),
                key=lambda f: f.index if f.index is not None else 0,
            )
        )
        paths = [folder / f.file for f in frames if f.file]
        if not paths:
            raise UsageError(f"{folder}: no frames saved in this folder")
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise UsageError(f"{folder}: frame {missing[0].name} is missing")
        base = record.specimen.name if record.specimen and record.specimen.name else folder.name
        name = safe_component(base, "stack name")
        unique, n = name, 2
        while unique in used:
            unique, n = f"{name}-{n}", n + 1
        used.add(unique)
        planned.append((folder, unique, paths))
    return planned


def export(stacks: Sequence[Path], dest: Path, target: str) -> list[ExportedStack]:
    """Export ``stacks`` into ``dest`` for ``target`` (see the module's text). Checks every name
    first: nothing is written when one is taken or a stack cannot be exported."""
    if target not in TARGETS:
        raise UsageError(f"--for {target!r}: choose one of {', '.join(TARGETS)}")
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"--to {dest}: not a folder")
    planned = plan_export(stacks, dest)
    script = {"zerene": ZERENE_SCRIPT, "helicon": HELICON_SCRIPT}.get(target)
    taken = [dest / name for _, name, _ in planned if (dest / name).exists()]
    if script and (dest / script).exists():
        taken.append(dest / script)
    if taken:
        raise UsageError(f"{taken[0]} already exists; export into a new or empty folder")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--to {dest}: {exc.strerror}") from None
    done: list[ExportedStack] = []
    for source, name, paths in planned:
        folder = dest / name
        folder.mkdir()
        digits = max(4, len(str(len(paths))))
        names = []
        for k, path in enumerate(paths, 1):
            target_name = f"{k:0{digits}d}{path.suffix.lower()}"
            _link_or_copy(path, folder / target_name)
            names.append(target_name)
        fsync_dir(folder)
        done.append(ExportedStack(source, folder, tuple(names)))
    if target != "folder":
        (dest / RESULTS_FOLDER).mkdir(exist_ok=True)
    if target == "zerene":
        write_new(dest / ZERENE_SCRIPT, zerene_script(done, dest / RESULTS_FOLDER).encode())
    elif target == "helicon":
        write_new(dest / HELICON_SCRIPT, helicon_script(done).encode())
    return done


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def zerene_script(stacks: Sequence[ExportedStack], results: Path) -> str:
    """A Zerene Stacker batch script: one batch per stack, align and stack (DMap), the result saved
    in ``results`` (OutputImageDispositionCode 5: a designated folder)."""
    batches = []
    for stack in stacks:
        batches.append(
            "      <Batch>\n"
            '        <Sources length="1">\n'
            f"          <Source value={quoteattr(str(stack.folder.resolve()))} />\n"
            "        </Sources>\n"
            '        <ProjectDispositionCode value="101" />\n'
            '        <Tasks length="1">\n'
            "          <Task>\n"
            '            <OutputImageDispositionCode value="5" />\n'
            f"            <OutputImagesDesignatedFolder value={quoteattr(str(results.resolve()))} />\n"
            '            <TaskIndicatorCode value="2" />\n'
            "          </Task>\n"
            "        </Tasks>\n"
            "      </Batch>\n"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<ZereneStackerBatchScript>\n"
        "  <BatchQueue>\n"
        f'    <Batches length="{len(stacks)}">\n' + "".join(batches) + "    </Batches>\n"
        "  </BatchQueue>\n"
        "</ZereneStackerBatchScript>\n"
    )


def helicon_script(stacks: Sequence[ExportedStack]) -> str:
    """A Windows batch file: Helicon Focus's documented command line, once per stack, run from the
    export folder (``%~dp0``); set HELICON to where Helicon Focus is installed."""
    lines = [
        "@echo off",
        "rem Written by rig export: merges each stack folder with Helicon Focus, unattended.",
        "rem -mp:1 method B (depth map), -rp:8 radius, -sp:4 smoothing; results in results\\",
        f'if "%HELICON%"=="" set HELICON={HELICON_EXE}',
    ]
    for stack in stacks:
        name = stack.folder.name
        lines.append(f'"%HELICON%" -silent "%~dp0{name}" -save:"%~dp0{RESULTS_FOLDER}\\{name}.tif" -mp:1 -rp:8 -sp:4')
    return "\r\n".join(lines) + "\r\n"
