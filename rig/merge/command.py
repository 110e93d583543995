"""The merge's command line, in one place: its options (``rig merge`` and ``python -m rig.merge``
parse the same ones), the argument list a parent builds for a child merge, and the line protocol
the child speaks on stdout with ``--progress lines``:

- ``PROGRESS <fraction 0..1> <what>``: how far it is, e.g. ``PROGRESS 0.2500 focus 3/12``;
- ``DONE <output path>``: the merged image is in place;
- ``ERROR <one-line message>``: the merge failed (also on stderr as ``rig: error: <message>``).

Importing this module imports neither numpy nor OpenCV (``rig --help`` stays fast).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from rig.errors import RigError

if TYPE_CHECKING:  # the pipeline (numpy, OpenCV) loads only to run a merge
    from rig.merge.pipeline import MergeOptions

HELP = """Merge a focus stack (a folder of slices, or a rig stack folder with stack.json) into one
all-in-focus image. Slices are used in natural file-name order (or manifest order) and may be
JPEG, PNG, 8/16-bit TIFF or camera raw. The output type follows OUT's extension."""

PROGRESS, DONE, ERROR = "PROGRESS", "DONE", "ERROR"
ERROR_PREFIX = "rig: error: "  # how a failure reads on stderr, as for every rig command


# ----------------------------------------------------------------------------- options
def add_arguments(p: argparse.ArgumentParser) -> None:
    """The merge's options (``rig merge`` and the child ``python -m rig.merge``)."""
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
    p.add_argument(
        "--preview",
        metavar="FILE.jpg",
        help="rewrite this small JPEG with the result so far after every slice (the growing result a phone "
        "shows during a merge while capturing)",
    )
    p.add_argument("--quality", type=int, default=95, metavar="Q", help="JPEG quality (default 95)")
    p.add_argument(
        "--crop",
        type=_crop,
        metavar="X,Y,W,H",
        help="crop the results (pixels; default: the crop stack.json asks for); the frames are never cropped",
    )
    p.add_argument(
        "--progress",
        choices=("auto", "bar", "lines", "none"),
        default="auto",
        help="progress display: bar on a terminal (auto), machine-readable lines on stdout, or none",
    )
    p.add_argument("--verbose", dest="merge_verbose", action="store_true", help="report the alignment")


def _crop(text: str) -> tuple[int, int, int, int]:
    parts = text.split(",")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give X,Y,WIDTH,HEIGHT in whole pixels") from None
    return (x, y, w, h)


def child_argv(
    input_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    depthmap: str | os.PathLike[str] | None = None,
    jpeg: str | os.PathLike[str] | None = None,
    align: bool = True,
    overwrite: bool = False,
    follow: bool = False,
    preview: str | os.PathLike[str] | None = None,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The command that runs one merge in a child process, speaking the line protocol."""
    cmd = [sys.executable, "-m", "rig.merge", str(input_dir), "-o", str(out_path), "--progress", "lines"]
    if depthmap is not None:
        cmd += ["--depthmap", str(depthmap)]
    if jpeg is not None:
        cmd += ["--jpeg", str(jpeg)]
    if not align:
        cmd.append("--no-align")
    if overwrite:
        cmd.append("--overwrite")
    if follow:
        cmd.append("--follow")
    if preview is not None:
        cmd += ["--preview", str(preview)]
    return cmd + list(extra_args)


def options_from_args(args: argparse.Namespace) -> MergeOptions:
    """The parsed options as a :class:`rig.merge.pipeline.MergeOptions`."""
    from rig.merge.pipeline import MergeOptions

    return MergeOptions(
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
        crop=args.crop,
        preview=Path(args.preview) if args.preview else None,
    )


# ----------------------------------------------------------------------------- line protocol
def progress_line(fraction: float, what: str) -> str:
    return f"{PROGRESS} {fraction:.4f} {what}\n"


def done_line(output: str | os.PathLike[str]) -> str:
    return f"{DONE} {output}\n"


def error_line(message: str) -> str:
    return f"{ERROR} {' '.join(str(message).split())}\n"


@dataclass(frozen=True)
class Line:
    """One parsed protocol line: ``kind`` is PROGRESS, DONE or ERROR."""

    kind: str
    fraction: float = 0.0
    text: str = ""


def parse_line(line: str) -> Line | None:
    """A line of the child's stdout, or None when it is not one of the protocol's."""
    kind, _, rest = line.rstrip("\n").partition(" ")
    if kind == PROGRESS:
        number, _, what = rest.partition(" ")
        try:
            return Line(PROGRESS, float(number), what.strip())
        except ValueError:
            return None
    if kind in (DONE, ERROR):
        return Line(kind, 1.0 if kind == DONE else 0.0, rest.strip())
    return None


# ----------------------------------------------------------------------------- running
class _Bar:
    def __init__(self, stream: IO[str]) -> None:
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
    sys.stdout.write(progress_line(frac, msg))
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    """Run the merge the parsed options describe (``rig merge``'s ``func``)."""
    from rig.merge.pipeline import merge

    if args.merge_verbose:
        logging.getLogger("rig.merge").setLevel(logging.INFO)
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    mode = args.progress
    if mode == "auto":
        mode = "bar" if sys.stderr.isatty() else "none"
    displays: dict[str, Callable[[float, str], None] | None] = {"bar": _Bar(sys.stderr), "lines": _lines, "none": None}
    progress = displays[mode]
    try:
        res = merge(Path(args.input), Path(args.output), options_from_args(args), progress)
    except RigError as exc:
        if mode == "lines":
            sys.stdout.write(error_line(str(exc)))
            sys.stdout.flush()
        raise
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
        sys.stdout.write(done_line(res.output))
        sys.stdout.flush()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m rig.merge INPUT -o OUT ...``: the child process (``merge`` as a first word is accepted)."""
    parser = argparse.ArgumentParser(prog="python -m rig.merge", description=HELP)
    parser.add_argument("-v", "--log-verbose", action="count", default=0, help="more log output")
    add_arguments(parser)
    args_in = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(args_in[1:] if args_in[:1] == ["merge"] else args_in)
    level = logging.WARNING - 10 * min(args.log_verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except RigError as exc:
        print(f"{ERROR_PREFIX}{exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rig: interrupted", file=sys.stderr)
        return 130
