#!/usr/bin/env python3
"""Realistic synthetic focus stacks with exact ground truth (own code, numpy + OpenCV).

    python bench/realistic_stack.py OUT_DIR [--family coins] [--width 1600 --height 1200]
                                            [--n 25] [--seed 1] [--blur-px 38] [--quality 92]

Writes the layout of ``../shared/tools/synth_stack.py`` so its ``eval`` works unchanged:
``slices/slice_000.jpg..`` (near -> far), ``gt.png`` (all-in-focus truth in the frame of the
reference slice n//2), ``aif_pad.png`` (truth with margin), ``depth.png`` (16-bit, 0 = near),
``oracle.png`` (noise-free render of the nearest slice at every pixel) and ``meta.json`` (the
exact per-slice transform ``M``: padded truth -> slice frame).

Optics, unlike synth_stack's gather blur:
- **Layered scatter rendering.** The scene is a back-to-front list of layers (a background
  surface, then objects, then thin fibres in front). Each layer's premultiplied colour and alpha
  are defocused with the PSF of its own depth and composited "over" what lies behind it, so a
  defocused near edge spreads its glow over (and hides) the background behind it, as a real lens
  does. Inside a layer the depth may vary (tilts); there the blur is interpolated between levels.
- **Aperture-shaped PSF.** A 7-blade polygon; behind the focus plane the disc has a bright rim,
  in front of it a bright core (spherical aberration). Large blurs run on a downscaled copy.
- **Speculars** (values far above white) that clip after blur, a **dark low-texture
  background** (velvet), **thin fibres** crossing in front of everything.
- **Sensor:** Poisson-Gaussian noise (full well and read noise per seed), 8-bit, JPEG 4:2:0.
- **Focus breathing** (magnification linear in the slice index) plus a linear **drift** of the
  rail and sub-pixel jitter.

Families: ``coins`` (embossed discs on velvet), ``fibres`` (tilted textured card, fibres and
droplets in front), ``pcb`` (components of several heights on a board), ``leaves`` (overlapping
tilted leaves over a bright far background) and ``minerals`` (the held-out family: faceted
crystals with specular facets; never looked at while tuning the merge).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass

import cv2
import numpy as np

FAMILIES = ("coins", "fibres", "pcb", "leaves", "minerals")
BLADES = 7


@dataclass
class Layer:
    colour: np.ndarray  # hp x wp x 3 float32, linear, may exceed 1 (speculars); NOT premultiplied
    alpha: np.ndarray  # hp x wp float32 coverage 0..1
    depth: np.ndarray | float  # depth in [0, 1] (0 near), per pixel (defined everywhere) or constant


# --------------------------------------------------------------------------- PSF
def psf(r: float) -> np.ndarray:
    """Aperture PSF for signed defocus radius ``r`` px (> 0 behind focus: bright rim; < 0 in front:
    bright core). 7-blade polygon, anti-aliased, normalised to sum 1."""
    a = abs(r)
    if a < 0.6:
        s = max(a / 2.0, 0.05)
        k = cv2.getGaussianKernel(5, s)
        return (k @ k.T).astype(np.float32)
    big = int(math.ceil(a)) + 1
    ss = 4
    g = (np.arange((2 * big + 1) * ss) + 0.5) / ss - (big + 0.5)
    xx, yy = np.meshgrid(g, g)
    theta = np.arctan2(yy, xx) + 0.3
    sector = 2 * math.pi / BLADES
    # distance to the polygon edge along theta: apothem / cos(angle from the edge normal)
    apothem = a * math.cos(math.pi / BLADES)
    phi = np.mod(theta, sector) - sector / 2
    edge = apothem / np.cos(phi)
    rho = np.hypot(xx, yy)
    inside = (rho <= edge).astype(np.float32)
    t = np.clip(rho / np.maximum(edge, 1e-6), 0, 1)
    prof = 0.55 + 0.9 * t**6 if r > 0 else 1.35 - 0.75 * t**2
    k = (inside * prof).reshape(2 * big + 1, ss, 2 * big + 1, ss).mean(axis=(1, 3))
    return (k / k.sum()).astype(np.float32)


def defocus(img: np.ndarray, r: float) -> np.ndarray:
    """``img`` (H x W x C float32) convolved with :func:`psf` (r); big blurs on a downscaled copy."""
    if abs(r) < 0.05:
        return img
    f = max(1, int(abs(r) // 5))
    if f == 1:
        return cv2.filter2D(img, -1, psf(r), borderType=cv2.BORDER_REFLECT)
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
    small = cv2.filter2D(small, -1, psf(r / f), borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


LEVELS = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 5.5, 7.5, 10, 14, 19, 26, 35, 48, 65, 90, 125], np.float32)
SIGNED = np.concatenate([-LEVELS[:0:-1], LEVELS])


def render_layer(layer: Layer, K: float, focus: float, box: tuple[int, int, int, int]) -> np.ndarray:
    """Defocused premultiplied RGBA of ``layer`` inside ``box`` (gather between blur levels)."""
    y0, y1, x0, x1 = box
    a = layer.alpha[y0:y1, x0:x1]
    col = layer.colour[y0:y1, x0:x1] if layer.colour.shape[0] > 1 else layer.colour
    rgba = np.concatenate([np.broadcast_to(col * a[..., None], (*a.shape, 3)), a[..., None]], axis=-1)
    if np.isscalar(layer.depth):
        return defocus(rgba, K * (float(layer.depth) - focus))
    r = K * (layer.depth[y0:y1, x0:x1] - focus)
    lv = np.interp(r, SIGNED, np.arange(len(SIGNED), dtype=np.float32)).astype(np.float32)
    out = np.zeros_like(rgba)
    for j in range(int(np.floor(lv.min())), int(np.ceil(lv.max())) + 1):
        wgt = np.maximum(0.0, 1.0 - np.abs(lv - j))
        if wgt.max() <= 0:
            continue
        out += defocus(rgba, float(SIGNED[j])) * wgt[..., None]
    return out


def composite(layers: list[Layer], K: float, focus: float | None, hp: int, wp: int) -> np.ndarray:
    """Back-to-front "over" of the defocused layers (focus None: all in focus)."""
    out = np.zeros((hp, wp, 3), np.float32)
    for layer in layers:
        ys, xs = np.nonzero(layer.alpha > 1e-4)
        if ys.size == 0:
            continue
        if focus is None:
            a = layer.alpha[..., None]
            out = layer.colour * a + (1 - a) * out
            continue
        dmax = float(np.max(np.abs(np.asarray(layer.depth) - focus)))
        m = int(K * dmax) + 8
        box = (max(0, ys.min() - m), min(hp, ys.max() + m + 1), max(0, xs.min() - m), min(wp, xs.max() + m + 1))
        y0, y1, x0, x1 = box
        rgba = render_layer(layer, K, focus, box)
        sub = out[y0:y1, x0:x1]
        out[y0:y1, x0:x1] = rgba[..., :3] + (1 - np.clip(rgba[..., 3:], 0, 1)) * sub
    return out


# --------------------------------------------------------------------------- textures and scenes
def noise_tex(rng: np.random.Generator, h: int, w: int, scale: float, beta: float = 1.0) -> np.ndarray:
    """1/f^beta noise, zero mean, unit std (FFT), features from pixel level up to ``scale`` px."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    amp = 1.0 / np.maximum(f, 1.0 / scale) ** beta
    spec = (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape)) * amp
    t = np.fft.irfft2(spec, s=(h, w)).astype(np.float32)
    return (t - t.mean()) / (t.std() + 1e-9)


