"""Camera settings on the real backends (issue 13, deliverable 5): gphoto widgets on libgphoto2's
virtual camera, picamera2 controls on the stand-in module; from `rig camera`, at a stack's start
from a profile, and a bad name or value that changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rig.camera_settings import apply, read
from rig.cli import main
from rig.config import MachineConfig, Profile
from rig.config.schema import from_table
from rig.errors import UsageError
from rig.machine import Machine
from tests.harness.camera_gphoto import CONFIG as GPHOTO
from tests.harness.camera_gphoto import (
    GphotoControl,
    forget_earlier_virtual_cameras,
    make_camera,
    release_virtual_camera,
)
from tests.harness.camera_picam import CONFIG as PICAM
from tests.harness.camera_picam import make_camera as make_picam

VCAM_APERTURES = ["f/2.8", "f/3.5", "f/4", "f/4.5", "f/5", "f/5.6", "f/6.3", "f/7.1", "f/8", "f/9", "f/10"]


def values(camera: Any) -> dict[str, str]:
    return {s.name: s.value for s in read(camera)}


def setting_writes(ctl: GphotoControl) -> list[tuple[str, Any]]:
    return [(name, value) for name, value in ctl.settings_log if name != "capturetarget"]


# ------------------------------------------------------------------ gphoto
def test_gphoto_settings_are_the_bodys_own_widgets_read_and_set(tmp_path: Path) -> None:
    with make_camera(tmp_path) as (camera, ctl):
        ctl.nikon_settings = True
        settings = {s.name: s for s in read(camera)}
        assert set(settings) == {"iso", "shutter_speed", "aperture", "format", "white_balance", "exposure_ev"}
        assert list(settings["aperture"].choices or ())[: len(VCAM_APERTURES)] == VCAM_APERTURES  # f-number
        assert "NEF (Raw)" in (settings["format"].choices or ())  # imagequality on a Nikon
        after = apply(
            camera,
            {"aperture": "F/8", "shutter_speed": "0.0500s", "iso": "400", "format": "nef (raw)",
             "white_balance": "Daylight", "exposure_ev": "-1"},
        )  # fmt: skip
        assert {s.name: s.value for s in after} == {
            "aperture": "f/8", "shutter_speed": "0.0500s", "iso": "400", "format": "NEF (Raw)",
            "white_balance": "Daylight", "exposure_ev": "-1",
        }  # fmt: skip
        # the virtual camera's own widgets now hold them (read straight from libgphoto2)
        assert ctl.raw.get_single_config("f-number").get_value() == "f/8"
        assert ctl.raw.get_single_config("shutterspeed").get_value() == "0.0500s"
        assert ctl.raw.get_single_config("exposurecompensation").get_value() == "-1"
        assert camera.capture().data[:2] == b"\xff\xd8"  # still shoots


def test_a_bad_gphoto_setting_names_the_allowed_values_and_changes_nothing(tmp_path: Path) -> None:
    with make_camera(tmp_path) as (camera, ctl):
        ctl.nikon_settings = True
        ctl.settings_log.clear()
        with pytest.raises(UsageError, match=r"aperture = 'f/99': must be one of f/2\.8, f/3\.5, .*f/22"):
            apply(camera, {"iso": "800", "aperture": "f/99"})
        with pytest.raises(UsageError, match="unknown camera setting 'focus_mode'"):
            apply(camera, {"iso": "800", "focus_mode": "manual"})
        assert setting_writes(ctl) == []  # not even the good one
        assert values(camera)["iso"] == "100"
        ctl.nikon_settings = False  # a body without iso, white balance or quality widgets
        ctl.read_only = set()
        with pytest.raises(UsageError, match=r"unknown camera setting 'iso' \(this camera has: aperture, exposure_ev"):
            apply(camera, {"iso": "100"})


def test_a_read_only_widget_is_not_offered(tmp_path: Path) -> None:
    with make_camera(tmp_path) as (camera, ctl):
        ctl.nikon_settings, ctl.read_only = True, {"iso"}
        assert "iso" not in values(camera) and "white_balance" in values(camera)


def test_rig_camera_on_a_usb_camera(tmp_path: Path, capsys: Any) -> None:
    forget_earlier_virtual_cameras()
    config = tmp_path / "machine.toml"
    config.write_text('[camera]\nbackend = "gphoto"\n')
    assert main(["camera", "--config", str(config), "--set", "aperture=f/5.6", "--json"]) == 0
    settings = {s["name"]: s for s in json.loads(capsys.readouterr().out)["settings"]}
    assert settings["aperture"]["value"] == "f/5.6" and "f/22" in settings["aperture"]["choices"]
    assert main(["camera", "--config", str(config), "--set", "shutter_speed=1/3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rig: error: camera setting shutter_speed = '1/3': must be one of 1.0000s, 0.1000s")
    assert "\n" not in err


@contextmanager
def gphoto_machine(tmp_path: Path, ctl: GphotoControl) -> Iterator[Machine]:
    forget_earlier_virtual_cameras()
    table = {"rail": {"backend": "sim"}, "camera": GPHOTO, "output": {"root": str(tmp_path), "min_free_mb": 0}}
    machine = Machine.build(
        from_table(MachineConfig, table, "t"), camera_kwargs={"camera_factory": ctl.factory, "timeout_s": 3.0}
    )
    try:
        yield machine
    finally:
        machine.close()
        release_virtual_camera(ctl)


def start_and_wait(machine: Machine, settings: list[str]) -> Any:
    profile = Profile(slices=2, step_um=50, settle_s=0, check_frames=False, camera_settings=tuple(settings))
    machine.start_stack(profile)
    return machine.sequencer.wait(30)


def test_a_profiles_camera_settings_reach_a_usb_camera_at_start_and_bad_ones_move_nothing(tmp_path: Path) -> None:
    ctl = GphotoControl(focus=False, drive_s=0)
    ctl.nikon_settings = True
    with gphoto_machine(tmp_path, ctl) as machine:
        status = start_and_wait(machine, ["aperture=f/11", "iso=800"])
        assert status.outcome == "completed", status
        assert ctl.raw.get_single_config("f-number").get_value() == "f/11"
        assert ctl.settings_widgets["iso"].value == "800"
        before, writes = machine.rail.position(), len(setting_writes(ctl))
        with pytest.raises(UsageError, match="iso = '12'"):
            start_and_wait(machine, ["aperture=f/4", "iso=12"])
        assert machine.rail.position() == before and machine.sequencer.status().run_id == status.run_id
        assert len(setting_writes(ctl)) == writes and values(machine.camera)["aperture"] == "f/11"


def test_the_focus_pages_camera_settings_on_a_usb_camera(tmp_path: Path) -> None:
    """What the Focus page's Camera settings do: GET /api/camera, then POST the changed fields."""
    from rig.web import create_app
    from tests.test_web import Api

    ctl = GphotoControl(focus=False, drive_s=0)
    ctl.nikon_settings = True
    with gphoto_machine(tmp_path, ctl) as machine:
        app = create_app(machine)
        try:
            api = Api(app)
            shown = {s["name"]: s for s in api.get("/api/camera").get_json()["settings"]}
            assert shown["white_balance"]["choices"][:2] == ["Automatic", "Daylight"]
            r = api.post("/api/camera", {"set": {"white_balance": "Cloudy", "aperture": "f/16"}})
            assert r.status_code == 200, r.get_json()
            assert ctl.raw.get_single_config("f-number").get_value() == "f/16"
            writes = len(setting_writes(ctl))
            r = api.post("/api/camera", {"set": {"iso": "400", "white_balance": "Sunny"}})
            error = r.get_json()["error"]
            assert r.status_code == 400 and "white_balance = 'Sunny': must be one of Automatic, Daylight" in error
            assert len(setting_writes(ctl)) == writes and values(machine.camera)["iso"] == "100"
        finally:
            app.extensions["rig"].shutdown()


