"""A gap fill (issue 14: shot after the last slice, where the coverage map found no sharp slice) is
recorded last in stack.json, but it lies between two slices: the merge, during and after the
capture, and the export take it in its place in depth order, not as the farthest slice."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from rig.export import export
from rig.manifest import read_manifest
from rig.merge.pipeline import MergeOptions, merge
from tests.stack_factory import make_stack_folder

SIZE = (96, 160)


def _merged(folder: Path, out: Path, **options: object) -> np.ndarray:
    merge(folder, out, MergeOptions(align=False, **options))  # type: ignore[arg-type]
    image = cv2.imread(str(out))
    assert image is not None
    return image.astype(np.int16)


def test_a_gap_fill_merges_as_if_shot_in_its_place(tmp_path: Path) -> None:
    in_order = make_stack_folder(tmp_path / "in-order", slices=6, size=SIZE, seed=3)
    filled = make_stack_folder(tmp_path / "filled", slices=6, size=SIZE, seed=3, gap_fill=2)
    record = read_manifest(filled)
    assert record.frames is not None and record.frames[-1].gap_fill and record.frames[-1].position == 1100.0
    for follow in (False, True):  # after the capture, and during it (the gap fill arrives last)
        want = _merged(in_order, tmp_path / f"want-{follow}.png", follow=follow)
        got = _merged(filled, tmp_path / f"got-{follow}.png", follow=follow)
        assert np.abs(got - want).max() <= 1, follow
    # taken as the farthest slice (the frames in the order shot), the merge differs where bands meet
    as_shot = tmp_path / "as-shot"
    as_shot.mkdir()
    for frame in record.frames:
        assert frame.file is not None
        (as_shot / frame.file).write_bytes((filled / frame.file).read_bytes())
    wrong = _merged(as_shot, tmp_path / "wrong.png")
    assert np.abs(wrong - _merged(in_order, tmp_path / "want.png")).max() > 20


def test_the_export_numbers_a_gap_fill_in_its_place(tmp_path: Path) -> None:
    filled = make_stack_folder(tmp_path / "filled", slices=5, size=SIZE, seed=4, gap_fill=1)
    (done,) = export([filled], tmp_path / "out", "folder")
    shot_last = (filled / "0005.jpg").read_bytes()  # the gap fill's file: the last one shot
    assert (done.folder / done.slices[1]).read_bytes() == shot_last
    assert [(done.folder / name).read_bytes() for name in done.slices] == [
        (filled / name).read_bytes() for name in ("0001.jpg", "0005.jpg", "0002.jpg", "0003.jpg", "0004.jpg")
    ]
