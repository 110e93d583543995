"""Contract harness: the lens rail, driving the focus motor of
* ``gphoto``: the gphoto camera on libgphoto2's virtual camera, with the Canon EOS
  ``manualfocusdrive`` stand-in the harness adds (tests/harness/camera_gphoto.py);
* ``nikon``: the same with the Nikon stand-in (a range widget of drive units);
* ``picam``: the picam camera on the stand-in picamera2 module (LensPosition in dioptres).
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from rig.config import RailConfig
from rig.config.schema import from_table

VARIANTS = ("gphoto", "nikon", "picam")
CONFIG = {"backend": "lens", "lens": {"min_steps": -50, "max_steps": 250}}


class LensControl:
    tol = 0.0

    def __init__(self, rail, camera, cam_ctl, variant: str) -> None:
        self.rail, self.camera, self.cam_ctl, self.variant = rail, camera, cam_ctl, variant
        # gphoto, nikon: 4-5 ms per drive step, near -> far = 90 steps = 0.36 s
        # picam: 1/16 dioptre per step, the lens moves 0.15 dioptre per frame at 200 fps: 0.3 s
        self.near, self.far = (10.0, 100.0) if variant != "picam" else (20.0, 200.0)

    def trip_limit(self) -> None:
        pytest.skip("a lens focus drive has no limit switches")

    def unplug(self) -> None:
        self.cam_ctl.unplug()


@contextmanager
def make_rail(tmp_path, variant: str = "gphoto", **overrides):
    from rig.motion.lens import LensRail

    camera_overrides = overrides.pop("camera", {})
    if variant in ("gphoto", "nikon"):
        from tests.harness.camera_gphoto import make_camera

        camera_cm = make_camera(tmp_path, focus="canon" if variant == "gphoto" else "nikon", **camera_overrides)
        lens = {"driver": "gphoto"}
    else:
        from tests.harness.camera_picam import make_camera

        camera_cm = make_camera(tmp_path, **camera_overrides)
        lens = {"driver": "picam", "dioptres_per_step": 0.0625, "settle_frames": 3}
    table = {**CONFIG, **overrides, "lens": {**CONFIG["lens"], **lens, **overrides.get("lens", {})}}
    with camera_cm as (camera, cam_ctl):
        if variant == "picam":
            cam_ctl.fake.lens_speed = 0.15
        rail = LensRail(from_table(RailConfig, table, "harness"), camera=camera)
        try:
            yield rail, LensControl(rail, camera, cam_ctl, variant)
        finally:
            rail.close()
