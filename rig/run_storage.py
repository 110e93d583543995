"""The files of one run: its folder, its frames and its ``stack.json``.

:meth:`RunStorage.open` checks everything a run needs on disk before anything moves (the output
template, the frame counter's digits, that the folder can be created, the free space), then
creates a fresh run folder and its manifest (outcome ``running``). The sequencer then hands it
each captured frame (:meth:`RunStorage.save`) and the outcome (:meth:`RunStorage.finish`);
it never touches a path itself.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from rig.camera.base import Frame
from rig.config import OutputConfig, Profile
from rig.errors import StorageError, UsageError
from rig.frame_store import save_frame
from rig.manifest import CoverageRecord, FrameChecks, Manifest, ResumeRecord, ReturnCheckRecord, now_iso
from rig.paths import Template, free_mb, make_run_folder, write_replace
from rig.resume import ResumeSetup
from rig.specimen import Specimen

log = logging.getLogger(__name__)
PREVIEW_FOLDER = "preview"  # the preview-images mode's frames, inside the run folder
COVERAGE_IMAGE = "coverage.png"  # the coverage map, beside the frames
COMPOSITE_IMAGE = "composite.jpg"  # the growing result during capture (rig.live_composite)
REJECTED_FOLDER = "rejected"  # shots the per-frame checks turned down (kept, never merged)
RESERVE_FILE = ".rig-reserve"  # space held for the last stack.json updates; removed at the end
RESERVE_MIN_BYTES = 1 << 20
RESERVE_PER_FRAME_BYTES = 1024  # a frame's entry in stack.json is about 300 bytes


class RunStorage:
    """One run's folder and manifest; frames are numbered by the template's ``@GCTn`` counter,
    which advances only after a frame was saved."""

    def __init__(self, template: Template, manifest: Manifest, profile_name: str, min_free_mb: float = 0.0) -> None:
        self.template = template
        self.manifest = manifest
        self.profile_name = profile_name
        self.counter = 1
        self.min_free_mb = min_free_mb  # the reserve kept free while the run goes (output.min_free_mb)
        self.reserve = self.manifest.folder / RESERVE_FILE

    @property
    def folder(self) -> Path:
        return self.manifest.folder

    @classmethod
    def open(
        cls,
        profile: Profile,
        profile_name: str,
        *,
        output: OutputConfig,
        config_summary: dict[str, Any],
        units: str,
        planned: list[float],
        started: datetime,
        clock_synchronized: bool | None = None,
        specimen: Specimen | None = None,
    ) -> RunStorage:
        """Check, then create the run folder and its ``stack.json``. Raises :class:`UsageError`
        (nothing created) when the template, the folder or the free space will not do."""
        template = Template.parse(profile.out, output.root)
        if len(planned) >= 10**template.digits:
            raise UsageError(
                f"output template {profile.out!r}: a {template.digits}-digit counter cannot number "
                f"{len(planned)} frames (use @GCT{len(str(len(planned)))} or more)"
            )
        target = template.writable_check(started, profile_name, specimen)
        free = free_mb(target)
        reserve_mb = max(RESERVE_MIN_BYTES, len(planned) * RESERVE_PER_FRAME_BYTES) / 1e6
        if free < output.min_free_mb + reserve_mb:
            raise UsageError(
                f"only {free:.1f} MB free under {target} (output.min_free_mb = {output.min_free_mb:g}, "
                f"plus {reserve_mb:.1f} MB held for the stack's records)"
            )
        folder = make_run_folder(target)
        manifest = Manifest.create(
            folder,
            profile_name=profile_name,
            profile=_profile_table(profile),
            config=config_summary,
            mode=profile.mode,
            units=units,
            started=started,
            planned=planned,
            clock_synchronized=clock_synchronized,
            specimen=specimen,
        )
        storage = cls(template, manifest, profile_name, output.min_free_mb)
        storage.hold_reserve(len(planned))
        return storage

    @classmethod
    def reopen(cls, setup: ResumeSetup, position: str, min_free_mb: float = 0.0) -> RunStorage:
        """The storage of a stack being resumed (rig.resume): its ``stack.json`` says ``running``
        again, keeps the verified frames and records the resume; new frames are numbered on
        from the first free counter (files of dropped frames are never overwritten)."""
        manifest = Manifest.load(setup.folder)
        resume = ResumeRecord(
            at=now_iso(),
            from_slice=setup.first_slice,
            position=position,
            previous_outcome=setup.previous_outcome,
            dropped=setup.dropped,
        )
        manifest.reopen(setup.keep, resume)
        storage = cls(setup.template, manifest, setup.profile_name, min_free_mb)
        storage.hold_reserve(len(setup.targets))
        frames_dir = setup.folder / PREVIEW_FOLDER if setup.profile.mode == "preview-images" else setup.folder
        storage.counter = _free_counter(frames_dir, setup.template, setup.profile_name, setup.files_kept + 1)
        return storage

    def save(
        self,
        frame: Frame | None,
        *,
        index: int,
        position: float,
        preview: bool = False,
        checks: FrameChecks | None = None,
        gap_fill: bool = False,
    ) -> str | None:
        """Save one shot and record it; returns its file name relative to the run folder, or
        None for a shot kept on the camera's card (``frame`` None)."""
        if frame is None:
            self.manifest.add_frame(None, index=index, position=position, checks=checks, gap_fill=gap_fill)
            return None
        folder = self.folder / PREVIEW_FOLDER if preview else self.folder
        if preview:
            folder.mkdir(exist_ok=True)
        self._check_reserve(frame)
        name = self.template.file_name(self.counter, self.profile_name, frame.ext)
        saved = save_frame(frame, folder / name, self.folder)
        self.counter += 1  # only after a successful save
        try:
            self.manifest.add_frame(
                saved, index=index, position=position, preview=preview, checks=checks, gap_fill=gap_fill
            )
        except StorageError as exc:  # the disk filled between the frame and its entry: list it anyway
            self._save_with_reserve()
            raise StorageError(f"the disk is full; frame {index} is saved and listed, the run stops ({exc})") from None
        return saved.file

    def save_rejected(self, frame: Frame, *, index: int, shot: int) -> str:
        """Keep a shot the checks turned down, as ``rejected/<slice>-<shot>.<ext>``; not listed
        as a frame (never merged). Returns its name relative to the run folder."""
        folder = self.folder / REJECTED_FOLDER
        folder.mkdir(exist_ok=True)
        saved = save_frame(frame, folder / f"{index:04d}-{shot}.{frame.ext}", self.folder)
        return saved.file

    def save_progress(self, coverage_png: bytes, composite_jpeg: bytes | None) -> None:
        """The coverage map and the live composite so far (replaced with every good shot)."""
        write_replace(self.folder / COVERAGE_IMAGE, coverage_png)
        if composite_jpeg is not None:
            write_replace(self.folder / COMPOSITE_IMAGE, composite_jpeg)

    def save_coverage(self, png: bytes, figures: dict[str, Any], *, caught: int) -> None:
        """Write ``coverage.png`` and record the coverage map's figures in ``stack.json``."""
        write_replace(self.folder / COVERAGE_IMAGE, png)
        best = figures["best_slice"]
        record = CoverageRecord(
            image=COVERAGE_IMAGE,
            tiles=(int(figures["tiles"][0]), int(figures["tiles"][1])),
            best_slice=tuple(tuple(int(v) for v in row) for row in best),
            detail_fraction=float(figures["detail_fraction"]),
            sharp_tiles=tuple(int(n) for n in figures["sharp_tiles"]),
            gaps=tuple(float(p) for p in figures["gaps"]),
            filled=tuple(float(p) for p in figures["filled"]),
            caught=caught,
        )
        self.manifest.set_coverage(record)

    def record_return_check(self, result: ReturnCheckRecord) -> None:
        self.manifest.set_return_check(result)

    def finish(self, outcome: str, error: str | None = None) -> None:
        """Record the outcome; on a full disk the reserve is given up for it, so ``stack.json``
        never stays ``running`` because the disk filled. The reserve is removed either way."""
        try:
            self.manifest.finish(outcome, error)
        except StorageError:
            self.release_reserve()
            self.manifest.finish(outcome, error)
        finally:
            self.release_reserve()

    # -- the disk reserve -----------------------------------------------------------------
    def hold_reserve(self, frames: int) -> None:
        """Hold space for the last ``stack.json`` updates (a file of zeros, allocated now)."""
        size = max(RESERVE_MIN_BYTES, frames * RESERVE_PER_FRAME_BYTES)
        try:
            fd = os.open(self.reserve, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as exc:
            log.warning("%s: no disk reserve (%s)", self.reserve, exc.strerror)
            return
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:  # filled since the check in open(): go on without it
            log.warning("%s: no disk reserve (%s)", self.reserve, exc.strerror)
            os.close(fd)
            self.release_reserve()
            return
        os.close(fd)

    def release_reserve(self) -> None:
        try:
            self.reserve.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("%s: cannot remove (%s)", self.reserve, exc.strerror)

    def _save_with_reserve(self) -> None:
        self.release_reserve()
        try:
            self.manifest.save()
        except StorageError:
            log.error("%s: cannot be updated even without the reserve", self.manifest.path)

    def _check_reserve(self, frame: Frame) -> None:
        """Stop before a frame would leave less than ``min_free_mb`` free: never ENOSPC half-way."""
        size_mb = (len(frame.data) + sum(len(c.data) for c in frame.companions)) / 1e6
        try:
            free = free_mb(self.folder)
        except OSError:
            return
        if free - size_mb < self.min_free_mb:
            raise StorageError(
                f"the disk reserve is reached: {free:.0f} MB free under {self.folder}, the next frame needs "
                f"{size_mb:.1f} MB and output.min_free_mb = {self.min_free_mb:g} stays free; the run stops here "
                "(free some space, then resume the stack)"
            )


def _free_counter(frames_dir: Path, template: Template, profile_name: str, start: int) -> int:
    """The first counter from ``start`` on whose file name is not taken (by any extension)."""
    try:
        names = {p.name for p in frames_dir.iterdir()} if frames_dir.is_dir() else set()
    except OSError:
        names = set()
    counter = start
    while any(n.startswith(template.file_name(counter, profile_name, "") + ".") for n in names):
        counter += 1
    return counter


def _profile_table(profile: Profile) -> dict[str, Any]:
    from rig.config.schema import to_table

    return to_table(profile)
