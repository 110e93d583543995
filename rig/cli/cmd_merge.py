"""``rig merge``: merge a focus stack into one all-in-focus image."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = """Merge a focus stack (a folder of slices, or a rig stack folder with stack.json) into one
all-in-focus image. Slices are used in natural file-name order (or manifest order) and may be
JPEG, PNG, 8/16-bit TIFF or camera raw. The output type follows OUT's extension."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("merge", help="merge a focus stack into one image", description=HELP)
    p.add_argument("input", metavar="INPUT", help="folder of slices or stack folder with stack.json")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output .tif/.tiff/.png/.jpg")
    p.add_argument("--depthmap", metavar="DEPTH.png", help="also write the depth map (near = dark)")
    p.add_argument("--jpeg", metavar="OUT.jpg", help="also write an 8-bit JPEG copy")
    p.add_argument("--no-align", dest="align", action="store_false", help="slices are already aligned")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--bits", type=int, choices=(8, 16), help="output bit depth (default: 16 for 16-bit/raw)")
    p.add_argument("--depth-bits", type=int, choices=(8, 16), default=16, help="depth map bit depth")
    p.add_argument("--far-first", action="store_true", help="slices run far to near (for the depth map)")
    p.add_argument("--reference", type=int, metavar="K", help="slice index (0-based) whose frame to use")
    p.add_argument(
        "--type",
        dest="kind",
        metavar="EXT",
        help="merge only the files of this type (e.g. nef or jpg) when shots were saved as RAW+JPEG",
    )
    p.add_argument(
        "--follow",
        action="store_true",
        help="merge a rig stack folder while it is captured (waits for stack.json to list each frame "
        "and for a final outcome; slice 0 is the reference)",
    )
    p.add_argument("--follow-timeout", type=float, default=600.0, metavar="S", help="give up after S s without a frame")
    p.add_argument("--quality", type=int, default=95, metavar="Q", help="JPEG quality (default 95)")
    p.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "none"),
        default="auto",
        help="progress display: bar on a terminal (auto), machine-readable lines on stdout, or none",
    )
    p.add_argument("--verbose", dest="merge_verbose", action="store_true", help="report the alignment")
    p.set_defaults(func=run)


class _Bar:
    def __init__(self, stream) -> None:
        self.stream = stream
        self.t0 = time.monotonic()
        self.last = -1

    def __call__(self, frac: float, msg: str) -> None:
        pct = int(frac * 100)
        if pct == self.last and frac < 1.0:
            return
        self.last = pct
        n = int(frac * 30)
        bar = "#" * n + "-" * (30 - n)
        el = time.monotonic() - self.t0
        self.stream.write(f"\r[{bar}] {pct:3d}% {el:5.1f}s {msg:<16}")
        if frac >= 1.0:
            self.stream.write("\n")
        self.stream.flush()


def _lines(frac: float, msg: str) -> None:
    sys.stdout.write(f"PROGRESS {frac:.4f} {msg}\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    import logging

    from rig.merge.pipeline import MergeOptions, merge

    if args.merge_verbose:
        logging.getLogger("rig.merge").setLevel(logging.INFO)
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    mode = args.progress
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "none"
    progress = {"bar": _Bar(sys.stderr), "lines": _lines, "none": None}[mode]
    opts = MergeOptions(
        depthmap=Path(args.depthmap) if args.depthmap else None,
        jpeg=Path(args.jpeg) if args.jpeg else None,
        align=args.align,
        overwrite=args.overwrite,
        bits=args.bits,
        depth_bits=args.depth_bits,
        far_first=args.far_first,
        reference=args.reference,
        quality=args.quality,
        follow=args.follow,
        follow_timeout=args.follow_timeout,
        kind=args.kind,
    )
    res = merge(Path(args.input), Path(args.output), opts, progress)
    if args.merge_verbose:
        for k, tr in enumerate(res.transforms):
            print(f"slice {k}: {tr.describe()}", file=sys.stderr)
    if mode != "lines":
        print(
            f"rig: merged {res.slices} slices ({res.width}x{res.height}, {res.bits}-bit) in "
            f"{res.seconds:.1f}s -> {res.output}",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(f"DONE {res.output}\n")
        sys.stdout.flush()
    return 0