def colour_tex(rng, h, w, base, var, scale, beta=1.0) -> np.ndarray:
    n1, n2 = noise_tex(rng, h, w, scale, beta), noise_tex(rng, h, w, scale / 3, beta)
    c = np.empty((h, w, 3), np.float32)
    for i in range(3):
        c[..., i] = base[i] * (1 + var * (0.7 * n1 + 0.3 * n2 * (0.5 + i * 0.25)))
    return np.clip(c, 0.0, None)


def ellipse_mask(h, w, cx, cy, ax, ay, ang) -> np.ndarray:
    m = np.zeros((h * 4, w * 4), np.uint8)  # 4x supersampled: anti-aliased edge
    cv2.ellipse(m, (int(cx * 4), int(cy * 4)), (int(ax * 4), int(ay * 4)), ang, 0, 360, 255, -1, cv2.LINE_AA)
    return cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def poly_mask(h, w, pts) -> np.ndarray:
    m = np.zeros((h * 4, w * 4), np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(pts) * 4).astype(np.int32)], 255, cv2.LINE_AA)
    return cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0


def plane(h, w, d0, gx, gy) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return (d0 + gx * (xx / w - 0.5) + gy * (yy / h - 0.5)).astype(np.float32)


def speculars(rng, h, w, mask, count, size, level=6.0) -> np.ndarray:
    """Additive specular spots (values >> 1, they clip) inside ``mask``."""
    spots = np.zeros((h, w), np.float32)
    ys, xs = np.nonzero(mask > 0.99)
    if ys.size == 0:
        return spots[..., None]
    for i in rng.integers(0, ys.size, count):
        r = max(1, int(size * rng.uniform(0.3, 1.0)))
        cv2.circle(spots, (int(xs[i]), int(ys[i])), r, float(level * rng.uniform(0.5, 1.5)), -1, cv2.LINE_AA)
    return cv2.GaussianBlur(spots, (0, 0), max(0.6, size / 4))[..., None]


