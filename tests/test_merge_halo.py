"""The merged sim coin has no glow just outside its rim (issue 16).

The sim camera renders occlusion as a lens does (rig/camera/scene.py): in the background's own sharp
slices the coin's defocused near edge spreads a warm glow over the background next to its rim. A
merge that takes the background from those slices keeps the glow (a halo a user sees).
"""

from __future__ import annotations

import cv2
import numpy as np

from rig.camera.scene import make_scene, render
from rig.merge.pipeline import MergeOptions, merge

W, H, N, DEPTH_UM = 400, 300, 10, 1500.0


def test_no_glow_outside_the_sim_coins_rim(tmp_path):
    scene = make_scene("coin", W, H, DEPTH_UM, seed=1)
    folder = tmp_path / "slices"
    folder.mkdir()
    for k, focus in enumerate(np.linspace(0.0, DEPTH_UM, N)):  # the default sim camera, scaled to 400 px
        img = render(
            scene,
            float(focus),
            blur_px_per_um=0.016 * W / 1600,
            breathing=0.01,
            depth_um=DEPTH_UM,
            noise=0.01,
            rng=np.random.default_rng((1, k)),
        )
        cv2.imwrite(str(folder / f"s{k:02d}.png"), img)
    merge(folder, tmp_path / "merged.png", MergeOptions())
    err = cv2.imread(str(tmp_path / "merged.png")).astype(np.float32) - scene.texture * 255.0
    err = err.mean(axis=2)  # merged minus the all-in-focus truth
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    r = np.hypot(xx - W / 2, yy - H / 2) / (0.42 * min(W, H))  # in coin radii
    top = yy < H / 2 - 0.2 * min(W, H)  # the coin leans: its top is nearest, its glow the widest
    rim = top & (r > 1.01) & (r < 1.06)  # just outside the rim (1.5-7.5 px here)
    far = top & (r > 1.25) & (r < 1.5)
    glow = float(err[rim].mean() - err[far].mean())
    assert abs(glow) < 1.0, f"the background just outside the rim is {glow:+.1f} DN off (glow)"
