"""`rig jog`, `rig home`, `rig shoot` and the hardware report of `rig check`, on the emulators;
and every example machine config in config/ loads."""

from __future__ import annotations

import os
import threading
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


def test_home_without_a_switch_closing_fails_clearly(tmp_path, capsys, caplog):
    from gpiozero import Device

    try:
        assert main(["home", "--config", write(tmp_path, GPIO_RAIL)]) == 1
        err = capsys.readouterr().err
        assert err == "rig: error: home switch not found within 4 mm\n", err
        # the sequencer's own "fault:" log line would say it twice
        assert not [r for r in caplog.records if r.name == "rig.sequencer" and r.levelname == "ERROR"]
    finally:
        Device.pin_factory.reset()


def test_home_on_a_rail_without_switches(capsys, caplog):
    """One plain line and exit 2 (bad usage), not a timestamped fault log and exit 1; the
    sequencer never faults."""
    assert main(["home"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rig: error: this rail has no home switch") and err.count("\n") == 1, err
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_can_home_is_shared_by_the_cli_and_the_web():
    """`rig home` and the web's Home button (can_home) decide the same way."""
    from rig.config import MachineConfig
    from rig.config.schema import from_table
    from rig.motion import can_home
    from rig.web.context import WebState, rail_can_home

    class Rail:
        def __init__(self, health):
            self._health = health

        def health(self):
            if isinstance(self._health, Exception):
                raise self._health
            return self._health

    cases = [
        ({"backend": "sim"}, {}, False),
        ({"backend": "stackshot"}, {}, False),
        ({"backend": "pico"}, {}, True),
        ({"backend": "gpio", "gpio": {"home_pin": 13}}, {}, True),
        ({"backend": "gpio", "gpio": {"min_limit_pin": 5}}, {}, True),
        ({"backend": "gpio", "gpio": {"max_limit_pin": 5}}, {}, False),
        ({"backend": "gpio", "gpio": {"max_limit_pin": 5, "home_direction": "forward"}}, {}, True),
        ({"backend": "sim"}, {"can_home": True}, True),
        ({"backend": "pico"}, {"can_home": False}, False),
        ({"backend": "pico"}, RuntimeError("sick"), True),
    ]
    for rail_table, health, expected in cases:
        cfg = from_table(MachineConfig, {"rail": rail_table}, "t")
        assert can_home(Rail(health), cfg.rail) is expected, (rail_table, health)

        class FakeMachine:
            config = cfg
            rail = Rail(health)

        st = WebState.__new__(WebState)
        st.machine, st.can_home = FakeMachine(), None
        assert rail_can_home(st) is expected


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
    from rig.config.schema import from_table
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
    gave_up = threading.Event()

    def hanging_probe() -> list[str]:
        hung.wait(60)
        gave_up.set()
        return []

    monkeypatch.setattr(hd, "serial_ports", hanging_probe)
    monkeypatch.setattr(hd, "usb_cameras", lambda: 1 / 0)
    lines = hd.report(MachineConfig())
    assert not gave_up.is_set()  # the report came back while the probe still hung
    hung.set()
    assert any("no answer within" in line for line in lines)
    assert any("ZeroDivisionError" in line for line in lines)


def test_shoot_refuses_an_extension_that_is_not_the_cameras_format(tmp_path, capsys):
    """`--out x.png` on a JPEG camera would save JPEG bytes under a .png name: refused before the
    shot when the config decides the format (sim, picam), after it otherwise (gphoto)."""
    out = tmp_path / "x.png"
    assert main(["shoot", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "JPEG" in err and ".png" in err and "x.jpg" in err, err
    assert list(tmp_path.iterdir()) == []
    gphoto = write(tmp_path, '[camera]\nbackend = "gphoto"\n')
    assert main(["shoot", "--config", gphoto, "--out", str(out)]) == 2
    assert "JPEG" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["machine.toml"]
    small = write(tmp_path, "[camera.sim]\nwidth = 160\nheight = 120\n")  # a JPEG camera, as by default
    for name in ("x.JPG", "x.jpeg"):  # the same format, any spelling
        assert main(["shoot", "--config", small, "--out", str(tmp_path / name)]) == 0
        assert (tmp_path / name).read_bytes()[:2] == b"\xff\xd8"
    png = write(tmp_path, '[camera.sim]\nformat = "png"\nwidth = 160\nheight = 120\n')
    assert main(["shoot", "--config", png, "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["shoot", "--config", png, "--out", str(tmp_path / "y.jpg")]) == 2
    assert "PNG" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name",
    ["a" * 300, "a" * 300 + ".jpg", "a" * 250, "é" * 128 + ".jpg", "a" * 300 + "/x.jpg"],
    ids=["300", "300.jpg", "250-plus-ext", "256-bytes-utf8", "long-folder"],
)
def test_shoot_with_an_over_long_name_is_a_one_line_error(tmp_path, capsys, name):
    assert main(["shoot", "--out", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rig: error: --out") and err.count("\n") == 1 and "too long" in err, err
    assert list(tmp_path.iterdir()) == []


def test_shoot_over_long_name_from_a_shell(tmp_path):
    """The real entry point: no traceback, exit 2."""
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "rig.cli", "shoot", "--out", "a" * 300],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
