"""Output templates, atomic never-overwriting writes, and the manifest."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rig.errors import StorageError, UsageError
from rig.manifest import FrameFile, Manifest, SavedFrame, mark_interrupted
from rig.paths import Template, make_run_folder, write_new, write_replace

STARTED = datetime(2026, 11, 23, 14, 5, 9, tzinfo=UTC)


def test_template_tokens(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    t = Template.parse("@GRP/@PROFILE-@GCT4", root=tmp_path)
    assert t.run_folder(STARTED, "coin 5x") == tmp_path / "20261123-140509"
    assert t.file_name(7, "coin 5x", "jpg") == "coin_5x-0007.jpg"
    u = Template.parse("~/stacks/@UGRP/@GCT2", root="/elsewhere")
    assert u.run_folder(STARTED, "p") == Path(os.path.expanduser("~/stacks/20261123-140509"))
    assert u.file_name(3, "p", "nef") == "03.nef"


def test_local_time_group(tmp_path):
    t = Template.parse("@GRP/@GCT4", root=tmp_path)
    assert t.run_folder(STARTED, "p").name == STARTED.astimezone().strftime("%Y%m%d-%H%M%S")


@pytest.mark.parametrize(
    "text, needle",
    [
        ("@GRP/@FOO4", "unknown token '@FOO'"),
        ("@GRP/frame", "needs exactly one counter"),
        ("@GRP/@GCT2-@GCT3", "needs exactly one counter"),
        ("stacks/@GCT4", "needs @GRP or @UGRP"),
        ("@GRP@GCT4/x@GCT4", "belongs in the file name"),
        ("", "empty"),
        ("@GRP/@GCT0", "digits must be 1 to 9"),
    ],
)
def test_bad_templates(text, needle):
    with pytest.raises(UsageError, match=needle):
        Template.parse(text)


def test_unwritable_output_is_detected_without_creating_anything(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        t = Template.parse(str(ro / "deep/@GRP/@GCT4"))
        if os.geteuid() == 0:
            pytest.skip("root can write anywhere")
        with pytest.raises(UsageError, match="not writable"):
            t.writable_check(STARTED, "p")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_write_new_never_overwrites(tmp_path):
    path = tmp_path / "0001.jpg"
    write_new(path, b"first")
    with pytest.raises(FileExistsError):
        write_new(path, b"second")
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["0001.jpg"]  # no temp files left


def test_write_new_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    def boom(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(StorageError, match="No space left"):
        write_new(tmp_path / "0001.jpg", b"x" * 1000)
    assert list(tmp_path.iterdir()) == []


def test_write_new_without_hard_links(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError(1, "Operation not permitted")  # vfat

    monkeypatch.setattr(os, "link", no_link)
    write_new(tmp_path / "a.jpg", b"one")
    with pytest.raises(FileExistsError):
        write_new(tmp_path / "a.jpg", b"two")
    assert (tmp_path / "a.jpg").read_bytes() == b"one"


def test_write_replace_is_atomic(tmp_path):
    path = tmp_path / "stack.json"
    write_replace(path, b'{"a": 1}')
    write_replace(path, b'{"a": 2}')
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["stack.json"]


def test_run_folder_is_fresh_even_in_the_same_second(tmp_path):
    a = make_run_folder(tmp_path / "20261123-140509")
    b = make_run_folder(tmp_path / "20261123-140509")
    assert a != b and b.name == "20261123-140509-2"


def test_manifest_lifecycle_and_interrupted(tmp_path):
    folder = make_run_folder(tmp_path / "run")
    m = Manifest.create(
        folder,
        profile_name="p",
        profile={"slices": 3},
        config={},
        mode="full",
        units="um",
        started=STARTED,
        planned=[0.0, 10.0, 20.0],
    )
    m.add_frame(SavedFrame(FrameFile("0001.jpg", 3, "abc")), index=1, position=0.0)
    data = json.loads((folder / "stack.json").read_text())
    assert data["outcome"] == "running" and data["frames"][0]["position_um"] == 0.0
    assert mark_interrupted(tmp_path) == [folder]
    data = json.loads((folder / "stack.json").read_text())
    assert data["outcome"] == "interrupted" and len(data["frames"]) == 1
    assert mark_interrupted(tmp_path) == []  # only once


def test_names_too_long_are_refused_before_anything_happens(tmp_path):
    with pytest.raises(UsageError, match="too long"):
        Template.parse("a" * 300 + "/@GRP/@GCT4", root=tmp_path)
    with pytest.raises(UsageError, match="too long"):
        Template.parse("@GRP/" + "a" * 300 + "@GCT4", root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_is_under_root(tmp_path):
    root = tmp_path / "stacks"
    assert Template.parse("@GRP/@GCT4", root=root).is_under(root)
    assert Template.parse(f"{root}/sub/@GRP/@GCT4", root="/x").is_under(root)
    assert not Template.parse("/etc/@GRP/@GCT4", root=root).is_under(root)
    assert not Template.parse("../../@GRP/@GCT4", root=root).is_under(root)
    assert not Template.parse("@GRP/../../x/@GCT4", root=root).is_under(root)
    (tmp_path / "link").symlink_to("/etc")
    assert not Template.parse(f"{tmp_path}/link/@GRP/@GCT4", root=root).is_under(tmp_path / "link2")


def test_profile_name_cannot_escape_the_folder(tmp_path):
    t = Template.parse("@GRP/@PROFILE/@GCT4", root=tmp_path)
    folder = t.run_folder(STARTED, "..")
    assert ".." not in folder.parts and folder.is_relative_to(tmp_path)


def test_foreign_or_broken_manifests_are_left_alone(tmp_path):
    for name, text in {
        "a": "[1, 2]",
        "b": '"running"',
        "c": "{bad",
        "d": '{"outcome": "running", "frames": 5}',
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "stack.json").write_text(text)
    assert mark_interrupted(tmp_path) == []
    assert (tmp_path / "a/stack.json").read_text() == "[1, 2]"
