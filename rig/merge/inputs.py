"""Find the slices of a stack: a plain folder of images, or a rig stack folder with ``stack.json``."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rig.errors import MergeError
from rig.manifest import MANIFEST, FrameFile, FrameRecord, StackManifest, UnreadableManifest, read_manifest

log = logging.getLogger(__name__)

RASTER_EXT = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
RAW_EXT = (".nef", ".cr2", ".cr3", ".arw", ".dng", ".orf", ".rw2", ".raf", ".pef", ".srw")
IMAGE_EXT = RASTER_EXT + RAW_EXT


def natural_key(name: str) -> list[int | str]:
    """Sort key that orders ``slice_2`` before ``slice_10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


@dataclass(frozen=True)
class StackInput:
    """The ordered slice files of one stack and where they came from."""

    files: tuple[Path, ...]
    source: Path
    manifest: StackManifest | None = None
    skipped: int = 0  # frames listed in the manifest but not on disk here (stored on the camera card)


def normal_kind(kind: str | None) -> str | None:
    """A ``--type`` value as :func:`_kind` spells types: ``".JPEG"`` is ``"jpg"``."""
    return _kind(Path(f"x.{kind.lstrip('.')}")) if kind else None


def _kind(path: Path) -> str:
    """File type without spelling variants: ``.jpeg`` is ``jpg``, ``.tiff`` is ``tif``."""
    ext = path.suffix.lower().lstrip(".")
    return {"jpeg": "jpg", "tiff": "tif"}.get(ext, ext)


def find_slices(input_dir: str | Path, kind: str | None = None) -> StackInput:
    """Return the ordered slices of ``input_dir``; raise :class:`MergeError` if fewer than two.

    ``kind`` (e.g. ``"nef"``, ``"jpg"``) takes only files of that type; in a rig stack folder it
    picks, frame by frame, the file or the companion (RAW+JPEG) of that type. Without it, a
    plain folder holding the same shots in two types (a card's RAW+JPEG pairs) is merged from
    the raw files, with a note; folders of different shots in mixed types are merged whole.
    """
    src = Path(input_dir)
    if not src.exists():
        raise MergeError(f"{src}: no such folder")
    if not src.is_dir():
        raise MergeError(f"{src}: not a folder of slices")
    kind = normal_kind(kind)
    manifest_path = src / MANIFEST
    if manifest_path.is_file():
        return _from_manifest(src, manifest_path, kind)
    try:
        entries = [p for p in src.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXT]
    except OSError as exc:
        raise MergeError(f"{src}: cannot list folder ({exc.strerror})") from exc
    entries = [p for p in entries if not p.name.startswith(".")]
    entries.sort(key=lambda p: natural_key(p.name))
    if kind is not None:
        entries = [p for p in entries if _kind(p) == kind]
        if not entries:
            raise MergeError(f"{src}: no .{kind} slices found")
    else:
        entries = _one_type_of_pairs(src, entries)
    if not entries:
        raise MergeError(f"{src}: no slices found (expected JPEG, PNG, TIFF or camera raw files)")
    if len(entries) < 2:
        raise MergeError(f"{entries[0]}: only one slice; a merge needs at least 2")
    return StackInput(tuple(entries), src)


def _one_type_of_pairs(src: Path, entries: list[Path]) -> list[Path]:
    """Where the same shots are there in several types (same names), keep one type: raw first."""
    groups: dict[str, list[Path]] = {}
    for p in entries:
        groups.setdefault(_kind(p), []).append(p)
    if len(groups) < 2:
        return entries
    stems = [{p.stem.lower() for p in g} for g in groups.values()]
    if not set.intersection(*stems):
        return entries  # different shots that happen to differ in type
    raws = [k for k in groups if f".{k}" in RAW_EXT]
    pick = max(raws or groups, key=lambda k: len(groups[k]))
    others = ", ".join(f".{k}" for k in groups if k != pick)
    log.warning("%s: the same shots as .%s and %s; merging the .%s files (--type chooses)", src, pick, others, pick)
    return groups[pick]


def _read(src: Path, manifest_path: Path) -> StackManifest:
    """The stack's manifest (:func:`rig.manifest.read_manifest`), checked to be a rig stack's."""
    try:
        data = read_manifest(src)
    except (OSError, UnreadableManifest) as exc:
        raise MergeError(f"{manifest_path}: unreadable stack manifest ({exc})") from exc
    if data.frames is None:
        raise MergeError(f"{manifest_path}: not a rig stack manifest (no 'frames' list)")
    if data.format is not None and not data.format.startswith("rig-stack/"):
        raise MergeError(f"{manifest_path}: unknown manifest format {data.format!r}")
    return data


