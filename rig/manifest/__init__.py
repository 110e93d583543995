"""``stack.json``: the manifest of one run, updated as the run goes. The only module that reads
or writes it.

It is rewritten atomically (:func:`rig.paths.write_replace`) after every saved frame, every
outcome change and every merge state change, so it is valid JSON after a crash at any point.
Any stack can be re-merged from it later.

Reading goes through :func:`read_manifest`, which returns typed, frozen records
(:class:`StackManifest`, :class:`FrameRecord`, :class:`FrameFile`, :class:`MergeRecord`, defined
in :mod:`rig.manifest.records` and :mod:`rig.manifest.frames`) or raises
:class:`UnreadableManifest` with a one-line reason.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rig import __version__
from rig.manifest.frames import FrameChecks, FrameFile, FrameRecord, RejectedShot, SavedFrame
from rig.manifest.records import (
    FINAL_OUTCOMES,
    FORMAT,
    MERGE_STATES,
    OUTCOMES,
    CoverageRecord,
    MergeRecord,
    ResumeRecord,
    ReturnCheckRecord,
    StackManifest,
)
from rig.manifest.values import UnreadableManifest, finite, no_constant
from rig.paths import write_replace
from rig.specimen import Specimen

__all__ = [
    "CARD",
    "CoverageRecord",
    "FINAL_OUTCOMES",
    "FORMAT",
    "MANIFEST",
    "MERGE_STATES",
    "OUTCOMES",
    "FrameChecks",
    "FrameFile",
    "FrameRecord",
    "Manifest",
    "MergeRecord",
    "RejectedShot",
    "ReturnCheckRecord",
    "ResumeRecord",
    "SavedFrame",
    "StackManifest",
    "UnreadableManifest",
    "find_interrupted",
    "mark_interrupted",
    "now_iso",
    "read_manifest",
    "record_merge",
    "set_crop",
    "set_specimen",
]

MANIFEST = "stack.json"
MANIFEST_MAX = 64_000_000  # bytes; a 10,000-frame manifest is about 3 MB
CARD = "camera-card"  # ``stored`` of a frame kept on the camera's card only


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_manifest(folder: Path) -> StackManifest:
    """Read and check ``folder/stack.json``. Raises :class:`UnreadableManifest` (``FileNotFoundError``
    when there is none): not readable, too big, not UTF-8, not JSON, nested too deep, not an object,
    ``frames`` not a list of objects. NaN and infinities read as None."""
    path = Path(folder) / MANIFEST
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MANIFEST_MAX + 1)
    except FileNotFoundError:
        raise
    except (OSError, ValueError):
        raise UnreadableManifest("cannot be read") from None
    if len(raw) > MANIFEST_MAX:
        raise UnreadableManifest(f"larger than {MANIFEST_MAX // 1_000_000} MB")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=no_constant, parse_float=finite)
    except UnicodeDecodeError:
        raise UnreadableManifest("not UTF-8 text") from None
    except (ValueError, RecursionError):
        raise UnreadableManifest("not valid JSON") from None
    return StackManifest.from_json(data)


# --------------------------------------------------------------------------- writing
class Manifest:
    """The writer of one run's ``stack.json``: holds the current :class:`StackManifest` and
    rewrites the file atomically with every change. Thread-safe."""

    def __init__(self, folder: Path, record: StackManifest) -> None:
        self.folder = Path(folder)
        self.path = self.folder / MANIFEST
        self._record = record
        self._lock = threading.Lock()

    @property
    def record(self) -> StackManifest:
        return self._record

    @classmethod
    def create(
        cls,
        folder: Path,
        *,
        profile_name: str,
        profile: dict[str, Any],
        config: dict[str, Any],
        mode: str,
        units: str,
        started: datetime,
        planned: list[float],
        clock_synchronized: bool | None = None,
        specimen: Specimen | None = None,
    ) -> Manifest:
        record = StackManifest(
            format=FORMAT,
            rig_version=__version__,
            profile_name=profile_name,
            profile=profile,
            config=config,
            mode=mode,
            units=units,
            started=started.astimezone().isoformat(timespec="seconds"),
            started_utc=started.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            planned_positions=tuple(planned),
            clock_synchronized=clock_synchronized,
            outcome="running",
            frames=(),
            specimen=None if specimen is None or specimen.empty else specimen,
        )
        manifest = cls(folder, record)
        manifest.save()
        return manifest

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        return cls(Path(folder), read_manifest(folder))

    def save(self) -> None:
        with self._lock:
            self._write()

    def _write(self) -> None:
        text = json.dumps(self._record.to_json(), indent=1, allow_nan=False)
        write_replace(self.path, text.encode())

    def _update(self, **changes: Any) -> None:
        with self._lock:
            extra = {k: v for k, v in self._record.extra.items() if k not in changes}
            self._record = replace(self._record, **changes, extra=extra)
            self._write()

    def add_frame(
        self,
        saved: SavedFrame | None,
        *,
        index: int,
        position: float,
        preview: bool = False,
        checks: FrameChecks | None = None,
        gap_fill: bool = False,
    ) -> None:
        """Record one shot: ``saved`` as :func:`rig.frame_store.save_frame` returned it, or None
        for a shot kept on the camera's card; with what the per-frame checks found."""
        main = saved.main if saved else None
        entry = FrameRecord(
            index=index,
            position=round(position, 4),
            time=now_iso(),
            file=main.file if main else None,
            bytes=main.bytes if main else None,
            sha256=main.sha256 if main else None,
            preview=preview,
            stored=None if saved else CARD,
            companions=saved.companions if saved else (),
            checks=checks,
            gap_fill=gap_fill,
        )
        with self._lock:
            self._record = replace(self._record, frames=(*(self._record.frames or ()), entry))
            self._write()

    def reopen(self, keep: int, resume: ResumeRecord) -> None:
        """Make the run ``running`` again for a resume: keep the first ``keep`` frames, record
        ``resume`` in ``resumes``; outcome, error and end time are cleared."""
        with self._lock:
            rec = self._record
            extra = {k: v for k, v in rec.extra.items() if k not in ("outcome", "error", "ended", "resumes")}
            frames = (rec.frames or ())[:keep]
            self._record = replace(
                rec,
                frames=frames,
                outcome="running",
                error=None,
                ended=None,
                resumes=(*rec.resumes, resume),
                extra=extra,
            )
            self._write()

    def adopt(self, frames: list[FrameRecord]) -> None:
        """Add frames found whole on disk but not listed (marked ``recovered``), in index order."""
        with self._lock:
            rec = self._record
            merged = sorted((*(rec.frames or ()), *frames), key=lambda f: (f.index is None, f.index or 0))
            self._record = replace(rec, frames=tuple(merged))
            self._write()

    def finish(self, outcome: str, error: str | None = None) -> None:
        assert outcome in OUTCOMES, outcome
        self._update(outcome=outcome, error=error, ended=now_iso())

    def set_merge(self, merge: MergeRecord | None) -> None:
        self._update(merge=merge)

    def set_coverage(self, coverage: CoverageRecord) -> None:
        self._update(coverage=coverage)

    def set_return_check(self, result: ReturnCheckRecord) -> None:
        self._update(return_check=result)

    @property
    def outcome(self) -> str:
        return self._record.outcome or "unknown"


