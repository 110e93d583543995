"""Specimens and archive outputs (issue 17): a stack named for its specimen, its folder from
``@SESSION/@NAME``, and merged TIFF/JPEG files whose XMP, EXIF and IPTC (read back with exiv2)
carry the stack's parameters; a crop applied to the results only."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyexiv2
import pytest
import tifffile

from rig.errors import UsageError
from rig.manifest import read_manifest, set_crop
from rig.specimen import Specimen, safe_component
from tests.cli_helpers import rig

SIM = """
[rail.sim]
time_scale = 0.0
start_um = 500
[camera.sim]
width = 96
height = 72
[output]
root = "{root}"
min_free_mb = 0
copyright = "(c) Natural History Museum"
creator = "Imaging lab"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "sim.toml"
    path.write_text(SIM.format(root=tmp_path / "stacks"))
    return path


def _shoot(config: Path, *args: str) -> Path:
    result = rig("stack", "--config", str(config), "--slices", "3", *args)
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def _metadata(path: Path) -> tuple[dict, dict, dict]:
    with pyexiv2.Image(str(path)) as img:
        return img.read_xmp(), img.read_exif(), img.read_iptc()


def test_a_named_stack_lands_in_its_session_and_specimen_folder_with_its_metadata(tmp_path, config):
    folder = _shoot(
        config,
        "--name",
        "Carabus auratus (♀)",
        "--catalogue-number",
        "NHM-ENT 0042",
        "--notes",
        "left elytron damaged",
        "--session",
        "Drawer 12",
        "--out",
        "@SESSION/@NAME/@GCT4",
        "--merge",
    )
    assert folder == tmp_path / "stacks" / "Drawer_12" / "Carabus_auratus"
    record = read_manifest(folder)
    assert record.specimen == Specimen("Carabus auratus (♀)", "NHM-ENT 0042", "left elytron damaged", "Drawer 12")
    frames = [f for f in record.frames or () if f.file]
    for name in ("merged.tif", "merged.jpg"):
        xmp, exif, iptc = _metadata(folder / name)
        assert xmp["Xmp.rig.Specimen"] == "Carabus auratus (♀)"
        assert xmp["Xmp.dc.identifier"] == "NHM-ENT 0042"
        assert xmp["Xmp.rig.Slices"] == "3"
        assert float(xmp["Xmp.rig.Step"]) == 100.0
        assert (float(xmp["Xmp.rig.RangeStart"]), float(xmp["Xmp.rig.RangeEnd"])) == (500.0, 700.0)
        assert float(xmp["Xmp.rig.SettleSeconds"]) == 0.5
        assert xmp["Xmp.rig.SourceSHA256"] == [f"{f.file} {f.sha256}" for f in frames]
        assert xmp["Xmp.xmp.CreatorTool"].startswith("rig ")
        assert exif["Exif.Image.Copyright"] == "(c) Natural History Museum"
        assert exif["Exif.Image.Artist"] == "Imaging lab"
        assert iptc["Iptc.Application2.ObjectName"] == "Carabus auratus (♀)"
    # a second stack of the same specimen gets a fresh folder; nothing of the first is touched
    again = _shoot(config, "--name", "Carabus auratus (♀)", "--session", "Drawer 12", "--out", "@SESSION/@NAME/@GCT4")
    assert again.name == "Carabus_auratus-2"
    assert read_manifest(folder) == record


@pytest.mark.parametrize(
    ("name", "needle"),
    [("...", "only dots"), ("***", "empty once made safe"), ("x" * 121, "too long"), ("  ", "@NAME")],
)
def test_bad_specimen_names_exit_2_and_create_nothing(tmp_path, config, name, needle):
    result = rig("stack", "--config", str(config), "--slices", "3", "--name", name, "--out", "@NAME/@GCT4")
    assert result.returncode == 2, result.stderr
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "stacks").exists()


def test_safe_component_keeps_letters_and_drops_the_rest():
    assert safe_component("Papilio machaon / Linnaeus, 1758") == "Papilio_machaon_Linnaeus_1758"
    assert safe_component("Éléphant") == "Elephant"
    assert safe_component(".hidden") == "hidden"
    with pytest.raises(UsageError, match="too long"):
        safe_component("a" * 81)


def test_crop_applies_to_the_results_only_and_a_crop_outside_the_image_writes_nothing(tmp_path, config):
    folder = _shoot(config, "--name", "Ring 7")
    frames_before = {p.name: p.read_bytes() for p in folder.iterdir()}
    set_crop(folder, (10, 8, 50, 40))
    done = rig("merge", str(folder), "-o", str(folder / "merged.tif"), "--jpeg", str(folder / "merged.jpg"))
    assert done.returncode == 0, done.stderr
    assert tifffile.imread(folder / "merged.tif").shape[:2] == (40, 50)
    for name, data in frames_before.items():
        if name != "stack.json":
            assert (folder / name).read_bytes() == data  # the frames are never cropped
    set_crop(folder, (60, 8, 50, 40))  # 60 + 50 > 96
    bad = rig("merge", str(folder), "-o", str(folder / "crop2.tif"))
    assert bad.returncode != 0
    assert "outside the 96x72 image" in bad.stderr
    assert not (folder / "crop2.tif").exists()