def _from_manifest(src: Path, manifest_path: Path, kind: str | None = None) -> StackInput:
    data = _read(src, manifest_path)
    if data.outcome not in (None, "completed"):
        log.warning("%s: stack outcome is %r; merging the frames that were saved", manifest_path, data.outcome)
    files: list[Path] = []
    skipped = 0
    number = {id(frame): i for i, frame in enumerate(data.frames or ())}
    for frame in data.focus_order():  # a gap fill between the slices it lies between
        i = number[id(frame)]
        if not frame.file:
            skipped += 1  # stored on the camera card only
            continue
        chosen = _chosen_file(frame, kind)
        if chosen is None:
            raise MergeError(f"{manifest_path}: frame {i + 1} has no .{kind} file")
        path = inside_stack(src, chosen.file, manifest_path)
        if not path.is_file():
            raise MergeError(f"{path}: listed in {manifest_path.name} but missing")
        files.append(path)
    if len(files) < 2:
        raise MergeError(
            f"{manifest_path}: {len(files)} usable slice(s) in the manifest"
            f"{f' ({skipped} stored on the camera card only)' if skipped else ''}; a merge needs at least 2"
        )
    return StackInput(tuple(files), src, data, skipped)


def inside_stack(src: Path, name: str, manifest_path: Path) -> Path:
    """The path of a file a manifest lists, refused unless it is a plain name inside ``src``:
    no absolute names, no ``..``, no symlink that leads out of the folder."""
    rel = Path(name)
    if not name or rel.is_absolute() or ".." in rel.parts or "\x00" in name or name.startswith("~"):
        raise MergeError(f"{manifest_path}: frame file {name!r} is not a name inside the stack's folder")
    path = src / rel
    try:
        real, root = path.resolve(), src.resolve()
    except (OSError, RuntimeError) as exc:
        raise MergeError(f"{manifest_path}: frame file {name!r} cannot be resolved ({exc})") from None
    if not real.is_relative_to(root) or real == root:
        raise MergeError(f"{manifest_path}: frame file {name!r} leads outside the stack's folder")
    return path


def _chosen_file(frame: FrameRecord, kind: str | None) -> FrameFile | None:
    """The frame's main file, or its file (or companion, RAW+JPEG) of type ``kind``; None if it has none."""
    parts = frame.files()
    for part in parts if kind else parts[:1]:
        if kind is None or _kind(Path(part.file)) == kind:
            return part
    return None


def follow_slices(
    input_dir: str | Path, poll: float = 0.2, idle_timeout: float = 600.0, kind: str | None = None
) -> Iterator[Path]:
    """Yield the slices of a rig stack folder as its ``stack.json`` lists them, while it is captured.

    Returns once the manifest's outcome is final and every listed frame was yielded. A frame is
    yielded only when its file is complete (its size matches the manifest's ``bytes``, if given).
    Raises :class:`MergeError` if no manifest appears, or nothing changes for ``idle_timeout`` s.
    """
    src = Path(input_dir)
    manifest_path = src / MANIFEST
    done = 0
    last_change = time.monotonic()
    while True:
        data = None
        try:
            data = read_manifest(src)
        except FileNotFoundError:
            if not src.is_dir():
                raise MergeError(f"{src}: no such folder") from None
        except (OSError, UnreadableManifest):
            data = None  # being rewritten: try again
        if data is not None and data.frames is not None:
            for frame in data.frames[done:]:
                chosen = _chosen_file(frame, normal_kind(kind)) if frame.file else None
                if frame.file and chosen is None:
                    raise MergeError(f"{manifest_path}: frame {done + 1} has no .{kind} file")
                if chosen is not None:
                    path = inside_stack(src, chosen.file, manifest_path)
                    if not path.is_file() or (chosen.bytes is not None and path.stat().st_size != chosen.bytes):
                        break  # not fully written yet
                    yield path
                done += 1
                last_change = time.monotonic()
            if data.final and done == len(data.frames):
                return
        if time.monotonic() - last_change > idle_timeout:
            what = "no stack.json" if data is None else f"no new frame, outcome {data.outcome!r}"
            raise MergeError(f"{manifest_path}: {what} after waiting {idle_timeout:.0f}s")
        time.sleep(poll)


def focus_ranks(input_dir: str | Path, files: Sequence[Path]) -> list[int] | None:
    """Where each of ``files`` (as :func:`follow_slices` yielded them, in the manifest's order)
    belongs in depth order (:meth:`StackManifest.focus_order`: a gap fill, shot last, goes
    between its neighbours), or None when they are in that order already."""
    try:
        data = read_manifest(Path(input_dir))
    except (OSError, UnreadableManifest):
        return None
    by_name: dict[str, FrameRecord] = {}
    for frame in data.frames or ():
        for part in frame.files():
            by_name.setdefault(part.file, frame)
    frames = [by_name.get(path.name) for path in files]
    if any(f is None for f in frames) or len({id(f) for f in frames}) != len(frames):
        return None
    known = [f for f in frames if f is not None]
    rank = {id(f): r for r, f in enumerate(data.focus_order(known))}
    ranks = [rank[id(f)] for f in known]
    return None if ranks == list(range(len(ranks))) else ranks
