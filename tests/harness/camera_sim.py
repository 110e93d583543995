"""Contract harness: the simulated camera (small frames)."""

from __future__ import annotations

from contextlib import contextmanager

from rig.camera.sim import SimCamera
from rig.config import CameraConfig
from rig.config.schema import from_table

CONFIG = {"backend": "sim", "sim": {"width": 160, "height": 120}}


class SimCameraControl:
    returns_frames = True
    has_preview = True

    def __init__(self, camera: SimCamera) -> None:
        self.camera = camera

    def unplug(self) -> None:
        self.camera.unplug()

    def card_full(self) -> None:
        self.camera.inject_fault("camera card full (simulated)")

    def timeout(self) -> None:
        self.camera.inject_fault("capture timed out (simulated)")


@contextmanager
def make_camera(tmp_path):
    camera = SimCamera(from_table(CameraConfig, CONFIG, "harness"))
    try:
        yield camera, SimCameraControl(camera)
    finally:
        camera.close()
