"""Contract harness: the picam camera on a stand-in ``picamera2`` module (tests/fakes/picamera2.py)
with small 320x240 stills."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from rig.config import CameraConfig
from rig.config.schema import from_table
from tests.fakes.picamera2 import make_module

CONFIG = {"backend": "picam", "picam": {"width": 320, "height": 240, "preview_width": 160, "preview_height": 120}}


class PicamControl:
    returns_frames = True
    has_preview = True

    def __init__(self, module) -> None:
        self.module = module

    @property
    def fake(self):
        return self.module.Picamera2.instances[-1]

    def unplug(self) -> None:
        self.fake.unplug()

    def card_full(self) -> None:
        pytest.skip("a Pi camera has no card: frames go straight to the Pi's disk (a full disk is a StorageError)")

    def timeout(self) -> None:
        self.fake.hang()


@contextmanager
def make_camera(tmp_path, timeout_s: float = 0.3, model: str = "imx708", **overrides):
    from rig.camera.picam import PicamCamera

    module = make_module()
    module.Picamera2.model = model
    table = {**CONFIG, "picam": {**CONFIG["picam"], **overrides}}
    camera = PicamCamera(from_table(CameraConfig, table, "harness"), picamera2_module=module, timeout_s=timeout_s)
    ctl = PicamControl(module)
    try:
        yield camera, ctl
    finally:
        for fake in module.Picamera2.instances:
            fake.release_hang.set()
        camera.close()