def fibres(rng, h, w, count, u, depth_lo, depth_hi, colour) -> list[Layer]:
    out = []
    for _ in range(count):
        m = np.zeros((h * 4, w * 4), np.uint8)
        pts = []
        x, y = rng.uniform(0, w), 0.0 if rng.random() < 0.5 else h
        ang = rng.uniform(0.3, 1.3) * (1 if y == 0 else -1)
        for _ in range(12):
            pts.append((x, y))
            ang += rng.normal(0, 0.12)
            x += math.cos(ang) * w / 10
            y += math.sin(ang) * h / 10 * (1 if ang > 0 else 1)
        thick = max(1, int(round(4 * u * rng.uniform(0.6, 1.6))))
        cv2.polylines(m, [np.round(np.asarray(pts) * 4).astype(np.int32)], False, 255, thick, cv2.LINE_AA)
        a = cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        col = (np.asarray(colour, np.float32) * rng.uniform(0.6, 1.4)).reshape(1, 1, 3)
        d = float(rng.uniform(depth_lo, depth_hi))
        out.append(Layer(col, a, d))
    return out


def make_scene(family: str, rng: np.random.Generator, hp: int, wp: int, u: float) -> list[Layer]:
    """Layers back to front; ``u`` = px per 1600 px unit (feature sizes scale with resolution)."""
    h, w = hp, wp
    ones = np.ones((h, w), np.float32)
    layers: list[Layer] = []
    if family == "coins":
        velvet = colour_tex(rng, h, w, (0.035, 0.03, 0.05), 0.25, 60 * u, 1.6)
        layers.append(Layer(velvet, ones, plane(h, w, 0.92, 0.06, 0.04)))
        for _ in range(int(rng.integers(3, 6))):
            R = rng.uniform(0.10, 0.2) * min(h, w)
            cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
            m = ellipse_mask(h, w, cx, cy, R, R, 0)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            rr = np.hypot(xx - cx, yy - cy) / R
            th = np.arctan2(yy - cy, xx - cx)
            relief = 0.5 + 0.5 * np.sin(rng.integers(5, 12) * th + 18 * rr) * np.cos(30 * rr)
            relief = np.where(rr > 0.88, 1.0, relief)
            metal = np.asarray([(0.25, 0.55, 0.8), (0.7, 0.7, 0.72), (0.3, 0.4, 0.65)][int(rng.integers(0, 3))])
            shade = 0.55 + 0.45 * np.clip(np.gradient(relief, axis=1) * 8 + 0.5, 0, 1)
            col = metal[None, None] * shade[..., None] * (1 + 0.08 * noise_tex(rng, h, w, 8 * u)[..., None])
            col = col + speculars(rng, h, w, m * (relief > 0.9), 25, 3 * u, 5)
            d0 = rng.uniform(0.05, 0.55)
            layers.append(Layer(col.astype(np.float32), m, plane(h, w, d0, rng.uniform(-0.3, 0.3), 0.2)))
        layers += fibres(rng, h, w, 2, u, 0.0, 0.08, (0.8, 0.78, 0.75))
    elif family == "fibres":
        card = colour_tex(rng, h, w, (0.45, 0.5, 0.55), 0.5, 200 * u, 1.0)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        card *= (1 + 0.3 * np.sin(xx / (7 * u)) * np.sin(yy / (11 * u)))[..., None]
        layers.append(Layer(card, ones, plane(h, w, 0.6, 0.5, 0.25)))
        drops = np.zeros((h, w), np.float32)
        for _ in range(20):
            cv2.circle(drops, (int(rng.uniform(0, w)), int(rng.uniform(0, h))), int(rng.uniform(6, 20) * u), 1, -1)
        dm = cv2.GaussianBlur(drops, (0, 0), 1.0)
        col = np.full((h, w, 3), 0.6, np.float32) * (1 + 0.1 * noise_tex(rng, h, w, 10 * u)[..., None])
        col += speculars(rng, h, w, dm, 30, 2.5 * u, 8)
        layers.append(Layer(col, dm, float(rng.uniform(0.3, 0.45))))
        layers += fibres(rng, h, w, 6, u, 0.0, 0.25, (0.15, 0.12, 0.1))
        layers += fibres(rng, h, w, 3, u, 0.05, 0.2, (0.9, 0.9, 0.85))
    elif family == "pcb":
        board = colour_tex(rng, h, w, (0.12, 0.35, 0.15), 0.3, 80 * u, 1.2)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        traces = (np.abs(np.sin(xx / (23 * u) + 0.3 * np.sin(yy / (90 * u)))) > 0.97).astype(np.float32)
        board = board * (1 - traces[..., None]) + traces[..., None] * np.asarray((0.2, 0.55, 0.75), np.float32)
        layers.append(Layer(board, ones, plane(h, w, 0.95, 0.05, 0.05)))
        for _ in range(int(rng.integers(5, 9))):
            bw, bh = rng.uniform(0.08, 0.25) * w, rng.uniform(0.06, 0.2) * h
            x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            m = poly_mask(h, w, [(x0, y0), (x0 + bw, y0), (x0 + bw, y0 + bh), (x0, y0 + bh)])
            dark = rng.random() < 0.6
            base = (0.06, 0.06, 0.07) if dark else (0.7, 0.62, 0.45)
            col = colour_tex(rng, h, w, base, 0.4, 30 * u, 1.0)
            txt = np.zeros((h, w), np.uint8)
            for j in range(3):
                cv2.putText(
                    txt,
                    f"U{rng.integers(1, 99)} {rng.integers(100, 999)}",
                    (int(x0 + 8 * u), int(y0 + (25 + 22 * j) * u)),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.6 * u,
                    255,
                    max(1, int(u)),
                    cv2.LINE_AA,
                )
            txt = txt.astype(np.float32) / 255.0
            col = col * (1 - txt[..., None]) + txt[..., None] * 0.85
            col += speculars(rng, h, w, m, 6, 4 * u, 4)
            layers.append(Layer(col, m, float(rng.uniform(0.05, 0.7))))
        layers += fibres(rng, h, w, 1, u, 0.0, 0.05, (0.7, 0.7, 0.7))
    elif family == "leaves":
        sky = colour_tex(rng, h, w, (0.85, 0.8, 0.7), 0.06, 300 * u, 2.0)
        layers.append(Layer(sky, ones, 1.0))
        for _ in range(int(rng.integers(4, 7))):
            cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
            ax, ay, ang = rng.uniform(0.15, 0.3) * w, rng.uniform(0.06, 0.12) * h, rng.uniform(0, 180)
            m = ellipse_mask(h, w, cx, cy, ax, ay, ang)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            c, s = math.cos(math.radians(ang)), math.sin(math.radians(ang))
            along, across = (xx - cx) * c + (yy - cy) * s, -(xx - cx) * s + (yy - cy) * c
            veins = (np.abs(np.sin(along / (14 * u) + np.abs(across) / (10 * u))) > 0.93) | (np.abs(across) < 2 * u)
            col = colour_tex(rng, h, w, (0.1, 0.45, 0.2), 0.35, 25 * u, 1.0)
            col = col * (1 - 0.5 * veins[..., None]) + 0.25 * veins[..., None]
            col += speculars(rng, h, w, m, 10, 2 * u, 3)
            d0 = rng.uniform(0.1, 0.75)
            layers.append(Layer(col.astype(np.float32), m, plane(h, w, d0, 0.25 * c, 0.25 * s)))
        layers += fibres(rng, h, w, 2, u, 0.0, 0.1, (0.3, 0.25, 0.15))
    elif family == "minerals":
        rock = colour_tex(rng, h, w, (0.05, 0.05, 0.06), 0.4, 40 * u, 1.3)
        layers.append(Layer(rock, ones, plane(h, w, 0.9, 0.1, -0.08)))
        for _ in range(int(rng.integers(5, 9))):
            cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
            R = rng.uniform(0.05, 0.15) * min(h, w)
            k = int(rng.integers(4, 8))
            angs = np.sort(rng.uniform(0, 2 * math.pi, k))
            pts = [
                (cx + R * rng.uniform(0.6, 1.2) * math.cos(t), cy + R * rng.uniform(0.6, 1.2) * math.sin(t))
                for t in angs
            ]
            m = poly_mask(h, w, pts)
            hue = rng.uniform(0.2, 0.9, 3)
            col = colour_tex(rng, h, w, hue, 0.25, 15 * u, 1.0)
            col += speculars(rng, h, w, m, 12, 3 * u, 6)
            layers.append(Layer(col, m, plane(h, w, rng.uniform(0.05, 0.7), rng.uniform(-0.2, 0.2), 0.1)))
        layers += fibres(rng, h, w, 1, u, 0.0, 0.06, (0.6, 0.55, 0.5))
    else:
        raise SystemExit(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")
    return layers


def warp_matrix(s: float, tx: float, ty: float, src_c, dst_c) -> np.ndarray:
    """Affine map padded truth -> slice frame: x' = s (x - src_c) + dst_c + t (synth_stack's convention)."""
    return np.array([[s, 0.0, dst_c[0] - s * src_c[0] + tx], [0.0, s, dst_c[1] - s * src_c[1] + ty]])


def to8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.clip(img, 0, 1) * 255.0), 0, 255).astype(np.uint8)


