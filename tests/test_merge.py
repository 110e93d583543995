"""``rig merge`` on small synthetic stacks with exact ground truth (generated here).

Scene: a textured plane split into depth bands plus a depth step; slice k is the scene blurred
per pixel by a Gaussian whose width grows with |depth - focus_k|, then moved by a known
similarity transform (breathing scale, rotation, sub-pixel shift) and 8-bit quantised.
"""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from rig.merge.pipeline import MergeOptions, merge

W, H = 320, 240
N = 8
BLUR_PER_SLICE = 1.1
BAND_DEPTHS = (0.7, 2.6, 4.4, 6.3)  # Gaussian sigma (px) per slice of defocus


def texture(rng: np.random.Generator, h: int = H, w: int = W) -> np.ndarray:
    base = rng.random((h, w, 3)).astype(np.float32)
    img = 0.5 * cv2.GaussianBlur(base, (0, 0), 0.8) + 0.5 * cv2.GaussianBlur(base, (0, 0), 3.0)
    img = (img - img.mean()) * 3.0 + 0.5
    u = np.clip(img * 255, 0, 255).astype(np.uint8)
    for _ in range(40):
        p1 = tuple(int(v) for v in rng.integers(0, (w, h)))
        p2 = tuple(int(v) for v in rng.integers(0, (w, h)))
        cv2.line(u, p1, p2, tuple(int(c) for c in rng.integers(0, 256, 3)), 1, cv2.LINE_AA)
    return u.astype(np.float32)


