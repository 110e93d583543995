"""Resuming a stack that did not finish (``rig stack --resume STACK_DIR``, the gallery's Resume).

:func:`prepare_resume` decides everything before anything moves or changes: the folder must be
a rig stack that ended ``interrupted``, ``cancelled`` or ``failed``, shot with the same machine
(rail and camera) as now; its frames are verified against ``stack.json`` (file present, size
and sha256), and the run goes on from the first missing or unverified slice with the same
planned positions, into the same folder. Any refusal is a :class:`rig.errors.StateError`
(exit 2, HTTP 409) naming the reason, and leaves the folder as it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.config import MachineConfig, Profile
from rig.config.schema import from_table
from rig.errors import ConfigError, StateError
from rig.manifest import MANIFEST, FrameRecord, StackManifest, UnreadableManifest, read_manifest
from rig.paths import Template

RESUMABLE = ("interrupted", "cancelled", "failed")


@dataclass(frozen=True)
class ResumeSetup:
    """What a resume will do; built by :func:`prepare_resume`, nothing changed yet."""

    folder: Path
    profile: Profile
    profile_name: str
    targets: tuple[float, ...]
    first_slice: int  # 1-based: the first slice shot again
    keep: int  # frames of stack.json kept (all verified)
    dropped: tuple[Mapping[str, Any], ...]  # {index, file, why}: listed frames shot again
    previous_outcome: str
    files_kept: int  # files of the kept frames (the @GCTn counter numbered them 1..files_kept)
    template: Template

    @property
    def remaining(self) -> int:
        return len(self.targets) - self.first_slice + 1


def _fail(folder: Path, why: str) -> StateError:
    return StateError(f"cannot resume {folder}: {why}")


def prepare_resume(folder: Path | str, config: MachineConfig) -> ResumeSetup:
    folder = Path(folder).expanduser()
    if not (folder / MANIFEST).is_file():
        raise _fail(folder, f"not a rig stack (no {MANIFEST})")
    try:
        record = read_manifest(folder)
    except (OSError, UnreadableManifest) as exc:
        raise _fail(folder, f"not a rig stack ({MANIFEST}: {exc})") from None
    if record.frames is None or not (record.format or "").startswith("rig-stack/"):
        raise _fail(folder, f"not a rig stack ({MANIFEST} has no rig frames list)")
    if record.outcome == "completed":
        raise _fail(folder, "the stack is already completed")
    if record.outcome not in RESUMABLE:
        why = "it is still running" if record.outcome == "running" else f"its outcome is {record.outcome!r}"
        raise _fail(folder, f"{why}; only interrupted, cancelled or failed stacks can be resumed")
    _same_machine(folder, record, config)
    profile = _profile(folder, record)
    if profile.mode == "preview":
        raise _fail(folder, "a preview sweep saves no frames; start it again instead")
    targets = tuple(p for p in record.planned_positions if p is not None)
    if not targets or len(targets) != len(record.planned_positions):
        raise _fail(folder, f"{MANIFEST} has no usable planned_positions")
    keep, dropped = verify_frames(folder, record.frames)
    if keep > len(targets):
        raise _fail(folder, f"{MANIFEST} lists {keep} frames but plans only {len(targets)}")
    try:
        template = Template.parse(profile.out, config.output.root)
    except Exception as exc:  # noqa: BLE001 - a UsageError from the template
        raise _fail(folder, f"its output template {profile.out!r} is unusable: {exc}") from None
    name = record.profile_name or "default"
    return ResumeSetup(
        folder=folder,
        profile=profile,
        profile_name=name,
        targets=targets,
        first_slice=keep + 1,
        keep=keep,
        dropped=tuple(dropped),
        previous_outcome=record.outcome or "unknown",
        files_kept=sum(1 for f in record.frames[:keep] if f.file),
        template=template,
    )


def _same_machine(folder: Path, record: StackManifest, config: MachineConfig) -> None:
    now = config.summary()
    for part in ("rail", "camera"):
        then = record.config.get(part)
        if not isinstance(then, Mapping):
            raise _fail(folder, f"{MANIFEST} does not say which {part} shot it")
        for key, value in now[part].items():
            old = then.get(key)
            if isinstance(value, (list, tuple)):
                old = tuple(old) if isinstance(old, list) else old
                value = tuple(value)
            if old != value:
                raise _fail(
                    folder,
                    f"it was shot with a different machine config ({part}.{key} was {old!r}, now {value!r}); "
                    "resume it with the config that shot it",
                )


def _profile(folder: Path, record: StackManifest) -> Profile:
    try:
        return from_table(Profile, dict(record.profile), f"{folder / MANIFEST}").checked("profile")
    except ConfigError as exc:
        raise _fail(folder, f"its profile is unusable: {exc}") from None


def verify_frames(folder: Path, frames: tuple[FrameRecord, ...]) -> tuple[int, list[dict[str, Any]]]:
    """How many leading frames are whole (index in order, every file present with its size and
    sha256), and the frames after them, with why each is shot again."""
    keep = len(frames)
    for n, frame in enumerate(frames, start=1):
        why = _frame_problem(folder, frame, n)
        if why:
            keep = n - 1
            break
    dropped = []
    for n, frame in enumerate(frames[keep:], start=keep + 1):
        dropped.append(
            {"index": frame.index, "file": frame.file, "why": _frame_problem(folder, frame, n) or "after it"}
        )
    return keep, dropped


def _frame_problem(folder: Path, frame: FrameRecord, position: int) -> str | None:
    if frame.index != position:
        return f"index {frame.index} where {position} was expected"
    root = folder.resolve()
    for part in frame.files():
        path = folder / part.file
        try:
            if not path.resolve().is_relative_to(root) or Path(part.file).is_absolute():
                return f"{part.file} is outside the stack folder"
            data = path.read_bytes()
        except FileNotFoundError:
            return f"{part.file} is missing"
        except OSError as exc:
            return f"{part.file} cannot be read ({exc.strerror})"
        if part.bytes is not None and len(data) != part.bytes:
            return f"{part.file} has {len(data)} bytes, {part.bytes} listed"
        if part.sha256 is not None and hashlib.sha256(data).hexdigest() != part.sha256:
            return f"{part.file} does not match its sha256"
    return None
