"""Shots saved as RAW+JPEG: a card's folder of pairs and a rig stack with companion files merge
one type of file, never both as if they were different slices."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from rig.cli import main
from rig.merge.inputs import find_slices, follow_slices
from tests.test_merge_errors import _write_dng


def _base() -> np.ndarray:
    rng = np.random.default_rng(7)
    return cv2.GaussianBlur(rng.random((64, 96, 3)).astype(np.float32), (0, 0), 1.2)


def _pairs(folder: Path, n: int = 3) -> Path:
    """What a camera set to RAW+JPEG leaves on its card: DSC_000k.JPG and DSC_000k.DNG."""
    folder.mkdir(parents=True, exist_ok=True)
    base = _base()
    for k in range(n):
        img = cv2.GaussianBlur(base, (0, 0), 0.3 + k)
        cv2.imwrite(str(folder / f"DSC_{k:04d}.JPG"), (img * 255).astype(np.uint8))
        _write_dng(folder / f"DSC_{k:04d}.DNG", np.clip(img * 3500 + 300, 0, 4095).astype(np.uint16))
    return folder


def test_a_folder_of_raw_jpeg_pairs_merges_one_type(tmp_path, capsys):
    src = _pairs(tmp_path / "card")
    assert [p.suffix for p in find_slices(src).files] == [".DNG"] * 3  # raw by default, not 6 slices
    assert [p.suffix for p in find_slices(src, "jpg").files] == [".JPG"] * 3
    assert main(["merge", str(src), "-o", str(tmp_path / "raw.png"), "--no-align"]) == 0
    assert cv2.imread(str(tmp_path / "raw.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16  # from raw
    assert main(["merge", str(src), "-o", str(tmp_path / "jpg.png"), "--no-align", "--type", "jpg"]) == 0
    assert cv2.imread(str(tmp_path / "jpg.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8
    capsys.readouterr()
    assert main(["merge", str(src), "-o", str(tmp_path / "x.png"), "--type", "tif"]) == 2
    assert "no .tif slices" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_mixed_types_of_different_shots_are_all_merged(tmp_path):
    src = tmp_path / "mixed"
    src.mkdir()
    base = _base()
    for k, ext in enumerate(("png", "jpg", "tif")):
        cv2.imwrite(str(src / f"slice{k}.{ext}"), (cv2.GaussianBlur(base, (0, 0), 0.5 + k) * 255).astype(np.uint8))
    assert [p.name for p in find_slices(src).files] == ["slice0.png", "slice1.jpg", "slice2.tif"]


def test_stack_companions_can_be_merged_instead_of_the_main_files(tmp_path, capsys):
    """A rig stack shot RAW+JPEG lists each frame's other file as a companion (``--type``)."""
    stack = tmp_path / "stack"
    stack.mkdir()
    base = _base()
    frames = []
    for k in range(3):
        img = (cv2.GaussianBlur(base, (0, 0), 0.3 + k) * 255).astype(np.uint8)
        cv2.imwrite(str(stack / f"{k + 1:04d}.jpg"), img)
        cv2.imwrite(str(stack / f"{k + 1:04d}.png"), 255 - img)  # tell the two apart
        frames.append(
            {"index": k, "file": f"{k + 1:04d}.jpg", "companions": [{"file": f"{k + 1:04d}.png", "bytes": None}]}
        )
    (stack / "stack.json").write_text(json.dumps({"format": "rig-stack/1", "outcome": "completed", "frames": frames}))
    assert main(["merge", str(stack), "-o", str(tmp_path / "main.png"), "--no-align"]) == 0
    assert main(["merge", str(stack), "-o", str(tmp_path / "comp.png"), "--no-align", "--type", "png"]) == 0
    main_mean = cv2.imread(str(tmp_path / "main.png")).mean()
    comp_mean = cv2.imread(str(tmp_path / "comp.png")).mean()
    assert main_mean + comp_mean == pytest.approx(255, abs=3)  # the inverted companions were merged
    assert [p.name for p in follow_slices(stack, kind="png")] == ["0001.png", "0002.png", "0003.png"]
    capsys.readouterr()
    assert main(["merge", str(stack), "-o", str(tmp_path / "x.png"), "--type", "nef"]) == 2
    assert "frame 1 has no .nef file" in capsys.readouterr().err
