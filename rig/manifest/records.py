"""The typed records of ``stack.json`` (frozen dataclasses) and their JSON form, keys exactly as
on disk. Only :mod:`rig.manifest` reads and writes the file; import the records from there. The frame
entries are in :mod:`rig.manifest.frames`, the value readers in :mod:`rig.manifest.values`.

A record never trusts the file: a field of the wrong type reads as ``None`` (its raw value is
kept in ``extra`` and written back unchanged), and a key this version does not know is kept in
``extra`` too, so loading and saving an old or foreign manifest loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rig.manifest.frames import FrameRecord
from rig.manifest.values import UnreadableManifest, as_crop, as_int, as_number, as_str, json_type, with_extra
from rig.specimen import Specimen

FORMAT = "rig-stack/1"
MERGE_STATES = ("running", "done", "failed", "cancelled")
OUTCOMES = ("running", "completed", "cancelled", "failed", "interrupted")
FINAL_OUTCOMES = OUTCOMES[1:]


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
        return cls(
            data["state"], names, as_str(data.get("error")), as_str(data.get("started")), as_str(data.get("finished"))
        )


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
            return tuple(n for n in (as_number(x) for x in raw) if n is not None) if isinstance(raw, list) else ()

        return cls(
            as_str(data.get("image")),
            (tiles[0], tiles[1]),
            tuple(tuple(int(v) for v in row if type(v) is int) for row in rows if isinstance(row, list)),
            as_number(data.get("detail_fraction")),
            tuple(int(n) for n in numbers("sharp_tiles")),
            numbers("gaps"),
            numbers("filled"),
            as_int(data.get("caught")) or 0,
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
        return cls(data["confirmed"], as_number(data.get("correction")) or 0.0, data.get("searched") is True)


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
            as_str(data.get("position")) or "unknown",
            as_str(data.get("previous_outcome")),
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
        return with_extra(out, self.extra)

    @classmethod
    def from_json(cls, data: Any) -> StackManifest:
        """Typed view of a parsed ``stack.json``; raises :class:`UnreadableManifest` only when it
        is not an object or its ``frames``/``planned_positions`` are not lists (of objects)."""
        if not isinstance(data, dict):
            raise UnreadableManifest(f"a JSON {json_type(data)}, not an object")
        frames = data.get("frames")
        if frames is not None and not isinstance(frames, list):
            raise UnreadableManifest(f"'frames' is a JSON {json_type(frames)}, not a list")
        if frames is not None and not all(isinstance(f, dict) for f in frames):
            raise UnreadableManifest("'frames' holds entries that are not objects")
        planned = data.get("planned_positions")
        if planned is not None and not isinstance(planned, list):
            raise UnreadableManifest(f"'planned_positions' is a JSON {json_type(planned)}, not a list")
        units: str = data["units"] if data.get("units") in ("um", "steps") else "um"
        typed: dict[str, Any] = {
            "format": as_str(data.get("format")),
            "rig_version": as_str(data.get("rig_version")),
            "profile_name": as_str(data.get("profile_name")),
            "profile": data["profile"] if isinstance(data.get("profile"), dict) else {},
            "config": data["config"] if isinstance(data.get("config"), dict) else {},
            "mode": as_str(data.get("mode")),
            "started": as_str(data.get("started")),
            "started_utc": as_str(data.get("started_utc")),
            "outcome": as_str(data.get("outcome")),
            "error": as_str(data.get("error")),
            "ended": as_str(data.get("ended")),
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
        crop = as_crop(data.get("crop"))
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
            planned_positions=tuple(as_number(p) for p in planned or ()),
            frames=None if frames is None else tuple(FrameRecord.from_json(f, units) for f in frames),
            merge=merge,
            specimen=specimen,
            crop=crop,
            coverage=coverage,
            return_check=return_check,
            resumes=resumes,
            extra=extra,
        )
