"""The merge, end to end: slices in, merged image (and depth map) out, in bounded memory.

Pass 1 streams the slices once as grey images: align each to its neighbour, compute its focus
energy in its own frame, warp the energy into the reference frame and fold it into the depth
accumulator. The depth map is then regularised. Pass 2 streams the slices again in colour and
adds each one only where the depth map gives it weight; pass 3 (:mod:`rig.merge.refine`) adds
them once more where they agree with that merge within the noise. At no time are more than a
few slices in memory (two being processed, one or two being decoded ahead, and in pass 2 the
noise model's pair), whatever the stack size.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from rig.errors import MergeError
from rig.merge import archive
from rig.merge import io as mio
from rig.merge.align import ChainAligner, Transform, analysis_image, analysis_scale, fit_breathing, to_analysis
from rig.merge.blend import Blender, quantise
from rig.merge.boxes import SliceBoxes
from rig.merge.exif import orientation_only
from rig.merge.focus import DepthAccumulator, depth_map, peak_confidence, submit_energies
from rig.merge.glow import GlowRemover
from rig.merge.inputs import RAW_EXT, find_slices, focus_ranks, follow_slices
from rig.merge.memory import check_memory
from rig.merge.preview import GrowingPreview
from rig.merge.refine import AgreementAverager, SlicePair, noise_model
from rig.merge.workers import Backlog, InOrder, Workers

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
COARSE_FOCUS = 4.8  # coarse focus window relative to the fine one


@dataclass
class MergeOptions:
    """Everything that shapes a merge (the CLI and :func:`rig.merge.child.start_merge` fill it)."""

    depthmap: Path | None = None
    jpeg: Path | None = None
    align: bool = True
    overwrite: bool = False
    bits: int | None = None  # 8 or 16; None = 16 when the inputs are 16-bit or raw (never for JPEG)
    depth_bits: int = 16
    far_first: bool = False  # slices ordered far to near (depth map: near = dark)
    reference: int | None = None  # slice whose frame the output uses (default: the middle one)
    focus_sigma: float | None = None  # px; default scales with the image size
    quality: int = 95
    follow: bool = False  # merge a rig stack while it is captured (slice 0 is the reference)
    follow_timeout: float = 600.0  # s without a new frame before giving up (follow mode)
    kind: str | None = None  # merge only files of this type, e.g. "nef" (RAW+JPEG shots)
    crop: tuple[int, int, int, int] | None = None  # x, y, w, h of the results; default: stack.json's crop
    refine: bool = True  # pass 3: average the slices that agree with the merge within the noise
    preview: Path | None = None  # rewrite this small JPEG with the result so far after every slice (pass 1)


@dataclass
class MergeResult:
    output: Path
    slices: int
    width: int
    height: int
    bits: int
    seconds: float
    transforms: list[Transform] = field(default_factory=list)
    used_slices: int = 0


def _fold(
    acc: DepthAccumulator,
    k: int,
    energy: np.ndarray,
    affine: np.ndarray | None,
    order: InOrder,
    after: list[Future[None]],
) -> tuple[np.ndarray, list[Future[None]]]:
    """Warp a focus energy map from its slice's frame into the reference frame (0 outside; ``affine``
    None: it is in that frame already) and add it to ``acc``, in row strips queued on ``order``'s
    workers once the parts ``after`` (those that compute ``energy``) are done; each strip of ``acc``
    gets the slices in turn. Returns the warped energy (filled when the parts are done) and the parts."""
    h, w = energy.shape
    out = energy if affine is None else np.empty_like(energy)

    def strip(rows: tuple[int, int]) -> None:
        y0, y1 = rows
        if affine is not None:
            m = np.array(affine, np.float64)
            m[:, 2] += m[:, 1] * y0  # dst row y -> row y0 + y of the reference frame
            cv2.warpAffine(
                energy,
                m,
                (w, y1 - y0),
                dst=out[y0:y1],
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_CONSTANT,
            )
        acc.add_rows(k, out[y0:y1], y0)

    parts = [order.submit(partial(strip, rows), slice(*rows), slice(0, 1), after) for rows in order.workers.strips(h)]
    acc.count += 1
    return out, parts


def _check_size(path: Path, img: np.ndarray, shape: tuple[int, int], first: Path) -> None:
    if img.shape[:2] != shape:
        raise MergeError(
            f"{path}: slice is {img.shape[1]}x{img.shape[0]} but {first.name} is {shape[1]}x{shape[0]}; "
            "all slices must have the same size"
        )


def merge(
    input_dir: str | Path,
    output: str | Path,
    options: MergeOptions | None = None,
    progress: Progress | None = None,
) -> MergeResult:
    """Merge the focus stack in ``input_dir`` into ``output``. Raises :class:`MergeError`."""
    with Workers() as workers:  # the per-pixel work of each slice is spread over the cores
        return _merge(input_dir, output, options, progress, workers)


def _merge(
    input_dir: str | Path,
    output: str | Path,
    options: MergeOptions | None,
    progress: Progress | None,
    workers: Workers,
) -> MergeResult:
    opt = options or MergeOptions()
    out = Path(output)
    t0 = time.monotonic()
    report = progress or (lambda f, msg: None)
    mio.check_output(out, opt.overwrite)
    for extra in (opt.depthmap, opt.jpeg):
        if extra is not None:
            mio.check_output(Path(extra), opt.overwrite)
    if opt.depthmap is not None and Path(opt.depthmap).suffix.lower() != ".png":
        raise MergeError(f"{opt.depthmap}: the depth map is written as PNG (use a .png name)")
    if opt.follow:
        files: list[Path] = []
        ref = 0

        def arriving() -> Iterator[tuple[int, Path]]:
            for k, path in enumerate(follow_slices(input_dir, idle_timeout=opt.follow_timeout, kind=opt.kind)):
                files.append(path)
                yield k, path

        items: Iterable[tuple[int, Path]] = arriving()
        n_max = 65535
    else:
        files = list(find_slices(input_dir, opt.kind).files)
        n_max = len(files)
        ref = n_max // 2 if opt.reference is None else opt.reference
        if not 0 <= ref < n_max:
            raise MergeError(f"{input_dir}: reference slice {ref} out of range 0..{n_max - 1}")
        # pass 1 order: reference, then outwards (each slice registered to its neighbour)
        items = [(k, files[k]) for k in [ref, *range(ref + 1, n_max), *range(ref - 1, -1, -1)]]
    crop = opt.crop or archive.stack_crop(Path(input_dir))
    report(0.0, "waiting for slices" if opt.follow else f"{n_max} slices")
    state: dict[str, Any] = {}
    aligner = ChainAligner(1.0, key_every=1 if opt.follow else max(1, round((n_max - 1) / 19)))
    transforms: dict[int, Transform] = {}

    def setup(gray: np.ndarray, path: Path) -> None:
        h, w = gray.shape[:2]
        raw = path.suffix.lower() in RAW_EXT
        wide = gray.dtype == np.uint16 or (opt.bits or 8) == 16
        check_memory(Path(input_dir), w, h, deep=wide, raw=raw, threads=workers.threads)
        archive.check_crop(crop, w, h)  # before any work: nothing is written for a bad crop
        state.update(shape=(h, w), first=path, scale=analysis_scale(w, h))
        aligner.scale = state["scale"]

    def prepare(k: int, gray: np.ndarray) -> None:  # worker thread, slices in chain order
        if not state:
            setup(gray, files[k])
        _check_size(files[k], gray, state["shape"], state["first"])
        transforms[k] = Transform.identity()
        if opt.align:
            transforms[k] = aligner.add(analysis_image(gray, state["scale"]), restart=(k == ref - 1))
            log.info("slice %d %s: %s", k, files[k].name, transforms[k].describe())

    deep = False
    span = 0.85 if opt.refine else 1.0  # share of the progress before pass 3
    acc = acc_c = None
    preview: GrowingPreview | None = None
    backlog = Backlog(1)  # a slice's parts start while the previous one's finish
    for step, (k, gray, _) in enumerate(mio.prefetch(items, True, prepare, 1 if opt.follow else 2, workers)):
        h, w = state["shape"]
        if acc is None or acc_c is None:  # both are made at the first slice
            sigma = opt.focus_sigma or max(1.0, 1.25 * max(w, h) / 1600.0)
            coarse_sigma = max(2.0, COARSE_FOCUS * 1.25 * max(w, h) / 1600.0)
            hh, hw = max(1, (h + 1) // 2), max(1, (w + 1) // 2)
            acc, acc_c = DepthAccumulator(h, w, n_max), DepthAccumulator(hh, hw, n_max)
            order, order_c = InOrder(workers, (h, 1)), InOrder(workers, (hh, 1))  # per row: the slices in turn
            preview = GrowingPreview(Path(opt.preview), (w, h)) if opt.preview is not None else None
        deep = deep or gray.dtype == np.uint16
        tr = transforms[k]
        energy, coarse, measured = submit_energies(gray, sigma, coarse_sigma, tr.gain * tr.gain, workers)
        del gray
        aligned = k != ref and opt.align
        energy, folded = _fold(acc, k, energy, tr.affine if aligned else None, order, measured)
        coarse_affine = to_analysis(tr.matrix, hw / w)[:2] if aligned else None
        folded += _fold(acc_c, k, coarse, coarse_affine, order_c, measured)[1]
        backlog.add(folded)
        if preview is not None:
            backlog.drain()  # the preview needs this slice's warped energy
            preview.add(files[k], energy, tr.affine if aligned else None, tr.gain)
        del energy, coarse
        n_known = max(len(files), 1)
        report(min(0.5, (step + 1) / (2 * n_known + 1)) * span, f"focus {step + 1}/{n_known}")
    backlog.drain()
    n = len(files)
    if n < 2 or acc is None or acc_c is None:
        raise MergeError(f"{input_dir}: {n} usable slice(s); a merge needs at least 2")
    acc.n = acc_c.n = n
    total_steps = 2 * n + 1
    ranks = focus_ranks(input_dir, files) if opt.follow else None
    if ranks is not None:  # a gap fill arrived last: the slices in depth order from here on
        files, ref = _reorder(ranks, files, transforms, (acc, acc_c)), ranks[ref]

    med = max(5, int(round(5 * max(w, h) / 1600)) | 1)
    deep = deep or any(f.suffix.lower() in RAW_EXT for f in files)
    in_max = 65535.0 if deep else 255.0
    noise_sigma = max(1.5, 2.0 * max(w, h) / 1600.0)  # px: pass 3's agreement window
    depth = depth_map(acc, acc_c, med, int(2 * coarse_sigma) + 2, workers)
    confidence = peak_confidence(acc_c)  # where the depth is measured, not filled in (the glow pass)
    del acc, acc_c
    if opt.align:  # pass 2 uses the breathing-constrained transforms
        fitted = fit_breathing(transforms, ref, w, h, slice_centroids(depth, n))
        for k in sorted(fitted):
            if fitted[k] is not transforms[k]:
                log.info("slice %d %s (breathing fit): %s", k, files[k].name, fitted[k].describe())
        transforms.update(fitted)
    soften = max(0.7, 1.6 * max(w, h) / 1600.0)  # px: slice changes blend over ~2 soften
    tiles = SliceBoxes(depth, n, 1.0, pad=int(np.ceil(3 * soften)) + 1)
    blender = Blender(h, w, workers=workers)
    used = [k for k in range(n) if tiles.any(k)]
    glow = GlowRemover(depth, confidence, n, in_max, near_first=not opt.far_first)
    del confidence
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="noise") as beside:
        # pass 3's noise model needs only a few slices and their transforms: it runs beside pass 2
        noise = beside.submit(_noise, files, transforms, deep, in_max, noise_sigma, workers) if opt.refine else None
        for step, (k, img, _) in enumerate(mio.prefetch([(k, files[k]) for k in used], False, None, 2, workers)):
            _check_size(files[k], img, (h, w), state["first"])
            # an 8-bit slice in a 16-bit stack is brought to the 16-bit scale
            gain = transforms[k].gain * (257.0 if deep and img.dtype == np.uint8 else 1.0)
            boxes = tiles.boxes(k, max_size=256)
            blender.add_slice(img, transforms[k].affine, gain, boxes, depth, k, soften, tiles.block)
            glow.add(k, img, transforms[k].matrix, gain)
            del img
            report((n + step + 1) / total_steps * span, f"blend {step + 1}/{len(used)}")
        levels = noise.result() if noise is not None else None

    bits = opt.bits or (16 if deep else 8)
    if out.suffix.lower() in mio.JPEG_EXT:
        bits = 8
    dtype = np.uint16 if bits == 16 else np.uint8
    if levels is not None:
        mean = _refine(
            blender,
            files,
            transforms,
            (deep, in_max),
            levels,
            noise_sigma,
            state["first"],
            report,
            depth,
            workers,
        )
    else:
        mean = blender.normalised()
    del blender
    glow.apply(mean, workers, depth, soften)
    del glow
    merged = quantise(mean, dtype, in_max, workers)
    del mean
    meta = mio.read_metadata(files[ref])
    settings = archive.settings_for(Path(input_dir), files, files[ref])
    merged = archive.apply_crop(merged, crop)
    archive.write_result(out, merged, meta, opt.overwrite, opt.quality, settings, workers.threads)
    if opt.jpeg is not None:
        small = archive.shrink_to(merged, settings.jpeg_long_edge_px)
        archive.write_result(Path(opt.jpeg), small, meta, opt.overwrite, settings.jpeg_quality or opt.quality, settings)
    del merged
    if opt.depthmap is not None:
        write_depthmap(Path(opt.depthmap), archive.apply_crop(depth, crop), n, opt, meta.orientation)
    seconds = time.monotonic() - t0
    report(1.0, "done")
    log.info("merged %d slices (%d used) %dx%d in %.2fs -> %s", n, len(used), w, h, seconds, out)
    return MergeResult(out, n, w, h, bits, seconds, [transforms[k] for k in range(n)], len(used))


def _reorder(
    ranks: list[int], files: list[Path], transforms: dict[int, Transform], accs: Iterable[DepthAccumulator]
) -> list[Path]:
    """Pass 1's slice ``k`` becomes slice ``ranks[k]``: the transforms are re-keyed and the depth
    states' best-slice indices renumbered in place; returns the files in the new order."""
    for acc in accs:
        acc.index = np.asarray(ranks, acc.index.dtype)[acc.index]
    moved = {ranks[k]: tr for k, tr in transforms.items()}
    transforms.clear()
    transforms.update(moved)
    ordered = list(files)
    for k, path in enumerate(files):
        ordered[ranks[k]] = path
    return ordered


