"""``rig shoot``: take one frame and save it (a quick camera test)."""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

from rig.cli.options import add_config_option, load_machine_config
from rig.errors import StorageError, UsageError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shoot",
        help="take one frame",
        description=(
            "Take one frame with the configured camera and save it to --out (default: shot-DATE-TIME.EXT in "
            "the current folder). Never overwrites a file. With the shutter-release backend the frame stays "
            "on the camera's card."
        ),
    )
    add_config_option(p)
    p.add_argument("--out", metavar="FILE", help="where to save the frame (the extension is added if missing)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.machine import Machine
    from rig.paths import write_new

    config = load_machine_config(args)
    if args.out and Path(args.out).exists():
        raise UsageError(f"{args.out} already exists; refusing to overwrite it")
    with Machine.build(config) as machine:
        frame = machine.camera.capture()
        if frame is None:
            print("shot taken: the frame is on the camera's card")
            return 0
        path = Path(args.out) if args.out else Path(time.strftime("shot-%Y%m%d-%H%M%S"))
        if not path.suffix:
            path = path.with_name(f"{path.name}.{frame.ext}")
        if not path.parent.is_dir():
            raise UsageError(f"{path.parent} is not a folder")
        try:
            write_new(path, frame.data)
        except FileExistsError:
            raise UsageError(f"{path} already exists; refusing to overwrite it") from None
        except StorageError:
            raise
        machine.camera.frame_saved(frame)
        digest = hashlib.sha256(frame.data).hexdigest()[:16]
        print(f"saved {path} ({len(frame.data)} bytes, sha256 {digest}...)")
    return 0