def record_merge(folder: Path, merge: MergeRecord) -> None:
    """Write ``merge`` into ``folder``'s ``stack.json`` (the frames and all else kept as they are)."""
    Manifest.load(folder).set_merge(merge)


def set_specimen(folder: Path, specimen: Specimen | None) -> StackManifest:
    """Write ``specimen`` (checked by the caller) into ``folder``'s ``stack.json``; all else kept."""
    manifest = Manifest.load(folder)
    manifest._update(specimen=None if specimen is None or specimen.empty else specimen)
    return manifest.record


def set_crop(folder: Path, crop: tuple[int, int, int, int] | None) -> StackManifest:
    """Write the results' crop rectangle (checked by the caller) into ``folder``'s ``stack.json``."""
    manifest = Manifest.load(folder)
    manifest._update(crop=crop)
    return manifest.record


def find_interrupted(root: Path, limit: int = 10_000) -> list[Path]:
    """Run folders under ``root`` whose manifest still says ``running`` (power loss, SIGKILL)."""
    found: list[Path] = []
    root = Path(root).expanduser()
    if not root.is_dir():
        return found
    for path in sorted(root.rglob(MANIFEST))[:limit]:
        try:
            record = read_manifest(path.parent)
        except (OSError, UnreadableManifest):
            continue  # not ours, or unreadable (not UTF-8, not JSON, nested too deep): leave it alone
        if record.outcome == "running" and record.frames is not None:
            found.append(path.parent)
    return found


def mark_interrupted(root: Path) -> list[Path]:
    """Mark every run left ``running`` as ``interrupted``; frames are kept untouched."""
    marked = []
    for folder in find_interrupted(root):
        manifest = Manifest.load(folder)
        manifest.finish("interrupted", "the rig stopped mid-run (power loss or crash); frames kept")
        marked.append(folder)
    return marked