def test_a_16_bit_tiff_master_keeps_16_bits_and_carries_xmp(tmp_path):
    src = tmp_path / "slices"
    src.mkdir()
    rng = np.random.default_rng(1)
    base = rng.integers(0, 65535, (48, 64, 3), dtype=np.uint16)
    for k in range(3):
        tifffile.imwrite(src / f"s{k}.tif", base // (k + 1), photometric="rgb")
    done = rig("merge", str(src), "-o", str(tmp_path / "m.tif"), "--jpeg", str(tmp_path / "m.jpg"), "--no-align")
    assert done.returncode == 0, done.stderr
    assert tifffile.imread(tmp_path / "m.tif").dtype == np.uint16
    for name in ("m.tif", "m.jpg"):
        xmp, _, _ = _metadata(tmp_path / name)
        assert xmp["Xmp.rig.Slices"] == "3" and xmp["Xmp.xmp.CreatorTool"].startswith("rig ")


def test_the_jpeg_derivative_follows_the_profile_size_and_quality(tmp_path, config):
    from PIL import Image

    full = _shoot(config, "--name", "Brooch", "--merge", "--magnification", "2.5", "--lens", "Laowa 2.5-5x")
    small = _shoot(config, "--name", "Brooch", "--merge", "--jpeg-long-edge-px", "48", "--jpeg-quality", "60")
    assert json.loads((small / "stack.json").read_text())["profile"]["jpeg_long_edge_px"] == 48
    with Image.open(full / "merged.jpg") as a, Image.open(small / "merged.jpg") as b:
        assert a.size == (96, 72) and b.size == (48, 36)
    assert tifffile.imread(small / "merged.tif").shape[:2] == (72, 96)  # the master stays full size
    xmp, _, _ = _metadata(full / "merged.tif")
    assert xmp["Xmp.rig.Magnification"] == "2.5" and xmp["Xmp.rig.Optics"] == "Laowa 2.5-5x"


def test_camera_make_and_model_come_from_the_slices_exif(tmp_path):
    from tests.test_merge_metadata import _jpeg_stack

    src = _jpeg_stack(tmp_path / "s")
    done = rig("merge", str(src), "-o", str(tmp_path / "m.tif"))
    assert done.returncode == 0, done.stderr
    xmp, exif, _ = _metadata(tmp_path / "m.tif")
    assert (xmp["Xmp.rig.CameraMake"], xmp["Xmp.rig.CameraModel"]) == ("RigCam", "Bench 1")
    assert (exif["Exif.Image.Make"], exif["Exif.Image.Model"]) == ("RigCam", "Bench 1")


def _exiv2_xmp(path: Path) -> dict[str, str]:
    """The XMP of ``path`` as the ``exiv2`` command prints it (``exiv2 -px``): key -> value text."""
    exiv2 = shutil.which("exiv2")
    assert exiv2, "the exiv2 command is missing: it is part of the install (apt-get install exiv2; .ci/run does)"
    done = subprocess.run([exiv2, "-px", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    found = {}
    for line in done.stdout.splitlines():  # "Xmp.rig.Slices   XmpText   1  3"
        key, _type, _count, *value = line.split(maxsplit=3)
        found[key] = value[0] if value else ""
    return found


def test_the_exiv2_command_reads_the_stack_parameters_back_from_the_tiff_master_and_jpeg(tmp_path):
    from rig.merge.batch import OK, merge_stack
    from tests.stack_factory import make_stack_folder

    folder = make_stack_folder(tmp_path / "s", slices=3, specimen=Specimen("Carabus auratus (♀)", "NHM-ENT 0042"))
    assert merge_stack(str(folder)).status == OK
    sums = ", ".join(f"{f.file} {f.sha256}" for f in read_manifest(folder).frames or () if f.file)
    for name in ("merged.tif", "merged.jpg"):
        xmp = _exiv2_xmp(folder / name)
        assert xmp["Xmp.rig.Specimen"] == "Carabus auratus (♀)", name
        assert xmp["Xmp.rig.CatalogueNumber"] == xmp["Xmp.dc.identifier"] == "NHM-ENT 0042", name
        assert xmp["Xmp.rig.Slices"] == "3", name
        assert (float(xmp["Xmp.rig.Step"]), xmp["Xmp.rig.StepUnits"]) == (50.0, "um"), name
        assert (float(xmp["Xmp.rig.RangeStart"]), float(xmp["Xmp.rig.RangeEnd"])) == (1000.0, 1100.0), name
        assert xmp["Xmp.rig.SourceSHA256"] == sums, name  # exiv2 prints a sequence joined by ", "
