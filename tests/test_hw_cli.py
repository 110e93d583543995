"""`rig jog`, `rig home`, `rig shoot` and the hardware report of `rig check`, on the emulators;
and every example machine config in config/ loads."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from rig.cli import main
from rig.config import load_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.toml")), ids=lambda p: p.name)
def test_example_configs_load(path):
    cfg = load_config(path)
    assert cfg.rail.backend != "sim" or cfg.camera.backend != "sim", "an example should show real kit"


def test_there_are_examples_for_every_real_backend():
    cfgs = [load_config(p) for p in (ROOT / "config").glob("*.toml")]
    assert {"gpio", "stackshot", "lens"} <= {c.rail.backend for c in cfgs}
    assert {"gphoto", "shutter", "picam"} <= {c.camera.backend for c in cfgs}
    assert {c.rail.lens.driver for c in cfgs if c.rail.backend == "lens"} == {"gphoto", "picam"}


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "machine.toml"
    path.write_text(text)
    return str(path)


GPIO_RAIL = """
[rail]
backend = "gpio"
steps_per_mm = 100.0
max_um = 3000.0
max_speed_mm_s = 20.0
accel_mm_s2 = 200.0
[rail.gpio]
step_pin = 17
dir_pin = 27
home_pin = 13
"""


def test_jog_moves_the_gpio_rail_and_prints_the_position(tmp_path, capsys):
    from gpiozero import Device

    assert main(["jog", "--config", write(tmp_path, GPIO_RAIL), "--um", "1500"]) == 0
    assert capsys.readouterr().out.strip() == "rail: 0 -> 1500 um"
    states = [s.state for s in Device.pin_factory.pin(17).states]
    assert sum(1 for a, b in zip(states, states[1:], strict=False) if b and not a) >= 150
    Device.pin_factory.reset()


def test_jog_refuses_targets_outside_the_limits(tmp_path, capsys):
    assert main(["jog", "--um", "-5"]) == 2  # the sim rail starts at its near limit
    assert "outside the soft limits" in capsys.readouterr().err


def test_jog_units_must_match_the_rail(tmp_path, capsys):
    assert main(["jog", "--steps", "5"]) == 2
    assert "use --um" in capsys.readouterr().err


def test_home_without_a_switch_closing_fails_clearly(tmp_path, capsys):
    from gpiozero import Device

    try:
        assert main(["home", "--config", write(tmp_path, GPIO_RAIL)]) == 1
        assert "home switch not found" in capsys.readouterr().err
    finally:
        Device.pin_factory.reset()


def test_home_on_a_rail_without_switches(capsys):
    assert main(["home"]) == 1
    assert "no home switch" in capsys.readouterr().err


def test_shoot_saves_the_gphoto_frame_verbatim(tmp_path, capsys):
    config = write(tmp_path, '[camera]\nbackend = "gphoto"\n[camera.gphoto]\ndelete_from_card = true\n')
    out = tmp_path / "one"
    assert main(["shoot", "--config", config, "--out", str(out)]) == 0
    saved = tmp_path / "one.jpg"
    source = sorted(Path(os.environ["VCAMERADIR"]).glob("*.jpg"))[0]
    assert saved.read_bytes() == source.read_bytes()  # the virtual camera returns its first JPEG
    assert f"saved {saved}" in capsys.readouterr().out
    assert main(["shoot", "--config", config, "--out", str(saved)]) == 2  # never overwrites
    assert saved.read_bytes() == source.read_bytes()


def test_shoot_with_a_release_cable_says_where_the_frame_is(tmp_path, capsys):
    from gpiozero import Device

    config = write(
        tmp_path, '[camera]\nbackend = "shutter"\n[camera.shutter]\nprefocus_s = 0.01\npulse_s = 0.01\nexposure_s = 0\n'
    )
    try:
        assert main(["shoot", "--config", config]) == 0
        assert "on the camera's card" in capsys.readouterr().out
        assert [s.state for s in Device.pin_factory.pin(24).states][-2:] == [True, False]
    finally:
        Device.pin_factory.reset()


def test_shoot_default_name_in_the_current_folder(tmp_path, monkeypatch, capsys):
    config = write(tmp_path, "[camera.sim]\nwidth = 160\nheight = 120\n")
    monkeypatch.chdir(tmp_path)
    assert main(["shoot", "--config", config]) == 0
    files = list(tmp_path.glob("shot-*.jpg"))
    assert len(files) == 1 and files[0].read_bytes()[:2] == b"\xff\xd8"


def test_hardware_report_lists_the_virtual_camera_and_its_state(tmp_path):
    from rig.config import MachineConfig
    from rig.config_schema import from_table
    from rig.hardware_detect import report

    cfg = from_table(MachineConfig, {"camera": {"backend": "gphoto"}, "rail": {"backend": "stackshot"}}, "t")
    lines = report(cfg)
    assert any(line.startswith("USB camera: Nikon DSC D750 at usb:") for line in lines), lines
    detail = next(line for line in lines if line.startswith("gphoto camera:"))
    assert "battery 50%" in detail and "card free" in detail and "capture target" in detail
    assert any(line.startswith("stackshot port:") for line in lines)


def test_hardware_report_never_raises_or_hangs(monkeypatch):
    import rig.hardware_detect as hd
    from rig.config import MachineConfig

    monkeypatch.setattr(hd, "PROBE_TIMEOUT_S", 0.2)
    hung = threading.Event()
    monkeypatch.setattr(hd, "serial_ports", lambda: hung.wait(10) and [])
    monkeypatch.setattr(hd, "usb_cameras", lambda: 1 / 0)
    t0 = time.monotonic()
    lines = hd.report(MachineConfig())
    hung.set()
    assert time.monotonic() - t0 < 2
    assert any("no answer within" in line for line in lines)
    assert any("ZeroDivisionError" in line for line in lines)
