"""``rig export`` as a user runs it: slices in order per stack, the Zerene batch script and the
Helicon Focus command lines, and nothing replaced."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from pathlib import Path

from rig.manifest import read_manifest
from rig.specimen import Specimen
from tests.cli_helpers import rig
from tests.stack_factory import make_stack_folder


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_zerene_export_has_the_slices_in_order_and_a_batch_script_per_stack(tmp_path):
    a = make_stack_folder(tmp_path / "run-a", slices=3, specimen=Specimen(name="Apis mellifera"))
    b = make_stack_folder(tmp_path / "run-b", slices=4, seed=2)
    out = tmp_path / "to-zerene"
    result = rig("export", str(a), str(b), "--to", str(out), "--for", "zerene")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["Apis_mellifera", "ZereneBatch.xml", "results", "run-b"]
    for source, name in ((a, "Apis_mellifera"), (b, "run-b")):
        frames = [f for f in read_manifest(source).frames or () if f.file]
        exported = sorted((out / name).iterdir())
        assert [_sha(p) for p in exported] == [f.sha256 for f in frames]  # same bytes, stack order
    script = ET.parse(out / "ZereneBatch.xml").getroot()
    assert script.tag == "ZereneStackerBatchScript"
    batches = script.find("BatchQueue/Batches")
    assert batches is not None and batches.get("length") == "2"
    sources = [s.get("value") for s in script.iter("Source")]
    assert sources == [str((out / "Apis_mellifera").resolve()), str((out / "run-b").resolve())]
    folders = {t.get("value") for t in script.iter("OutputImagesDesignatedFolder")}
    assert folders == {str((out / "results").resolve())}


def test_helicon_export_writes_one_documented_command_line_per_stack(tmp_path):
    a = make_stack_folder(tmp_path / "run-a", slices=3, specimen=Specimen(name="Ring 12"))
    out = tmp_path / "to-helicon"
    assert rig("export", str(a), "--to", str(out), "--for", "helicon").returncode == 0
    lines = (out / "helicon-focus.bat").read_text().splitlines()
    commands = [line for line in lines if line.startswith('"%HELICON%"')]
    assert commands == ['"%HELICON%" -silent "%~dp0Ring_12" -save:"%~dp0results\\Ring_12.tif" -mp:1 -rp:8 -sp:4']


def test_export_never_replaces_anything_and_bad_stacks_are_one_line_errors(tmp_path):
    a = make_stack_folder(tmp_path / "run-a", slices=3)
    out = tmp_path / "out"
    assert rig("export", str(a), "--to", str(out), "--for", "folder").returncode == 0
    before = {p: p.read_bytes() for p in (out / "run-a").iterdir()}
    again = rig("export", str(a), "--to", str(out), "--for", "folder")
    assert again.returncode == 2
    assert "already exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in (out / "run-a").iterdir()} == before
    (tmp_path / "nothing").mkdir()
    bad = rig("export", str(tmp_path / "nothing"), "--to", str(tmp_path / "o2"), "--for", "zerene")
    assert bad.returncode == 2 and "not a stack folder" in bad.stderr
    assert not (tmp_path / "o2").exists()
