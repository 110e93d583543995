"""The typed records of ``stack.json`` (frozen dataclasses) and their JSON form, keys exactly as
on disk. Only :mod:`rig.manifest` reads and writes the file; import the records from there.

A record never trusts the file: a field of the wrong type reads as ``None`` (its raw value is
kept in ``extra`` and written back unchanged), and a key this version does not know is kept in
``extra`` too, so loading and saving an old or foreign manifest loses nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rig.specimen import Specimen

FORMAT = "rig-stack/1"
MERGE_STATES = ("running", "done", "failed", "cancelled")
OUTCOMES = ("running", "completed", "cancelled", "failed", "interrupted")
FINAL_OUTCOMES = OUTCOMES[1:]


class UnreadableManifest(ValueError):
    """``stack.json`` is not a readable rig manifest; the message is the one-line reason."""


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


VERDICTS = ("good", "reshot", "failed", "unchecked")


@dataclass(frozen=True)
class RejectedShot:
    """A shot the checks turned down: why, and its file (kept under ``rejected/``; None when the
    camera delivered none)."""

    reasons: tuple[str, ...]
    file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "reasons": list(self.reasons)}

    @classmethod
    def from_json(cls, data: Any) -> RejectedShot | None:
        if not isinstance(data, dict) or not isinstance(data.get("reasons"), list):
            return None
        return cls(tuple(r for r in data["reasons"] if isinstance(r, str)), _str(data.get("file")))


@dataclass(frozen=True)
class FrameChecks:
    """What the per-frame checks (:mod:`rig.frame_checks`) found for one slice. On disk: the
    frame's ``verdict`` and ``shots`` keys and its ``checks`` object.

    ``verdict``: ``good`` (the first shot passed), ``reshot`` (a retake passed), ``failed`` (no
    shot passed within ``retries``; the last one is kept), ``unchecked`` (the check itself could
    not run, e.g. the file does not decode; the frame is kept)."""

    verdict: str
    shots: int
    brightness_ratio: float | None = None  # the kept shot's mean brightness / the previous slice's
    sharpness_ratio: float | None = None  # its median tile sharpness / the previous slice's
    reasons: tuple[str, ...] = ()  # why the kept shot is failed or unchecked
    rejected: tuple[RejectedShot, ...] = ()
    settle_s: float | None = None  # measured settle before the kept shot (settle_s = "auto")

    def to_json(self) -> dict[str, Any]:
        checks: dict[str, Any] = {
            "brightness_ratio": self.brightness_ratio,
            "sharpness_ratio": self.sharpness_ratio,
            "reasons": list(self.reasons),
            "rejected": [r.to_json() for r in self.rejected],
        }
        out: dict[str, Any] = {"verdict": self.verdict, "shots": self.shots, "checks": checks}
        if self.settle_s is not None:
            out["settle_s"] = self.settle_s
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FrameChecks | None:
        checks = data.get("checks")
        if data.get("verdict") not in VERDICTS or _int(data.get("shots")) is None or not isinstance(checks, dict):
            return None
        raw_rejected, raw_reasons = checks.get("rejected"), checks.get("reasons")
        rejected: list[Any] = raw_rejected if isinstance(raw_rejected, list) else []
        reasons: list[Any] = raw_reasons if isinstance(raw_reasons, list) else []
        return cls(
            data["verdict"],
            data["shots"],
            _number(checks.get("brightness_ratio")),
            _number(checks.get("sharpness_ratio")),
            tuple(r for r in reasons if isinstance(r, str)),
            tuple(r for r in (RejectedShot.from_json(x) for x in rejected) if r),
            _number(data.get("settle_s")),
        )


CHECK_KEYS = ("verdict", "shots", "checks", "settle_s")


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
    checks: FrameChecks | None = None  # the per-frame checks' verdict, shots and figures
    gap_fill: bool = False  # shot after the last slice, where the coverage map found no sharp slice
    recovered: bool = False  # adopted at startup: on disk and whole, but not listed (crash after the save)
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
        if self.checks is not None:
            out.update(self.checks.to_json())
        if self.gap_fill:
            out["gap_fill"] = True
        if self.recovered:
            out["recovered"] = True
        return _with_extra(out, self.extra)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], units: str) -> FrameRecord:
        key = position_key(units)
        raw_companions = data.get("companions")
        companions = tuple(
            c for c in (FrameFile.from_json(x) for x in raw_companions or () if isinstance(raw_companions, list)) if c
        )
        typed: dict[str, Any] = {
            "index": data.get("index") if type(data.get("index")) is int else None,
            "position": _number(data.get(key)),
            "time": _str(data.get("time")),
            "file": data.get("file") if isinstance(data.get("file"), str) and data.get("file") else None,
            "bytes": _int(data.get("bytes")),
            "sha256": _str(data.get("sha256")),
            "preview": data.get("preview") is True,
            "stored": _str(data.get("stored")),
            "recovered": data.get("recovered") is True,
        }
        checks = FrameChecks.from_json(data)
        known = {
            key,
            "index",
            "time",
            "file",
            "bytes",
            "sha256",
            "preview",
            "stored",
            "companions",
            "gap_fill",
            "recovered",
        }
        if checks is not None:
            known |= set(CHECK_KEYS)
        extra = {k: v for k, v in data.items() if k not in known}
        if "gap_fill" in data and data["gap_fill"] is not True:
            extra["gap_fill"] = data["gap_fill"]
        for k in ("index", "time", "file", "bytes", "sha256", "stored"):  # wrong types: kept as they were
            if data.get(k) is not None and typed[k] is None:
                extra[k] = data[k]
        if data.get(key) is not None and typed["position"] is None:
            extra[key] = data[key]
        for flag in ("preview", "recovered"):
            if flag in data and data[flag] is not True:
                extra[flag] = data[flag]
        well_formed = isinstance(raw_companions, list) and len(companions) == len(raw_companions)
        if raw_companions is not None and not well_formed:  # written back as it was
            extra["companions"] = raw_companions
        return cls(**typed, companions=companions, checks=checks, gap_fill=data.get("gap_fill") is True, extra=extra)


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


@dataclass(frozen=True)
class CoverageRecord:
    """The ``coverage`` field: the coverage map (:mod:`rig.coverage`) when the run ended.

    ``best_slice``: per tile (rows of ``tiles[0]`` columns), the index of the slice where it is
    sharpest (0: no detail there). ``sharp_tiles``: per slice in position order, how many tiles
    it is sharp in. ``gaps``: positions found uncovered; ``filled``: those shot after the last
    slice. ``caught``: shots the per-frame checks turned down. ``image``: ``coverage.png``."""

    image: str | None
    tiles: tuple[int, int]
    best_slice: tuple[tuple[int, ...], ...] = ()
    detail_fraction: float | None = None
    sharp_tiles: tuple[int, ...] = ()
    gaps: tuple[float, ...] = ()
    filled: tuple[float, ...] = ()
    caught: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "tiles": list(self.tiles),
            "best_slice": [list(row) for row in self.best_slice],
            "detail_fraction": self.detail_fraction,
            "sharp_tiles": list(self.sharp_tiles),
            "gaps": list(self.gaps),
            "filled": list(self.filled),
            "caught": self.caught,
        }

    @classmethod
    def from_json(cls, data: Any) -> CoverageRecord | None:
        if not isinstance(data, dict):
            return None
        tiles = data.get("tiles")
        if not (isinstance(tiles, list) and len(tiles) == 2 and all(type(t) is int for t in tiles)):
            return None
        raw_rows = data.get("best_slice")
        rows: list[Any] = raw_rows if isinstance(raw_rows, list) else []

        def numbers(key: str) -> tuple[float, ...]:
            raw = data.get(key)
            return tuple(n for n in (_number(x) for x in raw) if n is not None) if isinstance(raw, list) else ()

        return cls(
            _str(data.get("image")),
            (tiles[0], tiles[1]),
            tuple(tuple(int(v) for v in row if type(v) is int) for row in rows if isinstance(row, list)),
            _number(data.get("detail_fraction")),
            tuple(int(n) for n in numbers("sharp_tiles")),
            numbers("gaps"),
            numbers("filled"),
            _int(data.get("caught")) or 0,
        )


@dataclass(frozen=True)
class ReturnCheckRecord:
    """The ``return_check`` field: the closed-loop return of a drive without a position readout
    (:mod:`rig.return_check`)."""

    confirmed: bool
    correction: float
    searched: bool

    def to_json(self) -> dict[str, Any]:
        return {"confirmed": self.confirmed, "correction": self.correction, "searched": self.searched}

    @classmethod
    def from_json(cls, data: Any) -> ReturnCheckRecord | None:
        if not isinstance(data, dict) or not isinstance(data.get("confirmed"), bool):
            return None
        return cls(data["confirmed"], _number(data.get("correction")) or 0.0, data.get("searched") is True)


@dataclass(frozen=True)
class ResumeRecord:
    """One entry of ``resumes``: a resumed run (``rig stack --resume``, the gallery's Resume).
    ``from_slice`` is the first slice shot again; ``position`` how the rail's position was
    known (``homed`` or ``confirmed`` by the user); ``dropped`` the frames no longer listed
    because their file was missing or did not match its sha256 (``{index, file, why}``; the
    files themselves are left where they were); ``previous_outcome`` how the run had ended."""

    at: str
    from_slice: int
    position: str
    previous_outcome: str | None = None
    dropped: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "from_slice": self.from_slice,
            "position": self.position,
            "previous_outcome": self.previous_outcome,
            "dropped": [dict(d) for d in self.dropped],
        }

    @classmethod
    def from_json(cls, data: Any) -> ResumeRecord | None:
        if not isinstance(data, dict) or not isinstance(data.get("at"), str) or type(data.get("from_slice")) is not int:
            return None
        dropped = data.get("dropped")
        return cls(
            data["at"],
            data["from_slice"],
            _str(data.get("position")) or "unknown",
            _str(data.get("previous_outcome")),
            tuple(d for d in dropped if isinstance(d, dict)) if isinstance(dropped, list) else (),
        )


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
    "clock_synchronized",
    "outcome",
    "error",
    "ended",
    "frames",
    "merge",
    "specimen",
    "crop",
    "coverage",
    "return_check",
    "resumes",
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
    clock_synchronized: bool | None = None  # False: the folder's date may be wrong (no NTP, no RTC)
    outcome: str | None = None
    error: str | None = None
    ended: str | None = None
    frames: tuple[FrameRecord, ...] | None = ()
    merge: MergeRecord | None = None
    specimen: Specimen | None = None  # what the stack is of (rig.specimen), exactly as typed
    crop: tuple[int, int, int, int] | None = None  # x, y, width, height in pixels: applied to the results only
    coverage: CoverageRecord | None = None  # the per-frame checks' coverage map (issue 14)
    return_check: ReturnCheckRecord | None = None  # closed-loop return of a lens drive (issue 14)
    resumes: tuple[ResumeRecord, ...] = ()  # each resume of this run, oldest first
    extra: Mapping[str, Any] = field(default_factory=dict)  # keys this version does not know, wrong types

    @property
    def final(self) -> bool:
        return self.outcome in FINAL_OUTCOMES

    def focus_order(self, frames: Sequence[FrameRecord] | None = None) -> list[FrameRecord]:
        """``frames`` (default: all of them) in the order of their focus positions, in the run's
        direction: a gap fill, shot after the last slice at a position between two slices, takes
        its place between them (mergers and exports need the slices in depth order). The direction
        is the planned one (first to last planned position), else the first to the last slice's. With
        a frame whose position is unknown, or no direction, the manifest's order is kept."""
        chosen = list(self.frames or () if frames is None else frames)
        positions = [f.position for f in chosen]
        planned = [p for p in self.planned_positions if p is not None]
        ends = (
            planned if len(planned) >= 2 else [f.position for f in chosen if f.position is not None and not f.gap_fill]
        )
        if not chosen or any(p is None for p in positions) or len(ends) < 2 or ends[0] == ends[-1]:
            return chosen
        sign = 1.0 if ends[-1] > ends[0] else -1.0
        return sorted(chosen, key=lambda f: sign * (f.position or 0.0))  # stable: equal positions keep their order

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
            **({} if self.clock_synchronized is None else {"clock_synchronized": self.clock_synchronized}),
            "outcome": self.outcome,
            "error": self.error,
            "ended": self.ended,
            "frames": None if self.frames is None else [f.to_json(self.units) for f in self.frames],
            "merge": self.merge.to_json() if self.merge else None,
            **({} if self.specimen is None else {"specimen": self.specimen.to_json()}),
            **({} if self.crop is None else {"crop": list(self.crop)}),
        }
        if self.coverage is not None:
            out["coverage"] = self.coverage.to_json()
        if self.return_check is not None:
            out["return_check"] = self.return_check.to_json()
        if self.resumes:
            out["resumes"] = [r.to_json() for r in self.resumes]
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
        units: str = data["units"] if data.get("units") in ("um", "steps") else "um"
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
            "clock_synchronized": data["clock_synchronized"]
            if isinstance(data.get("clock_synchronized"), bool)
            else None,
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
        specimen = Specimen.from_json(data.get("specimen"))
        if data.get("specimen") is not None and specimen is None:
            extra["specimen"] = data["specimen"]
        crop = _crop(data.get("crop"))
        if data.get("crop") is not None and crop is None:
            extra["crop"] = data["crop"]
        coverage = CoverageRecord.from_json(data.get("coverage"))
        if data.get("coverage") is not None and coverage is None:
            extra["coverage"] = data["coverage"]
        return_check = ReturnCheckRecord.from_json(data.get("return_check"))
        if data.get("return_check") is not None and return_check is None:
            extra["return_check"] = data["return_check"]
        raw_resumes = data.get("resumes")
        resumes = (
            tuple(r for r in (ResumeRecord.from_json(x) for x in raw_resumes or ()) if r)
            if isinstance(raw_resumes, list)
            else ()
        )
        if raw_resumes is not None and (not isinstance(raw_resumes, list) or len(resumes) != len(raw_resumes)):
            extra["resumes"] = raw_resumes  # written back as it was
        return cls(
            **typed,
            units=units,
            planned_positions=tuple(_number(p) for p in planned or ()),
            frames=None if frames is None else tuple(FrameRecord.from_json(f, units) for f in frames),
            merge=merge,
            specimen=specimen,
            crop=crop,
            coverage=coverage,
            return_check=return_check,
            resumes=resumes,
            extra=extra,
        )


def position_key(units: str) -> str:
    return "position_um" if units == "um" else "position_steps"


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


def no_constant(_: str) -> None:
    return None  # NaN, Infinity: never in a manifest rig wrote, and not valid JSON to answer with


def finite(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _crop(value: Any) -> tuple[int, int, int, int] | None:
    if not isinstance(value, list) or len(value) != 4 or not all(type(v) is int for v in value):
        return None
    return (value[0], value[1], value[2], value[3])


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
