"""The records of ``stack.json``'s ``frames`` list: one shot's files, its checks' verdict, the
frame entry itself (frozen dataclasses, keys exactly as on disk; see :mod:`rig.manifest.records`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rig.manifest.values import as_int, as_number, as_str, position_key, with_extra


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
        return cls(data["file"], as_int(data.get("bytes")), as_str(data.get("sha256")))


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
        return cls(tuple(r for r in data["reasons"] if isinstance(r, str)), as_str(data.get("file")))


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
        if data.get("verdict") not in VERDICTS or as_int(data.get("shots")) is None or not isinstance(checks, dict):
            return None
        raw_rejected, raw_reasons = checks.get("rejected"), checks.get("reasons")
        rejected: list[Any] = raw_rejected if isinstance(raw_rejected, list) else []
        reasons: list[Any] = raw_reasons if isinstance(raw_reasons, list) else []
        return cls(
            data["verdict"],
            data["shots"],
            as_number(checks.get("brightness_ratio")),
            as_number(checks.get("sharpness_ratio")),
            tuple(r for r in reasons if isinstance(r, str)),
            tuple(r for r in (RejectedShot.from_json(x) for x in rejected) if r),
            as_number(data.get("settle_s")),
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
        return with_extra(out, self.extra)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], units: str) -> FrameRecord:
        key = position_key(units)
        raw_companions = data.get("companions")
        companions = tuple(
            c for c in (FrameFile.from_json(x) for x in raw_companions or () if isinstance(raw_companions, list)) if c
        )
        typed: dict[str, Any] = {
            "index": data.get("index") if type(data.get("index")) is int else None,
            "position": as_number(data.get(key)),
            "time": as_str(data.get("time")),
            "file": data.get("file") if isinstance(data.get("file"), str) and data.get("file") else None,
            "bytes": as_int(data.get("bytes")),
            "sha256": as_str(data.get("sha256")),
            "preview": data.get("preview") is True,
            "stored": as_str(data.get("stored")),
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
