"""``stack.json``: the manifest of one run, updated as the run goes. The only module that reads
or writes it.

It is rewritten atomically (:func:`rig.paths.write_replace`) after every saved frame, every
outcome change and every merge state change, so it is valid JSON after a crash at any point.
Any stack can be re-merged from it later.

Reading goes through :func:`read_manifest`, which returns typed, frozen records
(:class:`StackManifest`, :class:`FrameRecord`, :class:`FrameFile`, :class:`MergeRecord`) or
raises :class:`UnreadableManifest` with a one-line reason. It never trusts the file: a field
of the wrong type reads as ``None`` (its raw value is kept and written back unchanged), and a
key it does not know is kept too, so loading and saving an old or foreign manifest loses nothing.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rig import __version__
from rig.paths import write_replace

MANIFEST = "stack.json"
FORMAT = "rig-stack/1"
OUTCOMES = ("running", "completed", "cancelled", "failed", "interrupted")
FINAL_OUTCOMES = OUTCOMES[1:]
MERGE_STATES = ("running", "done", "failed", "cancelled")
MANIFEST_MAX = 64_000_000  # bytes; a 10,000-frame manifest is about 3 MB
CARD = "camera-card"  # ``stored`` of a frame kept on the camera's card only


class UnreadableManifest(ValueError):
    """``stack.json`` is not a readable rig manifest; the message is the one-line reason."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------- typed records
@dataclass(frozen=True)
class FrameFile:
    """One file of a shot, as saved: its name relative to the run folder, size and sha256."""

    file: str
    bytes: int | None = None
    sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "bytes": self.bytes, "sha256": self.sha256}

    @classmethod
    def from_json(cls, data: Any) -> FrameFile | None:
        if not isinstance(data, dict) or not isinstance(data.get("file"), str) or not data["file"]:
            return None
        return cls(data["file"], _int(data.get("bytes")), _str(data.get("sha256")))


@dataclass(frozen=True)
class SavedFrame:
    """What :func:`rig.frame_store.save_frame` wrote: the main file and the shot's other files
    (RAW+JPEG companions). :meth:`Manifest.add_frame` records it."""

    main: FrameFile
    companions: tuple[FrameFile, ...] = ()

    @property
    def file(self) -> str:
        return self.main.file


@dataclass(frozen=True)
class FrameRecord:
    """One entry of ``frames``. ``file`` is None for a shot kept on the camera's card."""

    index: int | None
    position: float | None  # in the manifest's units (key ``position_um`` or ``position_steps``)
    time: str | None = None
    file: str | None = None
    bytes: int | None = None
    sha256: str | None = None
    preview: bool = False
    stored: str | None = None
    companions: tuple[FrameFile, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys this version does not know

    def files(self) -> tuple[FrameFile, ...]:
        """The main file (if saved here) and its companions."""
        main = (FrameFile(self.file, self.bytes, self.sha256),) if self.file else ()
        return main + self.companions

    def to_json(self, units: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            position_key(units): self.position,
            "time": self.time,
            "file": self.file,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }
        if self.preview:
            out["preview"] = True
        if self.stored is not None:
            out["stored"] = self.stored
        if self.companions:
            out["companions"] = [c.to_json() for c in self.companions]
        return _with_extra(out, self.extra)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], units: str) -> FrameRecord:
        key = position_key(units)
        raw_companions = data.get("companions")
        companions = tuple(
            c for c in (FrameFile.from_json(x) for x in raw_companions or () if isinstance(raw_companions, list)) if c
        )
        typed = {
            "index": data.get("index") if type(data.get("index")) is int else None,
            "position": _number(data.get(key)),
            "time": _str(data.get("time")),
            "file": data.get("file") if isinstance(data.get("file"), str) and data.get("file") else None,
            "bytes": _int(data.get("bytes")),
            "sha256": _str(data.get("sha256")),
            "preview": data.get("preview") is True,
            "stored": _str(data.get("stored")),
        }
        known = {key, "index", "time", "file", "bytes", "sha256", "preview", "stored", "companions"}
        extra = {k: v for k, v in data.items() if k not in known}
        for k in ("index", "time", "file", "bytes", "sha256", "stored"):  # wrong types: kept as they were
            if data.get(k) is not None and typed[k] is None:
                extra[k] = data[k]
        if data.get(key) is not None and typed["position"] is None:
            extra[key] = data[key]
        if "preview" in data and data["preview"] is not True:
            extra["preview"] = data["preview"]
        well_formed = isinstance(raw_companions, list) and len(companions) == len(raw_companions)
        if raw_companions is not None and not well_formed:  # written back as it was
            extra["companions"] = raw_companions
        return cls(**typed, companions=companions, extra=extra)


@dataclass(frozen=True)
class MergeRecord:
    """The ``merge`` field: the outcome of the last merge of this stack into its folder."""

    state: str  # running | done | failed | cancelled
    outputs: tuple[str, ...] = ()  # file names in the run folder (merged TIFF, JPEG, depth map)
    error: str | None = None
    started: str | None = None
    finished: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "outputs": list(self.outputs),
            "error": self.error,
            "started": self.started,
            "finished": self.finished,
        }

    @classmethod
    def from_json(cls, data: Any) -> MergeRecord | None:
        if not isinstance(data, dict) or data.get("state") not in MERGE_STATES:
            return None
        outputs = data.get("outputs")
        names = tuple(o for o in outputs if isinstance(o, str)) if isinstance(outputs, list) else ()
        return cls(data["state"], names, _str(data.get("error")), _str(data.get("started")), _str(data.get("finished")))


