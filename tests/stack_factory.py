"""Stack folders as the rig writes them (frames + ``stack.json`` through :mod:`rig.manifest`),
made directly on disk: small synthetic focus stacks for the batch, export and gallery tests and
the bench scripts (``bench/`` adds the checkout to ``sys.path`` to import it)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from rig.manifest import FrameFile, Manifest, SavedFrame
from rig.specimen import Specimen


def make_stack_folder(
    folder: Path,
    *,
    slices: int = 4,
    size: tuple[int, int] = (72, 96),
    seed: int = 0,
    specimen: Specimen | None = None,
    started: datetime | None = None,
    profile_name: str = "default",
    outcome: str = "completed",
    gap_fill: int | None = None,
) -> Path:
    """A run folder with ``slices`` JPEG frames of a textured scene, each sharp in one band.
    ``gap_fill``: that slice is shot last, as the rig shoots a gap fill (after the last slice,
    recorded last with the next index and file number)."""
    folder.mkdir(parents=True)
    h, w = size
    rng = np.random.default_rng(seed)
    scene = cv2.resize(
        rng.integers(0, 255, (h // 4, w // 4, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_NEAREST
    )
    when = (started or datetime(2026, 5, 1, 9, 0)).astimezone()
    manifest = Manifest.create(
        folder,
        profile_name=profile_name,
        profile={"slices": slices, "step_um": 50.0, "settle_s": 0.2},
        config={"source": "test"},
        mode="full",
        units="um",
        started=when,
        planned=[1000.0 + 50.0 * k for k in range(slices)],
        specimen=specimen,
    )
    order = [k for k in range(slices) if k != gap_fill] + ([gap_fill] if gap_fill is not None else [])
    for shot, k in enumerate(order):
        band = np.zeros((h, w), bool)
        band[:, k * w // slices : (k + 1) * w // slices] = True
        img = np.where(band[..., None], scene, cv2.GaussianBlur(scene, (0, 0), 3.0))
        ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        name = f"{shot + 1:04d}.jpg"
        (folder / name).write_bytes(data.tobytes())
        saved = SavedFrame(FrameFile(name, len(data), hashlib.sha256(data.tobytes()).hexdigest()))
        manifest.add_frame(saved, index=shot + 1, position=1000.0 + 50.0 * k, gap_fill=k == gap_fill)
    manifest.finish(outcome)
    return folder


def make_many(root: Path, count: int, **kw: object) -> list[Path]:
    """``count`` stack folders under ``root``, named and dated one minute apart."""
    base = datetime(2026, 5, 1, 9, 0)
    return [
        make_stack_folder(
            root / f"stack-{i:05d}",
            seed=i,
            started=base + timedelta(minutes=i),
            **kw,  # type: ignore[arg-type]
        )
        for i in range(count)
    ]
