"""stack.json through rig.manifest: typed records that round-trip, and old manifests that still load."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rig.camera.base import Frame
from rig.frame_store import save_frame
from rig.manifest import (
    FrameFile,
    FrameRecord,
    Manifest,
    MergeRecord,
    SavedFrame,
    StackManifest,
    UnreadableManifest,
    mark_interrupted,
    read_manifest,
)

STARTED = datetime(2026, 11, 23, 14, 5, 9, tzinfo=UTC)

# A stack.json as rig 0.x wrote it before the typed records (keys and layout on disk).
OLD_MANIFEST = {
    "format": "rig-stack/1",
    "rig_version": "0.9.0",
    "profile_name": "coin",
    "profile": {"slices": 3, "step_um": 50.0},
    "config": {"rail": "sim"},
    "mode": "full",
    "units": "um",
    "started": "2026-11-23T15:05:09+01:00",
    "started_utc": "2026-11-23T14:05:09Z",
    "planned_positions": [0.0, 50.0, 100.0],
    "outcome": "running",
    "error": None,
    "ended": None,
    "frames": [
        {
            "index": 1,
            "position_um": 0.0,
            "time": "2026-11-23T14:05:10.000Z",
            "file": "0001.nef",
            "bytes": 7,
            "sha256": "aa",
            "companions": [{"file": "0001.jpg", "bytes": 3, "sha256": "bb"}],
            "exposure_note": "kept as it was",
        },
        {
            "index": 2,
            "position_um": 50.0,
            "time": "t",
            "file": None,
            "bytes": None,
            "sha256": None,
            "stored": "camera-card",
        },
    ],
    "merge": None,
    "written_by_a_newer_rig": {"x": 1},
}


def _new(folder: Path) -> Manifest:
    return Manifest.create(
        folder,
        profile_name="p",
        profile={"slices": 2},
        config={},
        mode="full",
        units="steps",
        started=STARTED,
        planned=[0.0, 10.0],
    )


def test_typed_records_round_trip_through_stack_json(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    frame = Frame(b"\xff\xd8jpeg\xff\xd9", "jpg", companions=(Frame(b"raw bytes", "nef"),))
    saved = save_frame(frame, folder / "0001.jpg", folder)
    assert saved == SavedFrame(
        FrameFile("0001.jpg", 8, saved.main.sha256), (FrameFile("0001.nef", 9, saved.companions[0].sha256),)
    )
    m = _new(folder)
    m.add_frame(saved, index=1, position=0.0)
    m.add_frame(None, index=2, position=10.0)
    m.finish("completed")
    m.set_merge(MergeRecord("done", ("merged.tif",), None, "s", "f"))
    on_disk = json.loads((folder / "stack.json").read_text())
    # the keys on disk: size is "bytes", positions in the run's units, the card frame marked
    first, second = on_disk["frames"]
    assert first["bytes"] == 8 and first["position_steps"] == 0.0 and first["companions"][0]["bytes"] == 9
    assert second["file"] is None and second["stored"] == "camera-card"
    assert on_disk["merge"] == {
        "state": "done",
        "outputs": ["merged.tif"],
        "error": None,
        "started": "s",
        "finished": "f",
    }
    record = read_manifest(folder)
    assert record == m.record
    assert record.to_json() == on_disk
    assert record.frames is not None and record.frames[0].files() == (saved.main, *saved.companions)


def test_old_stack_json_still_loads_and_keeps_what_it_does_not_know(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "stack.json").write_text(json.dumps(OLD_MANIFEST, indent=1))
    record = read_manifest(folder)
    assert record.outcome == "running" and record.merge is None and record.units == "um"
    assert record.frames == (
        FrameRecord(
            1,
            0.0,
            "2026-11-23T14:05:10.000Z",
            "0001.nef",
            7,
            "aa",
            companions=(FrameFile("0001.jpg", 3, "bb"),),
            extra={"exposure_note": "kept as it was"},
        ),
        FrameRecord(2, 50.0, "t", stored="camera-card"),
    )
    assert record.to_json() == OLD_MANIFEST  # nothing lost on the way through
    assert mark_interrupted(tmp_path) == [folder]
    after = json.loads((folder / "stack.json").read_text())
    changed = {k for k in OLD_MANIFEST if after[k] != OLD_MANIFEST[k]}
    assert changed == {"outcome", "error", "ended"} and after["outcome"] == "interrupted"


def test_wrong_types_read_as_none_and_are_written_back_unchanged(tmp_path: Path) -> None:
    odd = {"outcome": "running", "started": [1], "units": {"x": 1}, "frames": [{"index": True, "file": 7}]}
    (tmp_path / "stack.json").write_text(json.dumps(odd))
    m = Manifest.load(tmp_path)
    assert m.record.started is None and m.record.units == "um"
    assert m.record.frames == (FrameRecord(None, None, extra={"index": True, "file": 7}),)
    m.finish("interrupted", "x")
    after = json.loads((tmp_path / "stack.json").read_text())
    assert (
        after["started"] == [1]
        and after["units"] == {"x": 1}
        and after["frames"]
        == [{"index": True, "position_um": None, "time": None, "file": 7, "bytes": None, "sha256": None}]
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"[1]", "a JSON list, not an object"),
        (b'{"frames": 5}', "'frames' is a JSON number, not a list"),
        (b'{"frames": [1]}', "'frames' holds entries that are not objects"),
        (b"{bad", "not valid JSON"),
        (b'{"e": "\xff"}', "not UTF-8 text"),
    ],
)
def test_unreadable_manifests_say_why(tmp_path: Path, text: bytes, reason: str) -> None:
    (tmp_path / "stack.json").write_bytes(text)
    with pytest.raises(UnreadableManifest, match=reason):
        read_manifest(tmp_path)


def test_a_stack_without_merge_field_reads_as_not_merged() -> None:
    assert StackManifest.from_json({"frames": []}).merge is None
    assert StackManifest.from_json({"frames": [], "merge": {"state": "done", "outputs": ["a"]}}).merge == MergeRecord(
        "done", ("a",)
    )