_TOP_KEYS = (
    "format",
    "rig_version",
    "profile_name",
    "profile",
    "config",
    "mode",
    "units",
    "started",
    "started_utc",
    "planned_positions",
    "outcome",
    "error",
    "ended",
    "frames",
    "merge",
)


@dataclass(frozen=True)
class StackManifest:
    """The whole of ``stack.json``. ``frames`` is None when the file has no ``frames`` key."""

    format: str | None = FORMAT
    rig_version: str | None = None
    profile_name: str | None = None
    profile: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)
    mode: str | None = None
    units: str = "um"
    started: str | None = None
    started_utc: str | None = None
    planned_positions: tuple[float | None, ...] = ()
    outcome: str | None = None
    error: str | None = None
    ended: str | None = None
    frames: tuple[FrameRecord, ...] | None = ()
    merge: MergeRecord | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys this version does not know, wrong types

    @property
    def final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": self.format,
            "rig_version": self.rig_version,
            "profile_name": self.profile_name,
            "profile": dict(self.profile),
            "config": dict(self.config),
            "mode": self.mode,
            "units": self.units,
            "started": self.started,
            "started_utc": self.started_utc,
            "planned_positions": list(self.planned_positions),
            "outcome": self.outcome,
            "error": self.error,
            "ended": self.ended,
            "frames": None if self.frames is None else [f.to_json(self.units) for f in self.frames],
            "merge": self.merge.to_json() if self.merge else None,
        }
        return _with_extra(out, self.extra)

    @classmethod
    def from_json(cls, data: Any) -> StackManifest:
        """Typed view of a parsed ``stack.json``; raises :class:`UnreadableManifest` only when it
        is not an object or its ``frames``/``planned_positions`` are not lists (of objects)."""
        if not isinstance(data, dict):
            raise UnreadableManifest(f"a JSON {_json_type(data)}, not an object")
        frames = data.get("frames")
        if frames is not None and not isinstance(frames, list):
            raise UnreadableManifest(f"'frames' is a JSON {_json_type(frames)}, not a list")
        if frames is not None and not all(isinstance(f, dict) for f in frames):
            raise UnreadableManifest("'frames' holds entries that are not objects")
        planned = data.get("planned_positions")
        if planned is not None and not isinstance(planned, list):
            raise UnreadableManifest(f"'planned_positions' is a JSON {_json_type(planned)}, not a list")
        units = data.get("units") if data.get("units") in ("um", "steps") else "um"
        typed: dict[str, Any] = {
            "format": _str(data.get("format")),
            "rig_version": _str(data.get("rig_version")),
            "profile_name": _str(data.get("profile_name")),
            "profile": data["profile"] if isinstance(data.get("profile"), dict) else {},
            "config": data["config"] if isinstance(data.get("config"), dict) else {},
            "mode": _str(data.get("mode")),
            "started": _str(data.get("started")),
            "started_utc": _str(data.get("started_utc")),
            "outcome": _str(data.get("outcome")),
            "error": _str(data.get("error")),
            "ended": _str(data.get("ended")),
        }
        extra = {k: v for k, v in data.items() if k not in _TOP_KEYS}
        for k, v in typed.items():  # wrong types are kept as they were, never rewritten
            if data.get(k) is not None and v is not data[k]:
                extra[k] = data[k]
        if "units" in data and data["units"] != units:
            extra["units"] = data["units"]
        merge = MergeRecord.from_json(data.get("merge"))
        if data.get("merge") is not None and merge is None:
            extra["merge"] = data["merge"]
        return cls(
            **typed,
            units=units,
            planned_positions=tuple(_number(p) for p in planned or ()),
            frames=None if frames is None else tuple(FrameRecord.from_json(f, units) for f in frames),
            merge=merge,
            extra=extra,
        )


def position_key(units: str) -> str:
    return "position_um" if units == "um" else "position_steps"


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
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite)
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
        profile: dict,
        config: dict,
        mode: str,
        units: str,
        started: datetime,
        planned: list[float],
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
            outcome="running",
            frames=(),
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

    def add_frame(self, saved: SavedFrame | None, *, index: int, position: float, preview: bool = False) -> None:
        """Record one shot: ``saved`` as :func:`rig.frame_store.save_frame` returned it, or None
        for a shot kept on the camera's card."""
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
        )
        with self._lock:
            self._record = replace(self._record, frames=(*(self._record.frames or ()), entry))
            self._write()

    def finish(self, outcome: str, error: str | None = None) -> None:
        assert outcome in OUTCOMES, outcome
        self._update(outcome=outcome, error=error, ended=now_iso())

    def set_merge(self, merge: MergeRecord | None) -> None:
        self._update(merge=merge)

    @property
    def outcome(self) -> str:
        return self._record.outcome or "unknown"


def record_merge(folder: Path, merge: MergeRecord) -> None:
    """Write ``merge`` into ``folder``'s ``stack.json`` (the frames and all else kept as they are)."""
    Manifest.load(folder).set_merge(merge)


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


# --------------------------------------------------------------------------- helpers
def _with_extra(out: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``out`` with the keys read but not understood: unknown keys, and known ones whose value had
    the wrong type (written back as they were, unless this run has set them since)."""
    out.update(extra)
    return out


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _no_constant(_: str) -> None:
    return None  # NaN, Infinity: never in a manifest rig wrote, and not valid JSON to answer with


def _finite(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