def generate(a: argparse.Namespace) -> None:
    t0 = time.time()
    W, H, n = a.width, a.height, a.n
    rng = np.random.default_rng([a.seed, FAMILIES.index(a.family)])
    u = max(W, H) / 1600.0
    ref = n // 2
    pad = int(0.04 * max(W, H)) + 16
    hp, wp = H + 2 * pad, W + 2 * pad
    os.makedirs(os.path.join(a.out, "slices"), exist_ok=True)
    layers = make_scene(a.family, rng, hp, wp, u)
    mtf = 0.6 * u
    for L in layers:  # lens/demosaic softness of a focused camera: part of the truth
        if L.colour.shape[0] > 1:
            L.colour = cv2.GaussianBlur(L.colour, (0, 0), mtf)
        L.alpha = cv2.GaussianBlur(L.alpha, (0, 0), mtf)
    K = a.blur_px * u  # blur radius px per unit depth
    aif = composite(layers, K, None, hp, wp)
    depth = np.ones((hp, wp), np.float32)
    for L in layers:
        d = L.depth if not np.isscalar(L.depth) else np.full((hp, wp), L.depth, np.float32)
        depth = np.where(L.alpha > 0.5, np.clip(d, 0, 1), depth)
    focus = np.linspace(0.0, 1.0, n)
    full_well = float(rng.uniform(1500, 4000))  # electrons at white
    read = float(rng.uniform(0.8, 2.0)) / 255.0
    breath = float(rng.uniform(0.004, 0.02)) * (1 if rng.random() < 0.5 else -1)
    drift = rng.uniform(-3, 3, 2) * u
    src_c, dst_c = ((wp - 1) / 2.0, (hp - 1) / 2.0), ((W - 1) / 2.0, (H - 1) / 2.0)
    best = np.full((hp, wp), np.inf, np.float32)
    oracle = np.zeros((hp, wp, 3), np.float32)
    transforms = []
    for k in range(n):
        img = composite(layers, K, float(focus[k]), hp, wp)
        dd = np.abs(depth - focus[k])
        m = dd < best
        best[m] = dd[m]
        oracle[m] = img[m]
        s = 1.0 + breath * (k - ref) / max(n - 1, 1)
        t = drift * (k - ref) / max(n - 1, 1) + (rng.uniform(-0.4, 0.4, 2) * u if k != ref else 0)
        M = warp_matrix(s, float(t[0]), float(t[1]), src_c, dst_c)
        if k == ref:
            img = img[pad : pad + H, pad : pad + W]
        else:
            img = cv2.warpAffine(img, M, (W, H), flags=cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
        lin = np.clip(img, 0, 1)
        e = rng.poisson(lin * full_well).astype(np.float32) / full_well
        e += rng.normal(0, read, e.shape).astype(np.float32)
        out = to8(e)
        cv2.imwrite(os.path.join(a.out, "slices", f"slice_{k:03d}.jpg"), out, [cv2.IMWRITE_JPEG_QUALITY, a.quality])
        transforms.append(
            {"k": k, "focus": float(focus[k]), "scale": s, "tx": float(t[0]), "ty": float(t[1]), "M": M.tolist()}
        )
        print(f"[gen] slice {k} {time.time() - t0:.1f}s", flush=True)
    crop = (slice(pad, pad + H), slice(pad, pad + W))
    cv2.imwrite(os.path.join(a.out, "gt.png"), to8(aif[crop]))
    cv2.imwrite(os.path.join(a.out, "aif_pad.png"), to8(aif))
    cv2.imwrite(os.path.join(a.out, "oracle.png"), to8(oracle[crop]))
    cv2.imwrite(os.path.join(a.out, "depth.png"), np.rint(depth[crop] * 65535).astype(np.uint16))
    meta = {
        "generator": "bench/realistic_stack.py",
        "family": a.family,
        "width": W,
        "height": H,
        "n": n,
        "ref": ref,
        "pad": pad,
        "seed": a.seed,
        "breath": breath,
        "drift_px": drift.tolist(),
        "K_px_per_depth": K,
        "full_well_e": full_well,
        "read_noise_dn": read * 255,
        "jpeg_quality": a.quality,
        "format": "jpg",
        "mtf_sigma_px": mtf,
        "psf": f"{BLADES}-blade polygon, rim behind focus, core in front",
        "order": "slice_000 = nearest focus (depth 0)",
        "transforms": transforms,
    }
    with open(os.path.join(a.out, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    print(f"[gen] done {time.time() - t0:.1f}s", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--family", choices=FAMILIES, default="coins")
    p.add_argument("--width", type=int, default=1600)
    p.add_argument("--height", type=int, default=1200)
    p.add_argument("--n", type=int, default=25)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--blur-px", type=float, default=40.0, help="defocus radius per unit depth at 1600 px")
    p.add_argument("--quality", type=int, default=92)
    generate(p.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
