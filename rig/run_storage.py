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
from rig.manifest import Manifest, ResumeRecord, now_iso
from rig.paths import Template, free_mb, make_run_folder
from rig.resume import ResumeSetup

PREVIEW_FOLDER = "preview"  # the preview-images mode's frames, inside the run folder


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
    ) -> RunStorage:
        """Check, then create the run folder and its ``stack.json``. Raises :class:`UsageError`
        (nothing created) when the template, the folder or the free space will not do."""
        template = Template.parse(profile.out, output.root)
        if len(planned) >= 10**template.digits:
            raise UsageError(
                f"output template {profile.out!r}: a {template.digits}-digit counter cannot number "
                f"{len(planned)} frames (use @GCT{len(str(len(planned)))} or more)"
            )
        target = template.writable_check(started, profile_name)
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
        )
        return cls(template, manifest, profile_name)

    @classmethod
    def reopen(cls, setup: ResumeSetup, position: str) -> RunStorage:
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
        storage = cls(setup.template, manifest, setup.profile_name)
        frames_dir = setup.folder / PREVIEW_FOLDER if setup.profile.mode == "preview-images" else setup.folder
        storage.counter = _free_counter(frames_dir, setup.template, setup.profile_name, setup.files_kept + 1)
        return storage

    def save(self, frame: Frame | None, *, index: int, position: float, preview: bool = False) -> str | None:
        """Save one shot and record it; returns its file name relative to the run folder, or
        None for a shot kept on the camera's card (``frame`` None)."""
        if frame is None:
            self.manifest.add_frame(None, index=index, position=position)
            return None
        folder = self.folder / PREVIEW_FOLDER if preview else self.folder
        if preview:
            folder.mkdir(exist_ok=True)
        name = self.template.file_name(self.counter, self.profile_name, frame.ext)
        saved = save_frame(frame, folder / name, self.folder)
        self.manifest.add_frame(saved, index=index, position=position, preview=preview)
        self.counter += 1  # only after a successful save
        return saved.file

    def finish(self, outcome: str, error: str | None = None) -> None:
        self.manifest.finish(outcome, error)


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
