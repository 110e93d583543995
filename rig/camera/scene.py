"""A procedural 3-D subject and a thin-lens depth-of-field renderer for the simulated camera.

The subject has an all-in-focus texture and a true depth map (micrometres from its nearest
point). A frame focused at rail position ``f`` blurs with a Gaussian whose sigma grows linearly
with ``|depth - f|`` (the thin-lens circle of confusion for small defocus), then applies focus
breathing (magnification that changes with focus) and sensor noise.

Occlusion is rendered as a lens does: the scene is two layers, the background card and the
subject in front of it (coverage ``alpha``). Each layer is defocused at its own depth (the
subject's premultiplied colour and its coverage together) and the subject is composited "over"
the background, so a defocused near edge spreads its glow over the background behind it and
partly hides it, as in a real macro stack (the halo a merge has to avoid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

# blur levels (sigma in px) the renderer interpolates between
LEVELS = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.5, 7.5, 10.0, 14.0, 20.0, 28.0, 40.0, 56.0, 80.0])


@dataclass(frozen=True)
class Scene:
    texture: np.ndarray  # H x W x 3 float32, 0..1, BGR: all in focus
    depth_um: np.ndarray  # H x W float32, 0 = nearest point of the subject (what is seen at each pixel)
    back: np.ndarray | None = None  # background layer texture (also where the subject hides it)
    back_depth_um: np.ndarray | None = None
    front: np.ndarray | None = None  # subject layer: premultiplied BGR + coverage (H x W x 4)
    front_depth_um: np.ndarray | None = None  # subject depth, extended beyond its edge (nearest point)


def _layered(
    back: np.ndarray, back_depth: np.ndarray, colour: np.ndarray, inside: np.ndarray, depth: np.ndarray
) -> Scene:
    """The background and the subject (coverage ``inside``, anti-aliased) as two layers."""
    alpha = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 0.7)
    hidden = (alpha < 0.999).astype(np.uint8)
    # the subject's depth beyond its edge: that of its nearest pixel (the edge's defocus spreads at it)
    _, labels = cv2.distanceTransformWithLabels(hidden, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(hidden == 0)
    lut = np.zeros(labels.max() + 1, np.float32)
    lut[labels[ys, xs]] = depth[ys, xs]
    front_depth = lut[labels] if ys.size else np.full_like(depth, float(depth.mean()))
    front = np.concatenate([colour * alpha[..., None], alpha[..., None]], axis=-1).astype(np.float32)
    a = alpha[..., None]
    texture = np.clip(colour * a + back * (1 - a), 0.0, 1.0).astype(np.float32)
    seen = np.where(alpha > 0.5, depth, back_depth).astype(np.float32)
    return Scene(
        texture=np.ascontiguousarray(texture),
        depth_um=np.ascontiguousarray(seen),
        back=np.ascontiguousarray(back.astype(np.float32)),
        back_depth_um=np.ascontiguousarray(back_depth.astype(np.float32)),
        front=np.ascontiguousarray(front),
        front_depth_um=np.ascontiguousarray(front_depth.astype(np.float32)),
    )


def _fine_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Band-limited grain with detail at several scales, so defocus is visible everywhere."""
    out = np.zeros((h, w), np.float32)
    for sigma, amp in ((0.8, 0.5), (2.0, 0.3), (6.0, 0.2)):
        layer = rng.standard_normal((h, w)).astype(np.float32)
        layer = cast("np.ndarray", cv2.GaussianBlur(layer, (0, 0), sigma))  # float32 in, float32 out
        layer /= layer.std() + 1e-6
        out += amp * layer
    return out


