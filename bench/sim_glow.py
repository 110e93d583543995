"""The glow beside the sim coin's rim after `rig merge` (issue 16; docs/merge.md "Sim camera").

Renders `make run`'s default simulated camera (coin, 1600x1200) at 20 focus positions from 0 to
1500 um as JPEG q95, merges them with rig (in this process) and prints, against the scene's
all-in-focus texture, the mean of (merged - truth) in rings at given distances outside the coin's
rim (DN of 255, mean of the three channels), the same along the top of the rim (the band
1.01-1.06 coin radii, top third, against the background at 1.25-1.5 radii: what
tests/test_merge_halo.py measures on a small stack), PSNR overall and in the rim band
(0.97-1.12 radii). Also writes the merge (``--name``.png) with its depth map and a 2x crop of the
top rim (truth above, merged below) as PNGs in ``--work``.

    .venv/bin/python bench/sim_glow.py [--work /tmp/rig-sim-glow] [--n 20] [--name merged]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rig.camera.sim import SimCamera  # noqa: E402
from rig.config import CameraConfig  # noqa: E402
from rig.merge.pipeline import MergeOptions, merge  # noqa: E402

RINGS = ((0, 10), (10, 20), (20, 35), (35, 60), (126, 252))  # px outside the rim


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/rig-sim-glow"))
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--name", default="merged", help="output name (PNG in --work)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    slices = a.work / "slices"
    slices.mkdir(parents=True, exist_ok=True)
    cam = SimCamera(CameraConfig())
    if len(list(slices.glob("*.jpg"))) != a.n:
        for k, f in enumerate(np.linspace(0, 1500, a.n)):
            cv2.imwrite(str(slices / f"slice_{k:02d}.jpg"), cam.render(float(f)), [cv2.IMWRITE_JPEG_QUALITY, 95])
    scene = cam._scenes()[0]
    truth = scene.texture * 255.0
    out = a.work / f"{a.name}.png"
    t0 = time.process_time()
    merge(slices, out, MergeOptions(overwrite=True, depthmap=a.work / f"{a.name}-depth.png"))
    cpu = time.process_time() - t0
    merged = cv2.imread(str(out)).astype(np.float32)
    err = (merged - truth).mean(axis=2)
    h, w = err.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    radius = 0.42 * min(w, h)
    r = np.hypot(xx - w / 2, yy - h / 2)
    cells = []
    for lo, hi in RINGS:
        ring = (r >= radius + lo) & (r < radius + hi)
        cells.append(f"{err[ring].mean():+.2f}")
    print("| distance outside the rim | " + " | ".join(f"{lo}-{hi} px" for lo, hi in RINGS) + " |")
    print("| merged - truth, mean | " + " | ".join(cells) + " |")
    rr = r / radius
    top = yy < h / 2 - 0.2 * min(w, h)
    rim = top & (rr > 1.01) & (rr < 1.06)
    far = top & (rr > 1.25) & (rr < 1.5)
    bottom = (yy > h / 2 + 0.2 * min(w, h)) & (rr > 1.01) & (rr < 1.06)
    bottom_far = (yy > h / 2 + 0.2 * min(w, h)) & (rr > 1.25) & (rr < 1.5)
    print(f"top of the rim (1.01-1.06 radii) against the background: {err[rim].mean() - err[far].mean():+.2f} DN")
    print(f"bottom of the rim: {err[bottom].mean() - err[bottom_far].mean():+.2f} DN")
    band = (rr > 0.97) & (rr < 1.12)
    overall, in_band = psnr(merged, truth), psnr(merged[band], truth[band])
    print(f"PSNR overall {overall:.2f} dB, rim band (0.97-1.12 radii) {in_band:.2f} dB")
    print(f"merge CPU time (this process) {cpu:.1f} s")
    y0, x0 = int(h / 2 - radius - 60), int(w / 2 - 160)
    crop = [np.clip(im[y0 : y0 + 160, x0 : x0 + 320], 0, 255).astype(np.uint8) for im in (truth, merged)]
    crop_png = a.work / f"top_rim_truth_vs_{out.stem}.png"
    cv2.imwrite(str(crop_png), cv2.resize(np.vstack(crop), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST))
    print(f"crop of the top rim (truth above, merged below, 2x): {crop_png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