def _noise(
    files: list[Path], transforms: dict[int, Transform], deep: bool, in_max: float, sigma: float, workers: Workers
) -> tuple[np.ndarray, np.ndarray]:
    """Pass 3's noise model (:func:`rig.merge.refine.noise_model`) from pairs of neighbouring slices
    at both ends and in the middle of the stack."""
    n = len(files)

    def pairs() -> Iterator[SlicePair]:
        firsts = sorted({0, max(0, n // 2 - 1), max(0, n - 2)})
        decoded = mio.prefetch([(j, files[j]) for k in firsts for j in (k, k + 1)], False, workers=workers)  # one ahead
        for (ka, a, _), (kb, b, _) in zip(decoded, decoded, strict=True):
            tr_a, tr_b = transforms[ka], transforms[kb]
            yield a, tr_a.affine, _gain(tr_a, deep, a), b, tr_b.affine, _gain(tr_b, deep, b)

    return noise_model(pairs(), sigma, in_max, workers)


def _refine(
    blender: Blender,
    files: list[Path],
    transforms: dict[int, Transform],
    scale: tuple[bool, float],
    noise: tuple[np.ndarray, np.ndarray],
    sigma: float,
    first: Path,
    report: Progress,
    depth: np.ndarray,
    workers: Workers,
) -> np.ndarray:
    """Pass 3 (:mod:`rig.merge.refine`): every slice again, added where it agrees with the merge; the
    weighted mean (float, input scale). ``scale``: (deep, in_max) of the stack; ``noise``: :func:`_noise`."""
    deep = scale[0]
    n = len(files)
    avg = AgreementAverager(blender.normalised(), noise, sigma, depth, n, workers)
    del blender.acc, blender.wsum  # the guide lives on in the averager only
    near = [k for k in range(n) if avg.boxes.any(k)]
    for step, (k, img, _) in enumerate(mio.prefetch([(k, files[k]) for k in near], False, workers=workers)):
        _check_size(files[k], img, depth.shape[:2], first)
        avg.add(k, img, transforms[k].affine, _gain(transforms[k], deep, img))
        del img
        report(0.85 + 0.15 * (step + 1) / (len(near) + 1), f"refine {step + 1}/{len(near)}")
    return avg.normalised()


def _gain(tr: Transform, deep: bool, img: np.ndarray) -> float:
    """Exposure gain of a slice; an 8-bit slice in a 16-bit stack is brought to the 16-bit scale."""
    return tr.gain * (257.0 if deep and img.dtype == np.uint8 else 1.0)


def slice_centroids(depth: np.ndarray, n: int, step: int = 8) -> dict[int, tuple[float, float]]:
    """Per slice, the centroid (reference-frame px) of the area where the depth map uses it."""
    d = depth[::step, ::step]
    ys, xs = np.mgrid[0 : depth.shape[0] : step, 0 : depth.shape[1] : step]
    out = {}
    for k in range(n):
        wk = np.maximum(0.0, 1.0 - np.abs(d - k))
        total = float(wk.sum())
        if total > 4.0:
            out[k] = (float((wk * xs).sum() / total), float((wk * ys).sum() / total))
    return out


def write_depthmap(path: Path, depth: np.ndarray, n: int, opt: MergeOptions, orientation: int = 1) -> None:
    """Depth as an 8/16-bit PNG, near = dark (slice 0 is near unless ``far_first``); it carries
    the slices' EXIF orientation, so viewers turn it like the merged image."""
    d = depth / max(n - 1, 1)
    if opt.far_first:
        d = 1.0 - d
    top = 65535.0 if opt.depth_bits == 16 else 255.0
    img = np.clip(d * top + 0.5, 0, top).astype(np.uint16 if opt.depth_bits == 16 else np.uint8)
    mio.write_image(path, img, orientation_only(orientation), opt.overwrite)