# ------------------------------------------------------------------ picam
def test_picam_settings_are_picamera2_controls(tmp_path: Path) -> None:
    with make_picam(tmp_path) as (camera, ctl):
        fake = ctl.fake
        settings = {s.name: s for s in read(camera)}
        assert set(settings) == {"iso", "shutter_speed", "white_balance", "colour_gains", "exposure_ev", "format"}
        assert settings["iso"].choices == ("auto", "100", "200", "400", "800", "1600")  # AnalogueGain 1..16
        assert settings["exposure_ev"].range == (-8.0, 8.0)
        assert "1/8000" in (settings["shutter_speed"].choices or ()) and settings["shutter_speed"].value == "auto"
        apply(camera, {"iso": "400", "shutter_speed": "1/250", "white_balance": "daylight"})
        camera.wait_frames(2)  # controls reach the sensor a request late
        meta = camera.capture().meta
        assert (meta["AnalogueGain"], meta["ExposureTime"]) == (4.0, 4000)
        assert fake.delivered[-1]["AwbMode"] == 5  # AwbDaylight
        apply(camera, {"colour_gains": "2.5, 1.25"})
        camera.wait_frames(2)
        assert camera.capture().meta["ColourGains"] == (2.5, 1.25)
        assert values(camera)["colour_gains"] == "2.5,1.25"
        apply(camera, {"iso": "auto", "colour_gains": "auto"})
        fake.scene_light, fake.scene_tint = 0.25, 1.25  # two stops darker, warmer light
        camera.wait_frames(2)
        meta = camera.capture().meta
        assert meta["ExposureTime"] == 4000 and meta["AnalogueGain"] > 2.0  # the AE makes up with gain
        assert meta["ColourGains"] == (2.5, 1.2)  # AWB follows the light again