def make_scene(subject: str, width: int, height: int, depth_um: float, seed: int) -> Scene:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width / 2.0, height / 2.0
    scale = min(width, height)
    grain = _fine_texture(rng, height, width)
    # background: a far, slightly tilted card with its own texture
    depth = np.full((height, width), depth_um, np.float32) - 0.05 * depth_um * (yy / height)
    base = np.stack([0.35 + 0.05 * grain, 0.38 + 0.06 * grain, 0.42 + 0.05 * grain], axis=-1)
    if subject == "blank":  # nothing to focus on (calibration refuses it)
        flat = np.full((height, width, 3), 0.5, np.float32)
        return Scene(texture=flat, depth_um=np.full((height, width), depth_um / 2, np.float32))
    if subject == "step":  # calibration target: a plate (left half, depth 0) on a card depth_um behind it
        plate = xx < width / 2
        card = np.clip(0.5 + 0.15 * grain, 0, 1)
        texture = np.repeat(card[..., None], 3, axis=-1).astype(np.float32)
        return Scene(texture=texture, depth_um=np.where(plate, 0.0, depth_um).astype(np.float32))
    if subject == "coin":
        r = np.hypot(xx - cx, yy - cy) / (0.42 * scale)
        inside = r < 1.0
        theta = np.arctan2(yy - cy, xx - cx)
        relief = 0.5 + 0.5 * np.sin(9 * theta + 14 * r) * np.cos(22 * r)  # embossed rings and spokes
        relief = np.where(r > 0.9, 1.0, relief)  # raised rim
        tilt = (yy - (cy - 0.42 * scale)) / (0.84 * scale)  # coin leans away: top near, bottom far
        coin_depth = depth_um * (0.62 * np.clip(tilt, 0, 1) + 0.12 * (1.0 - relief))
        shade = 0.75 + 0.25 * np.clip(np.gradient(relief, axis=1) * 6.0, -1, 1)
        gold = np.stack([0.25 * shade, 0.62 * shade, 0.85 * shade], axis=-1) * (1 + 0.15 * grain[..., None])
        return _layered(base, depth, np.clip(gold, 0, 1), inside, coin_depth.astype(np.float32))
    else:  # "bug": an ellipsoid body with a head, segments and legs
        ex, ey = (xx - cx) / (0.22 * scale), (yy - cy) / (0.38 * scale)
        body = ex**2 + ey**2
        inside = body < 1.0
        dome = np.sqrt(np.clip(1.0 - body, 0, 1))
        body_depth = depth_um * (0.75 - 0.7 * dome)
        seg = 0.5 + 0.5 * np.cos(ey * 14.0)
        hx, hy = (xx - cx) / (0.12 * scale), (yy - (cy - 0.45 * scale)) / (0.1 * scale)
        head = hx**2 + hy**2 < 1.0
        legs = np.zeros((height, width), np.uint8)
        for k in range(3):
            y0 = int(cy + (k - 1) * 0.2 * scale)
            for sgn in (-1, 1):
                x0 = int(cx + sgn * 0.18 * scale)
                x1 = int(cx + sgn * 0.45 * scale)
                cv2.line(legs, (x0, y0), (x1, y0 + int(0.12 * scale)), 1, max(2, int(0.012 * scale)))
        legs_b = legs.astype(bool) & ~inside
        colour = np.stack([0.10 + 0.1 * seg, 0.25 + 0.25 * seg, 0.15 + 0.1 * seg], axis=-1)
        colour = colour * (1 + 0.25 * grain[..., None])
        sub_depth = np.where(head, depth_um * 0.35, body_depth)
        sub_depth = np.where(legs_b, depth_um * 0.55 + 0.3 * depth_um * (np.abs(xx - cx) / (0.45 * scale)), sub_depth)
        leg_colour = np.array([0.08, 0.1, 0.12], np.float32) * (1 + 0.3 * grain[..., None])
        colour = np.where(legs_b[..., None], leg_colour, colour)
        inside = inside | head | legs_b
        return _layered(base, depth, np.clip(colour, 0, 1), inside, sub_depth.astype(np.float32))