def band_depth(h: int = H, w: int = W) -> np.ndarray:
    """Four vertical bands at depths 0.7, 2.6, 4.4, 6.3 (slice units: between slices, as in real stacks)."""
    d = np.empty((h, w), np.float32)
    for i, z in enumerate(BAND_DEPTHS):
        d[:, i * w // 4 : (i + 1) * w // 4] = z
    return d


def render(scene: np.ndarray, depth: np.ndarray, focus: float) -> np.ndarray:
    """Gather-model defocus: per-pixel Gaussian blur interpolated between blur levels."""
    sig = BLUR_PER_SLICE * np.abs(depth - focus)
    levels = np.arange(0.0, float(sig.max()) + 1.0, 0.5)
    stack = [scene if s == 0 else cv2.GaussianBlur(scene, (0, 0), s) for s in levels]
    idx = np.clip((sig / 0.5).astype(int), 0, len(levels) - 2)
    t = (sig / 0.5 - idx)[..., None]
    out = np.zeros_like(scene)
    for j in np.unique(idx):
        m = idx == j
        out[m] = ((1 - t) * stack[j] + t * stack[j + 1])[m]
    return out


def similarity(scale: float, rot_deg: float, tx: float, ty: float, w: int = W, h: int = H) -> np.ndarray:
    """3x3 matrix mapping reference pixels to slice pixels (about the image centre)."""
    c = np.array([(w - 1) / 2, (h - 1) / 2])
    a = math.radians(rot_deg)
    R = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    m = np.eye(3)
    m[:2, :2] = R
    m[:2, 2] = c - R @ c + np.array([tx, ty])
    return m


def make_stack(
    folder: Path,
    depth: np.ndarray,
    n: int = N,
    seed: int = 3,
    transforms: list[np.ndarray] | None = None,
    noise: float = 0.5,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Write slices slice_00.png.. into ``folder``; return the truth (float) and the slices as written."""
    rng = np.random.default_rng(seed)
    scene = texture(rng, *depth.shape)
    folder.mkdir(parents=True, exist_ok=True)
    slices = []
    for k in range(n):
        img = render(scene, depth, float(k))
        if transforms is not None:
            img = cv2.warpAffine(
                img, transforms[k][:2], depth.shape[::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT
            )
        img = img + rng.normal(0, noise, img.shape).astype(np.float32)
        u8 = np.clip(np.rint(img), 0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"slice_{k:02d}.png"), u8)
        slices.append(u8)
    return scene, slices


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    d = (a.astype(np.float64) - b.astype(np.float64)) ** 2
    d = d.mean(axis=2) if d.ndim == 3 else d
    mse = float(d[mask].mean() if mask is not None else d.mean())
    return 10 * math.log10(255.0**2 / max(mse, 1e-12))


def sharpness(img: np.ndarray, mask: np.ndarray) -> float:
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    lap = cv2.Laplacian(g, cv2.CV_32F)
    return float((lap[mask] ** 2).mean())


@pytest.fixture(scope="module")
def band_stack(tmp_path_factory) -> tuple[Path, np.ndarray, list[np.ndarray], np.ndarray]:
    folder = tmp_path_factory.mktemp("bands") / "slices"
    depth = band_depth()
    truth, slices = make_stack(folder, depth)
    return folder, truth, slices, depth


def test_merge_sharper_than_every_slice_in_every_band(band_stack, tmp_path):
    folder, truth, slices, depth = band_stack
    out = tmp_path / "merged.png"
    merge(folder, out, MergeOptions(align=False))
    merged = cv2.imread(str(out))
    for i in range(4):
        band = np.zeros((H, W), bool)
        band[8:-8, i * W // 4 + 6 : (i + 1) * W // 4 - 6] = True
        s_merged = sharpness(merged, band)
        for k, sl in enumerate(slices):
            # never meaningfully softer than the best slice, and sharper than all the others
            assert s_merged >= 0.97 * sharpness(sl, band), (i, k)


def test_merge_within_ceiling_of_ground_truth(band_stack, tmp_path):
    folder, truth, slices, depth = band_stack
    out = tmp_path / "merged.png"
    merge(folder, out, MergeOptions(align=False, depthmap=tmp_path / "depth.png"))
    merged = cv2.imread(str(out))
    # ceiling: the best possible per-pixel pick, the slice nearest in true depth
    nearest = np.clip(np.rint(depth), 0, N - 1).astype(int)
    oracle = np.choose(nearest[..., None], slices)
    inner = np.zeros((H, W), bool)
    inner[6:-6, 6:-6] = True
    p_merge, p_oracle = psnr(merged, truth, inner), psnr(oracle, truth, inner)
    assert p_merge >= p_oracle - 1.5, (p_merge, p_oracle)
    # the depth map follows the bands: near = dark, 16-bit
    dm = cv2.imread(str(tmp_path / "depth.png"), cv2.IMREAD_UNCHANGED)
    assert dm.dtype == np.uint16 and dm.shape == (H, W)
    means = [float(np.median(dm[:, i * W // 4 + 10 : (i + 1) * W // 4 - 10])) for i in range(4)]
    assert means == sorted(means)
    expected = np.array(BAND_DEPTHS) / (N - 1) * 65535
    assert np.allclose(means, expected, atol=0.6 / (N - 1) * 65535)


def test_no_halo_at_depth_step(tmp_path):
    depth = np.full((H, W), 1.0, np.float32)
    depth[:, W // 2 :] = 6.0
    truth, slices = make_stack(tmp_path / "s", depth, seed=5)
    out = tmp_path / "m.png"
    merge(tmp_path / "s", out, MergeOptions(align=False, depthmap=tmp_path / "d.png"))
    merged = cv2.imread(str(out)).astype(np.float32)
    stack = np.stack(slices).astype(np.float32)
    # no overshoot: every output value lies within what the slices recorded at that pixel
    over = np.maximum(merged - stack.max(0), stack.min(0) - merged)
    assert over.max() <= 1.0
    # no soft band (blur halo) along the step: at most the 3 pixel columns at the step differ
    # from the truth by more than the noise, and the strip next to it stays within ~2.5 DN rms
    col_rmse = np.sqrt(((merged - truth)[6:-6] ** 2).mean(axis=(0, 2)))
    bad = np.flatnonzero(col_rmse > 5.0)
    assert len(bad) <= 3 and np.all(np.abs(bad - (W // 2 - 0.5)) < 2), col_rmse[W // 2 - 8 : W // 2 + 8].round(1)
    strip = np.zeros((H, W), bool)
    strip[6:-6, W // 2 - 8 : W // 2 + 8] = True
    strip[:, W // 2 - 2 : W // 2 + 1] = False
    rest = np.zeros((H, W), bool)
    rest[6:-6, 6 : W // 2 - 20] = True
    rest[6:-6, W // 2 + 20 : -6] = True
    p_strip, p_rest = psnr(merged, truth, strip), psnr(merged, truth, rest)
    assert p_strip >= 40.0 and p_rest >= 45.0, (p_strip, p_rest)
    # and the depth map keeps the step sharp
    dm = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED).astype(np.float32) / 65535 * (N - 1)
    row = np.median(dm[20:-20], axis=0)
    assert np.all(np.abs(row[: W // 2 - 5] - 1) < 0.5) and np.all(np.abs(row[W // 2 + 5 :] - 6) < 0.5)


def test_alignment_recovers_scale_shift_rotation(tmp_path):
    rng = np.random.default_rng(11)
    depth = band_depth()
    ref = N // 2
    trs = []
    for k in range(N):
        if k == ref:
            trs.append(np.eye(3))
            continue
        s = 1.0 + 0.03 * (k - ref) / (N - 1) * 2  # breathing: up to about +-3 %
        trs.append(similarity(s, 0.25 * (k - ref) / N, *rng.uniform(-2.0, 2.0, 2)))
    truth, _ = make_stack(tmp_path / "s", depth, transforms=trs, seed=7)
    out = tmp_path / "m.png"
    res = merge(tmp_path / "s", out, MergeOptions())
    corners = np.array([[0, 0, 1], [W - 1, 0, 1], [0, H - 1, 1], [W - 1, H - 1, 1]], float).T
    for k in range(N):
        got = res.transforms[k].matrix
        err = np.abs((got - trs[k]) @ corners)[:2].max()
        assert err < 0.35, (k, err, got, trs[k])
        assert abs(res.transforms[k].gain - 1.0) < 0.02
    # and the merge of the misaligned stack is still close to the truth (in the reference frame)
    merged = cv2.imread(str(out))
    inner = np.zeros((H, W), bool)
    inner[16:-16, 16:-16] = True
    assert psnr(merged, truth, inner) > 30


def test_exposure_difference_is_matched(tmp_path):
    depth = band_depth()
    _, slices = make_stack(tmp_path / "s", depth, seed=9)
    for k in range(N):  # brighten odd slices by 10 %
        if k % 2:
            img = np.clip(slices[k].astype(np.float32) * 1.1, 0, 255).astype(np.uint8)
            cv2.imwrite(str(tmp_path / "s" / f"slice_{k:02d}.png"), img)
    res = merge(tmp_path / "s", tmp_path / "m.png", MergeOptions())
    gains = [t.gain for t in res.transforms]
    for k in range(N):
        expect = (1 / 1.1 if k % 2 else 1.0) / (1 / 1.1 if (N // 2) % 2 else 1.0)
        assert abs(gains[k] - expect) < 0.02, (k, gains)


def test_memory_does_not_grow_with_slices(tmp_path):
    """The streaming path keeps at most a couple of slices alive: peak numpy memory is flat in N."""
    depth = np.tile(np.linspace(0, 3, W, dtype=np.float32), (H, 1))
    make_stack(tmp_path / "few", depth, n=4, seed=1)
    depth16 = np.tile(np.linspace(0, 15, W, dtype=np.float32), (H, 1))
    make_stack(tmp_path / "many", depth16, n=16, seed=1)
    peaks = []
    for name in ("few", "many"):
        tracemalloc.start()
        merge(tmp_path / name, tmp_path / f"{name}.png", MergeOptions())
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.25 * peaks[0], peaks


def test_follow_merges_while_frames_arrive(tmp_path):
    """``--follow``: the merge starts before the first frame and ends once the stack is complete."""
    import json
    import threading
    import time

    depth = band_depth()
    truth, slices = make_stack(tmp_path / "src", depth, seed=3)
    live = tmp_path / "live"
    live.mkdir()
    frames: list[dict] = []

    def manifest(outcome: str) -> None:
        tmp = live / ".stack.json.tmp"
        tmp.write_text(json.dumps({"format": "rig-stack/1", "outcome": outcome, "frames": frames}))
        tmp.replace(live / "stack.json")

    def capture() -> None:
        for k, path in enumerate(sorted((tmp_path / "src").glob("*.png"))):
            time.sleep(0.05)
            data = path.read_bytes()
            (live / f"{k + 1:04d}.png").write_bytes(data)
            frames.append({"index": k + 1, "file": f"{k + 1:04d}.png", "bytes": len(data)})
            if k == 2:
                frames.append({"index": 99, "file": None})  # kept on the camera card only
            manifest("running")
        manifest("completed")

    writer = threading.Thread(target=capture)
    writer.start()
    res = merge(live, tmp_path / "m.png", MergeOptions(follow=True, follow_timeout=30, align=False))
    writer.join()
    assert res.slices == N
    merged = cv2.imread(str(tmp_path / "m.png"))
    nearest = np.clip(np.rint(depth), 0, N - 1).astype(int)
    oracle = np.choose(nearest[..., None], slices)
    inner = np.zeros((H, W), bool)
    inner[6:-6, 6:-6] = True
    assert psnr(merged, truth, inner) >= psnr(oracle, truth, inner) - 1.5


def test_near_a_depth_step_the_fine_depth_stays_within_the_two_sides():
    from rig.merge.focus import combine_scales

    h, w = 64, 128
    coarse = np.full((h, w), 10.0, np.float32)
    coarse[:, 64:] = 40.0  # a depth step at x = 64
    fine = coarse.copy()
    fine[20:30, 56:62] = 25.0  # a push-pull fill-in from far away: neither side's depth
    index = np.full((h, w), 10, np.uint8)
    index[:, 60:] = 40  # the median argmax puts the step 4 px further left
    out = combine_scales(fine, coarse, window=8, fine_index=index)
    assert out[25, 58] == 10.0  # out-of-range fine depth: the coarse depth is kept
    assert out[5, 62] == 40.0  # near the step the argmax decides between the two sides
    assert out[5, 20] == 10.0 and out[5, 120] == 40.0  # away from the step: coarse


def test_breathing_fit_corrects_a_small_scale_bias_and_keeps_nonlinear_breathing():
    from rig.merge.align import Transform, fit_breathing

    w, h, ref = 1600, 1200, 10

    def tr(scale: float, tx: float = 0.0) -> Transform:
        c = np.array([(w - 1) / 2, (h - 1) / 2])
        m = np.eye(3)
        m[:2, :2] *= scale
        m[:2, 2] = c - scale * c + tx
        return Transform(m, 1.0, 5)

    bias = [0.0004 * math.sin(math.pi * k / 20) for k in range(21)]  # ~0.4 px at the corners
    measured = {k: tr(math.exp(2e-4 * (k - ref) + bias[k])) for k in range(21)}
    measured[ref] = Transform.identity()  # the reference is the identity by construction
    fitted = fit_breathing(measured, ref, w, h)
    for k in range(21):
        assert math.hypot(*fitted[k].matrix[:2, 0]) == pytest.approx(math.exp(2e-4 * (k - ref)), abs=1e-4)
    # a pivot keeps that point where the measurement put it
    pivots = {k: (200.0, 900.0) for k in range(21)}
    fitted = fit_breathing(measured, ref, w, h, pivots)
    p = np.array([200.0, 900.0, 1.0])
    assert np.allclose(fitted[3].matrix @ p, measured[3].matrix @ p)
    # strongly non-linear breathing (uneven focus steps): the measurements stay
    uneven = {k: tr(math.exp(0.004 * (k - ref) ** 2 / 10)) for k in range(21)}
    assert fit_breathing(uneven, ref, w, h) == uneven