def test_what_the_user_fixed_survives_the_stack_exposure_lock(tmp_path: Path) -> None:
    with make_picam(tmp_path) as (camera, ctl):
        apply(camera, {"iso": "200", "colour_gains": "1.8,1.6"})
        for _ in range(2):  # two stacks: each re-arms auto exposure at its start
            camera.stack_started()
            camera.wait_frames(2)
            first = camera.capture()  # the lock is taken here
            ctl.fake.scene_light = 2.0 if ctl.fake.scene_light == 1.0 else 1.0
            camera.wait_frames(2)
            second = camera.capture()
            for frame in (first, second):
                assert frame.meta["AnalogueGain"] == 2.0 and frame.meta["ColourGains"] == (1.8, 1.6)
            assert second.meta["ExposureTime"] == first.meta["ExposureTime"]  # locked within a stack


def test_picam_format_and_bad_values(tmp_path: Path) -> None:
    with make_picam(tmp_path) as (camera, ctl):
        sent = dict(ctl.fake.controls)
        for bad, words in (
            ({"iso": "3200"}, "must be one of auto, 100, 200, 400, 800, 1600"),
            ({"colour_gains": "2"}, "must be auto or red,blue gains from 0.1 to 32"),
            ({"aperture": "f/8"}, "unknown camera setting 'aperture'"),
            ({"shutter_speed": "1/250", "format": "tiff"}, "must be one of jpg, png, dng"),
        ):
            with pytest.raises(UsageError, match=words):
                apply(camera, bad)
        assert ctl.fake.controls == sent and values(camera)["shutter_speed"] == "auto"
        apply(camera, {"format": "dng", "iso": "800"})
        assert ctl.fake.config["raw"] is not None  # reconfigured with a raw stream
        frame = camera.capture()  # its exposure locks the stack's exposure, but not over the user's ISO
        assert frame.ext == "dng" and frame.data[:4] == b"II*\x00"
        assert ctl.fake.controls["AnalogueGain"] == 8.0 and camera.info()["format"] == "dng"


def test_a_profiles_camera_settings_reach_a_pi_camera_at_start(tmp_path: Path) -> None:
    from tests.fakes.picamera2 import make_module

    module = make_module()
    table = {"rail": {"backend": "sim"}, "camera": PICAM, "output": {"root": str(tmp_path), "min_free_mb": 0}}
    with Machine.build(
        from_table(MachineConfig, table, "t"), camera_kwargs={"picamera2_module": module, "timeout_s": 1.0}
    ) as machine:
        fake = module.Picamera2.instances[-1]
        status = start_and_wait(machine, ["iso=200", "shutter_speed=1/500"])
        assert status.outcome == "completed", status
        shots = fake.delivered[-2:]
        assert all((f["AnalogueGain"], f["ExposureTime"]) == (2.0, 2000) for f in shots), shots
        before = machine.rail.position()
        with pytest.raises(UsageError, match="unknown camera setting 'aperture'"):
            start_and_wait(machine, ["iso=400", "aperture=f/8"])
        assert machine.rail.position() == before and values(machine.camera)["iso"] == "200"
        with pytest.raises(UsageError, match="soft limits"):  # a plan the start refuses: no setting made
            machine.start_stack(Profile(start_um=0, end_um=10**6, slices=3, camera_settings=("iso=800",)))
        assert values(machine.camera)["iso"] == "200"