def downscale(scene: Scene, factor: int) -> Scene:
    h, w = scene.depth_um.shape
    size = (max(1, w // factor), max(1, h // factor))

    def small(a: np.ndarray) -> np.ndarray:
        return cv2.resize(a, size, interpolation=cv2.INTER_AREA)

    def layer(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else small(a)

    return Scene(
        texture=small(scene.texture),
        depth_um=small(scene.depth_um),
        back=layer(scene.back),
        back_depth_um=layer(scene.back_depth_um),
        front=layer(scene.front),
        front_depth_um=layer(scene.front_depth_um),
    )


# sigma (px) -> blur level (fractional index into LEVELS), tabulated every 1/256 px: np.interp per
# pixel cost more than the rest of a live-view frame; the table is within 0.4 % of a level
LEVEL_STEPS_PER_PX = 256
_LEVEL_TABLE = np.interp(
    np.arange(0, LEVELS[-1] * LEVEL_STEPS_PER_PX + 1) / LEVEL_STEPS_PER_PX, LEVELS, np.arange(len(LEVELS))
).astype(np.float32)
NOISE_MARGIN = 64  # px: a live-view frame's noise is a window of a field this much larger, at a random offset


class LayerCache:
    """What a live view keeps between frames of one scene (or one crop of it): its layers blurred
    at each of the :data:`LEVELS`, made when first needed (a blurred layer does not depend on the
    focus, so a new focus only weighs and adds them: the per-depth layers), and a field of sensor
    noise each frame takes a window of at a random offset (drawing fresh noise cost more than the
    rest of the frame; windows at different offsets are as independent as fresh noise).
    Thread-safe enough: two threads may make the same entry at once; either result is the same."""

    def __init__(self) -> None:
        self._levels: dict[tuple[str, int], np.ndarray] = {}
        self._noise: np.ndarray | None = None

    def blurred(self, layer: str, img: np.ndarray, k: int) -> np.ndarray:
        found = self._levels.get((layer, k))
        if found is None:
            found = self._levels[(layer, k)] = _blurred(img, float(LEVELS[k]))
        return found

    def noise(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        field = self._noise
        if field is None or field.shape != (shape[0] + NOISE_MARGIN, shape[1] + NOISE_MARGIN, *shape[2:]):
            size = (shape[0] + NOISE_MARGIN, shape[1] + NOISE_MARGIN, *shape[2:])
            field = self._noise = rng.standard_normal(size, dtype=np.float32)
        y, x = (int(v) for v in rng.integers(0, NOISE_MARGIN + 1, 2))
        return field[y : y + shape[0], x : x + shape[1]]


def render(
    scene: Scene,
    focus_um: float,
    *,
    blur_px_per_um: float,
    breathing: float,
    depth_um: float,
    noise: float,
    rng: np.random.Generator,
    cache: LayerCache | None = None,
) -> np.ndarray:
    """One frame focused at ``focus_um`` (relative to the subject's nearest point); uint8 BGR.
    ``cache``: the blurred layers of this very scene, kept between calls (live view)."""
    if scene.front is None or scene.back is None:
        out = _defocus(scene.texture, scene.depth_um, focus_um, blur_px_per_um, cache, "texture")
    else:  # background, then the defocused subject "over" it
        # _layered makes each layer together with its depth
        assert scene.back_depth_um is not None and scene.front_depth_um is not None
        out = _defocus(scene.back, scene.back_depth_um, focus_um, blur_px_per_um, cache, "back")
        front = _defocus(scene.front, scene.front_depth_um, focus_um, blur_px_per_um, cache, "front")
        cover = np.clip(front[..., 3], 0.0, 1.0)
        out *= cv2.merge([1.0 - cover] * 3)
        out += front[..., :3]
    if breathing:
        mag = 1.0 + breathing * (focus_um / max(depth_um, 1e-6) - 0.5)
        h, w = out.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), 0.0, mag)
        out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if noise:
        grain = cache.noise(out.shape, rng) if cache is not None else rng.standard_normal(out.shape, dtype=np.float32)
        out += grain * np.float32(noise)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _defocus(
    img: np.ndarray,
    depth_um: np.ndarray,
    focus_um: float,
    blur_px_per_um: float,
    cache: LayerCache | None = None,
    layer: str = "",
) -> np.ndarray:
    """``img`` blurred per pixel by a Gaussian of sigma ``blur_px_per_um * |depth - focus|``
    (interpolated between the pre-set blur levels). Each level is weighed and added only within
    the box of pixels that use it (depth is smooth, so a level covers a band of the picture)."""
    # a float is a Scalar to OpenCV (valid at runtime), which its stubs do not allow
    sigma = cv2.absdiff(depth_um, float(focus_um)) * np.float32(blur_px_per_um)  # type: ignore[call-overload]
    steps = cv2.multiply(sigma, float(LEVEL_STEPS_PER_PX)) + np.float32(0.5)
    level = np.take(_LEVEL_TABLE, steps.astype(np.intp), mode="clip")
    out = np.zeros_like(img)
    lo, hi = int(np.floor(level.min())), int(np.ceil(level.max()))
    channels = img.shape[2]
    for k in range(lo, hi + 1):
        # tent weight: 1 at level k, falling to 0 at the neighbouring levels
        weight = cv2.max(1.0 - cv2.absdiff(level, float(k)), 0.0)  # type: ignore[call-overload]  # Scalar, as above
        x, y, w, h = cv2.boundingRect(cv2.compare(weight, 0.0, cv2.CMP_GT))  # type: ignore[call-overload]
        if not w or not h:
            continue
        box = (slice(y, y + h), slice(x, x + w))
        if cache is not None:  # live view: whole levels kept for the next frame
            blurred = cache.blurred(layer, img, k)[box]
        else:  # a capture: blur only the rows of the box (the same pixels, a fraction of the work)
            blurred = _blurred_rows(img, float(LEVELS[k]), y, y + h)[:, x : x + w]
        out[box] += cv2.multiply(blurred, cv2.merge([np.ascontiguousarray(weight[box])] * channels))
    return out


def _blurred_rows(img: np.ndarray, sigma: float, r0: int, r1: int) -> np.ndarray:
    """Rows ``r0:r1`` of ``_blurred(img, sigma)``, computed from those rows and a margin wider than
    the Gaussian kernel (OpenCV's reaches 4 sigma), so the result is the same pixel for pixel."""
    h = img.shape[0]
    if sigma <= 0:
        return img[r0:r1]
    if sigma >= 6:  # blurred at quarter size: whole blocks of 4 rows, margins in quarter-size rows
        if h % 4:
            return _blurred(img, sigma)[r0:r1]
        margin = int(np.ceil(sigma)) + 4
        a, b = max(0, r0 // 4 - margin), min(h // 4, -(-r1 // 4) + margin)
        return _blurred(img[4 * a : 4 * b], sigma)[r0 - 4 * a : r1 - 4 * a]
    margin = int(np.ceil(4 * sigma)) + 2
    a, b = max(0, r0 - margin), min(h, r1 + margin)
    return _blurred(img[a:b], sigma)[r0 - a : r1 - a]


def _blurred(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return img
    if sigma < 6:
        return cv2.GaussianBlur(img, (0, 0), sigma)
    # wide blurs: blur a quarter-size copy and scale back (same result to the eye, 10x faster)
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / 4.0)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
