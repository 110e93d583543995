#!/usr/bin/env python3
"""What the per-frame checks (issue 14) add to the time per slice, on the simulated rig.

    .venv/bin/python bench/check_overhead.py [--size 1600x1200] [--slices 20] [--repeat 3]
    .venv/bin/python bench/check_overhead.py --cost [--repeat 9]

Runs the same stack with ``check_frames = false`` and ``true`` (settle 0, instant moves, no
faults), alternating, and prints the median time per slice of each and the overhead. The target
(issue 14): at most 10 % at 1600x1200. The sim camera's rendering stands in for the camera's
exposure and download, which on a real body takes far longer, so the real overhead is smaller.

``--cost``: what one check costs at 24 MP (issue 14: at most 50 ms on a Pi 5). A 6000x4000 frame
made from a real slice (``/work/shared/data/stacks``, upscaled, with sensor noise; synthetic
texture without it) is encoded as a full-quality camera JPEG (q92) without a preview, the same
with an MPF preview as cameras embed (1620x1080 as Sony and recent Nikon bodies, 640x427 as
older Nikons: what the checks then measure, ``rig.jpeg_preview``), and as the small JPEG a camera
shooting RAW + S JPEG delivers (2000x1333: ``rig.checked_capture.checked_file``); for each, the
median CPU time of the calling thread and wall time of the check (``measure_image``) and its
stages (finding a preview, decoding, measuring). CPU time is the figure to compare on a shared
machine: wall time there includes waiting for a core. Then whether a shaken and a dark shot are
caught alike when judged on the frame and on its preview.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rig.config import CameraConfig, MachineConfig, OutputConfig, Profile, RailConfig, SimCameraConfig, SimRailConfig
from rig.machine import Machine


def per_slice_s(machine: Machine, slices: int, checks: bool) -> float:
    profile = Profile(slices=slices, step_um=75, settle_s=0, check_frames=checks, return_to_start=True)
    t0 = time.perf_counter()
    machine.sequencer.start(profile, "bench")
    status = machine.sequencer.wait(600)
    if status.outcome is None or status.outcome.value != "completed":
        raise SystemExit(f"bench run ended {status.state.value}: {status.error}")
    return (time.perf_counter() - t0) / slices


SLICES = Path("/work/shared/data/stacks/pcb_switch/slices")


def camera_jpeg(width: int, height: int, quality: int = 92) -> bytes:
    """A camera-like JPEG: a real slice (or synthetic texture) at ``width`` x ``height`` with noise."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(1)
    source = next(iter(sorted(SLICES.glob("*.*"))), None) if SLICES.is_dir() else None
    src = cv2.imread(str(source)) if source else None
    if src is None:
        src = cv2.GaussianBlur(rng.integers(0, 255, (750, 1000, 3), dtype=np.uint8), (0, 0), 1.5)
    img = cv2.resize(src, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    img += rng.normal(0.0, 5.0, img.shape).astype(np.float32)  # sensor noise: what makes camera JPEGs big
    ok, buf = cv2.imencode(".jpg", np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(buf.tobytes())


def cost(repeat: int) -> None:
    import cv2
    import numpy as np

    from rig.camera.sim import motion_blurred
    from rig.coverage import CoverageMap
    from rig.frame_checks import decode_small, judge, measure, measure_image
    from rig.jpeg_preview import preview_for_checks, with_mpf_preview
    from rig.live_composite import LiveComposite

    def timed(fn: object) -> tuple[float, float]:
        cpu, wall = [], []
        for _ in range(repeat):
            c0, w0 = time.thread_time(), time.perf_counter()
            fn()  # type: ignore[operator]
            cpu.append(time.thread_time() - c0)
            wall.append(time.perf_counter() - w0)
        return statistics.median(cpu) * 1000, statistics.median(wall) * 1000

    def with_preview(data: bytes, width: int) -> bytes:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        small = cv2.resize(img, (width, img.shape[0] * width // img.shape[1]), interpolation=cv2.INTER_AREA)
        return with_mpf_preview(data, bytes(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 90])[1]))

    full = camera_jpeg(6000, 4000)
    files = {
        "24 MP, full quality, no preview": full,
        "24 MP + MPF preview 1620x1080": with_preview(full, 1620),
        "24 MP + MPF preview 640x427": with_preview(full, 640),
        "RAW + S JPEG (2.7 MP)": camera_jpeg(2000, 1333),
    }

    def whole(data: bytes) -> None:
        """All a good shot costs the checks: measure, judge, coverage map and growing result."""
        m, small = measure_image(data)
        judge(m, reference, brightness_tolerance=0.15, sharpness_tolerance=0.6)
        coverage.add(1, 0.0, m)
        composite.add(small)
        coverage.png()
        composite.jpeg()

    print(
        "| JPEG | size | check, CPU | check, wall | of it: finding a preview | decode | measuring (the rest) "
        "| with judging, coverage map, growing result: CPU |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, data in files.items():
        reference, coverage, composite = measure(data), CoverageMap(), LiveComposite()
        whole_cpu, _ = timed(lambda d=data: whole(d))
        check_cpu, check_wall = timed(lambda d=data: measure_image(d))
        find_cpu, _ = timed(lambda d=data: preview_for_checks(d, 640))
        decode_cpu, _ = timed(lambda d=data: decode_small(d))
        measure_cpu = check_cpu - decode_cpu
        print(
            f"| {label} | {len(data) / 1e6:.1f} MB | {check_cpu:.0f} ms | {check_wall:.0f} ms "
            f"| {find_cpu:.2f} ms | {decode_cpu - find_cpu:.0f} ms | {measure_cpu:.0f} ms | {whole_cpu:.0f} ms |"
        )
    # is a verdict on the preview the verdict on the frame? A shaken and a two-stops-dark shot of
    # the next slice, against this one, judged on each
    img = cv2.imdecode(np.frombuffer(full, np.uint8), cv2.IMREAD_COLOR)
    nxt = np.roll(img, 6, axis=1)
    bad = {"shaken": motion_blurred(nxt, None), "dark": (nxt * 0.25 + 0.5).astype(np.uint8), "good": nxt}
    print()
    print("| next shot | judged on the frame (1/8 decode) | judged on a 1620x1080 preview |")
    print("|---|---|---|")
    for label, shot in bad.items():
        enc = bytes(cv2.imencode(".jpg", shot, [cv2.IMWRITE_JPEG_QUALITY, 92])[1])
        cells = []
        for make in (lambda d: d, lambda d: with_preview(d, 1620)):
            v = judge(measure(make(enc)), measure(make(full)), brightness_tolerance=0.15, sharpness_tolerance=0.6)
            words = "; ".join(r.split(":")[0] for r in v.reasons) or "good"
            cells.append(f"{words} (brightness {v.brightness_ratio:.2f}, sharpness {v.sharpness_ratio:.2f})")
        print(f"| {label} | {cells[0]} | {cells[1]} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1600x1200")
    ap.add_argument("--slices", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cost", action="store_true", help="time one check at 24 MP instead (see above)")
    args = ap.parse_args()
    if args.cost:
        cost(max(args.repeat, 5))
        return 0
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as out:
        cfg = MachineConfig(
            rail=RailConfig(sim=SimRailConfig(start_um=200)),
            camera=CameraConfig(sim=SimCameraConfig(width=width, height=height)),
            output=OutputConfig(root=out, min_free_mb=0),
        )
        with Machine.build(cfg) as machine:
            machine.camera.capture()  # build the scene once, outside the timings
            times: dict[bool, list[float]] = {False: [], True: []}
            for _ in range(args.repeat):
                for checks in (False, True):
                    times[checks].append(per_slice_s(machine, args.slices, checks))
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print("| frame size | slices | per slice, checks off | per slice, checks on | overhead |")
    print("|---|---|---|---|---|")
    overhead = (on / off - 1) * 100
    print(f"| {width}x{height} | {args.slices} | {off * 1000:.0f} ms | {on * 1000:.0f} ms | {overhead:+.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
