"""The files of one run: its folder, its frames and its ``stack.json``.

:meth:`RunStorage.open` checks everything a run needs on disk before anything moves (the output
template, the frame counter's digits, that the folder can be created, the free space), then
creates a fresh run folder and its manifest (outcome ``running``). The sequencer then hands it
each captured frame (:meth:`RunStorage.save`) and the outcome (:meth:`RunStorage.finish`);
it never touches a path itself.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from rig.camera.base import Frame
from rig.config import OutputConfig, Profile
from rig.errors import UsageError
from rig.frame_store import save_frame
from rig.manifest import CoverageRecord, FrameChecks, Manifest, ReturnCheckRecord
from rig.paths import Template, free_mb, make_run_folder, write_replace
from rig.specimen import Specimen

PREVIEW_FOLDER = "preview"  # the preview-images mode's frames, inside the run folder
COVERAGE_IMAGE = "coverage.png"  # the coverage map, beside the frames
COMPOSITE_IMAGE = "composite.jpg"  # the growing result during capture (rig.live_composite)
REJECTED_FOLDER = "rejected"  # shots the per-frame checks turned down (kept, never merged)


class RunStorage:
    """One run's folder and manifest; frames are numbered by the template's ``@GCTn`` counter,
    which advances only after a frame was saved."""

    def __init__(self, template: Template, manifest: Manifest, profile_name: str) -> None:
        self.template = template
        self.manifest = manifest
        self.profile_name = profile_name
        self.counter = 1

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
        if free < output.min_free_mb:
            raise UsageError(f"only {free:.0f} MB free under {target} (output.min_free_mb = {output.min_free_mb:g})")
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
        return cls(template, manifest, profile_name)

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
        name = self.template.file_name(self.counter, self.profile_name, frame.ext)
        saved = save_frame(frame, folder / name, self.folder)
        self.manifest.add_frame(
            saved, index=index, position=position, preview=preview, checks=checks, gap_fill=gap_fill
        )
        self.counter += 1  # only after a successful save
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
        self.manifest.finish(outcome, error)


def _profile_table(profile: Profile) -> dict[str, Any]:
    from rig.config.schema import to_table

    return to_table(profile)
