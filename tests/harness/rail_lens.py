"""Contract harness: the lens rail, driving the focus motor of
* ``gphoto``: the gphoto camera on libgphoto2's virtual camera, with the Canon-style
  ``manualfocusdrive`` widget the harness adds (tests/harness/camera_gphoto.py);
* ``picam``: the picam camera on the stand-in picamera2 module (LensPosition in dioptres).
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from rig.config import RailConfig
from rig.config.schema import from_table

VARIANTS = ("gphoto", "picam")
CONFIG = {"backend": "lens", "min_um": -50, "max_um": 250}


class LensControl:
    tol = 0.0

    def __init__(self, rail, camera, cam_ctl, variant: str) -> None:
        self.rail, self.camera, self.cam_ctl, self.variant = rail, camera, cam_ctl, variant
        # gphoto: 4 ms per drive step, near -> far = 90 steps = 0.36 s
        # picam: 0.05 dioptres per step, the lens moves 0.15 dioptres per frame at 200 fps: 0.3 s
        self.near, self.far = (10.0, 100.0) if variant == "gphoto" else (20.0, 200.0)

    def trip_limit(self) -> None:
        pytest.skip("a lens focus drive has no limit switches")

    def unplug(self) -> None:
        self.cam_ctl.unplug()


@contextmanager
def make_rail(tmp_path, variant: str = "gphoto", **overrides):
    from rig.motion.lens import LensRail

    if variant == "gphoto":
        from tests.harness.camera_gphoto import make_camera

        camera_cm = make_camera(tmp_path, focus=True)
        lens = {"driver": "gphoto", "gphoto_step": "Far 1"}
    else:
        from tests.harness.camera_picam import make_camera

        camera_cm = make_camera(tmp_path)
        lens = {"driver": "picam", "dioptres_per_step": 0.05, "settle_frames": 3}
    table = {**CONFIG, **overrides, "lens": {**lens, **overrides.get("lens", {})}}
    with camera_cm as (camera, cam_ctl):
        if variant == "picam":
            cam_ctl.fake.lens_speed = 0.15
        rail = LensRail(from_table(RailConfig, table, "harness"), camera=camera)
        try:
            yield rail, LensControl(rail, camera, cam_ctl, variant)
        finally:
            rail.close()
