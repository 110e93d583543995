"""``rig shoot``: take one frame and save it (a quick camera test)."""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

from rig.cli.options import add_config_option, load_machine_config
from rig.config import MachineConfig
from rig.errors import StorageError, UsageError
from rig.paths import NAME_MAX

SAME_FORMAT = {"jpeg": "jpg", "tif": "tiff"}
TEMP_EXTRA = len(".") + len(".4194304.tmp")  # write_new's temporary name around the file name
LONGEST_EXT = 5  # ".tiff", ".jpeg": what may be added when --out has no extension


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "shoot",
        help="take one frame",
        description=(
            "Take one frame with the configured camera and save it to --out (default: shot-DATE-TIME.EXT in "
            "the current folder). The extension is the camera's format: it is added if --out has none, and "
            "an --out with another extension is refused (a JPEG is never saved as .png). Never overwrites a "
            "file. With the shutter-release backend the frame stays on the camera's card."
        ),
    )
    add_config_option(p)
    p.add_argument("--out", metavar="FILE", help="where to save the frame (the camera's extension is added if missing)")
    p.set_defaults(func=run)


def _format(ext: str) -> str:
    ext = ext.lower().lstrip(".")
    return SAME_FORMAT.get(ext, ext)


def configured_format(config: MachineConfig) -> str | None:
    """The file format the configured camera produces, when the config decides it."""
    if config.camera.backend == "sim":
        return config.camera.sim.format
    if config.camera.backend == "picam":
        return config.camera.picam.format
    return None  # gphoto: the camera's own setting; shutter: no file at all


def check_name(path: Path, *, adds_ext: int = 0) -> None:
    """One-line errors for names the filesystem cannot take (instead of an OSError later)."""
    for part in path.parts:
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise UsageError(f"--out: the name {part[:40]!r}... is too long (at most {NAME_MAX} bytes per name)")
    name = len(path.name.encode("utf-8", "surrogateescape")) + adds_ext
    if name + TEMP_EXTRA > NAME_MAX:
        limit = NAME_MAX - TEMP_EXTRA
        raise UsageError(
            f"--out: the file name {path.name[:40]!r}... is too long (at most {limit} bytes with the extension)"
        )
    if len(os.fsencode(path)) >= 4096:
        raise UsageError("--out: the path is too long")


def check_ext(path: Path, fmt: str) -> None:
    """Refuse an extension that is not the camera's format (a JPEG is never saved as .png)."""
    if path.suffix and _format(path.suffix) != _format(fmt):
        kind = "JPEG" if _format(fmt) == "jpg" else fmt.upper()
        raise UsageError(
            f"--out {path}: this camera saves {kind} frames (.{fmt}), not {path.suffix}; "
            f"name it {path.stem}.{fmt} or leave out the extension"
        )


def _exists(path: Path) -> bool:
    try:
        return os.path.lexists(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--out {path}: {getattr(exc, 'strerror', None) or exc}") from None


def run(args: argparse.Namespace) -> int:
    from rig.machine import Machine
    from rig.paths import write_new

    config = load_machine_config(args)
    if args.out is not None:
        if not args.out or "\x00" in args.out:
            raise UsageError("--out: give a file name")
        out = Path(args.out)
        check_name(out, adds_ext=0 if out.suffix else LONGEST_EXT)
        fmt = configured_format(config)
        if fmt:
            check_ext(out, fmt)
        if _exists(out):
            raise UsageError(f"{args.out} already exists; refusing to overwrite it")
    with Machine.build(config) as machine:
        frame = machine.camera.capture()
        if frame is None:
            print("shot taken: the frame is on the camera's card")
            return 0
        path = Path(args.out) if args.out else Path(time.strftime("shot-%Y%m%d-%H%M%S"))
        check_ext(path, frame.ext)
        if not path.suffix:
            path = path.with_name(f"{path.name}.{frame.ext}")
        check_name(path)
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
