"""The simulated camera renders real depth of field that follows the rail."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from rig.camera.base import looks_complete
from rig.camera.scene import make_scene
from rig.camera.sim import SimCamera
from rig.config import CameraConfig, SimCameraConfig
from rig.errors import CameraError


def camera(**kw) -> tuple[SimCamera, list[float]]:
    focus = [0.0]
    cfg = CameraConfig(sim=SimCameraConfig(**{"width": 320, "height": 240, **kw}))
    return SimCamera(cfg, focus=lambda: focus[0]), focus


def sharpness(img: np.ndarray, mask: np.ndarray) -> float:
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.abs(cv2.Laplacian(gray, cv2.CV_32F))[mask].mean())


@pytest.mark.parametrize("subject", ["coin", "bug"])
def test_focus_follows_the_rail(subject):
    cam, focus = camera(subject=subject, noise=0.0, breathing=0.0)
    scene = make_scene(subject, 320, 240, 1500.0, 1)
    near = scene.depth_um < 300
    far = scene.depth_um > 1200
    assert near.sum() > 500 and far.sum() > 500
    sharp = {}
    for position in (150.0, 1400.0):
        focus[0] = position
        frame = cam.capture()
        assert looks_complete(frame.data, "jpg") and frame.meta["focus"] == position
        img = cv2.imdecode(np.frombuffer(frame.data, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (240, 320, 3)
        sharp[position] = (sharpness(img, near), sharpness(img, far))
    assert sharp[150.0][0] > 2 * sharp[1400.0][0]  # near region sharp when focused near
    assert sharp[1400.0][1] > 2 * sharp[150.0][1]  # far region sharp when focused far


def test_deterministic_per_seed_and_seeds_differ():
    a, _ = camera(seed=3)
    b, _ = camera(seed=3)
    c, _ = camera(seed=4)
    assert a.capture().data == b.capture().data
    assert a.capture().data != c.capture().data


def test_breathing_changes_magnification():
    cam, _ = camera(noise=0.0, breathing=0.03, blur_px_per_mm=0.0)
    near, far = cam.render(0.0), cam.render(1500.0)
    # with no blur the only change is scale: the coin's rim moves outward at the far focus
    row_near = (near[120, :, 2] > 150).nonzero()[0]
    row_far = (far[120, :, 2] > 150).nonzero()[0]
    assert (row_far.max() - row_far.min()) > (row_near.max() - row_near.min())


def test_formats_preview_and_faults():
    cam, _ = camera(format="png")
    assert cam.capture().data[:8] == b"\x89PNG\r\n\x1a\n"
    preview = cv2.imdecode(np.frombuffer(cam.preview(), np.uint8), cv2.IMREAD_COLOR)
    assert preview.shape == (60, 80, 3)
    cam.inject_fault("card full")
    with pytest.raises(CameraError, match="card full"):
        cam.capture()
    cam.capture()  # one-shot
    cam.unplug()
    with pytest.raises(CameraError, match="disconnected"):
        cam.capture()
    assert cam.health()["ok"] is False
    cam.close()
    cam.close()  # idempotent


def test_defocused_near_edge_glows_over_the_background():
    """Like a real lens: focused on the far background, the defocused coin spreads its colour
    over the background just outside its rim (the halo a merge must avoid); focused on the
    coin's rim, the background there keeps its own colour."""
    cam, _ = camera(noise=0.0, breathing=0.0)
    scene = make_scene("coin", 320, 240, 1500.0, 1)
    yy, xx = np.mgrid[0:240, 0:320]
    r = np.hypot(xx - 160, yy - 120) / (0.42 * 240)
    ring = (r > 1.04) & (r < 1.10)  # just outside the rim: background in the all-in-focus truth
    far = r > 1.35
    assert np.all(scene.depth_um[ring] > 1300)
    red = lambda img, m: float(img[..., 2][m].mean())  # noqa: E731  (the coin is gold: red-rich)
    back = cam.render(1450.0)  # background in focus, the coin's near rim far out of focus
    assert red(back, ring) > red(back, far) + 12
    rim = cam.render(float(scene.depth_um[(r > 0.95) & (r < 0.99) & (yy > 120)].mean()))
    assert red(back, ring) > red(rim, ring) + 6


def test_the_live_views_kept_layers_never_show_a_stale_focus():
    """The live view keeps each scene's (and each magnified crop's) blurred layers between frames:
    a frame at a new focus must be exactly what rendering afresh gives, in the whole view and in a
    magnified one."""
    from rig.camera.scene import LayerCache, render

    scene = make_scene("coin", 160, 120, 1500.0, 1)
    cache = LayerCache()

    def frame(focus: float, kept: LayerCache | None) -> np.ndarray:
        rng = np.random.default_rng(0)
        return render(scene, focus, blur_px_per_um=0.01, breathing=0.0, depth_um=1500.0, noise=0.0, rng=rng, cache=kept)

    for focus in (200.0, 900.0, 200.0, 1400.0):
        assert np.array_equal(frame(focus, cache), frame(focus, None)), focus
    cam, position = camera(noise=0.0)
    crops = []
    for focus in (150.0, 1400.0, 150.0):
        position[0] = focus
        crops.append(cv2.imdecode(np.frombuffer(cam.preview_crop(0.3, 0.4, 4), np.uint8), cv2.IMREAD_GRAYSCALE))
    assert np.array_equal(crops[0], crops[2])  # same focus, same picture (kept layers reused)
    assert float(np.mean(cv2.absdiff(crops[0], crops[1]))) > 2.0  # another focus: another picture
