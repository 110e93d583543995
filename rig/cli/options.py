"""Options shared by commands: --config, and the profile fields (stack, profile save);
``wait_for_move`` / ``faults_reported_here`` (jog, home); ``say`` (progress on stderr)."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rig.config import FAILED_CHECK_ACTIONS, RUN_MODES, MachineConfig, Profile, load_config
from rig.config.schema import check_value
from rig.errors import MotionError

if TYPE_CHECKING:
    from rig.sequencer import Sequencer

# (flag, profile field, type, help)
PROFILE_OPTIONS: tuple[tuple[str, str, Any, str], ...] = (
    ("--slices", "slices", int, "number of frames (2-999)"),
    ("--step-um", "step_um", float, "distance between frames in um (drive steps on the lens rail)"),
    ("--start-um", "start_um", float, "first position (default: where the rail is)"),
    ("--end-um", "end_um", float, "last position; with --start-um, --slices or --step-um follows"),
    ("--settle-s", "settle_s", "settle", "wait after each move, seconds, or 'auto' (watch live view)"),
    ("--exposure-s", "exposure_s", float, "extra wait after each shot, seconds"),
    ("--mode", "mode", str, "full | preview-images | preview"),
    ("--retries", "retries", int, "retakes of a shot that fails its checks (0-10)"),
    ("--on-failed-check", "on_failed_check", str, "pause | fail, when retakes do not help"),
    ("--out", "out", str, "output template, e.g. ~/rig-stacks/@GRP/@GCT4"),
    ("--description", "description", str, "free text"),
    ("--magnification", "magnification", float, "optical magnification (into the results' metadata)"),
    ("--lens", "lens", str, "lens or objective (into the results' metadata)"),
    ("--jpeg-quality", "jpeg_quality", int, "quality of the merged JPEG (1-100)"),
    ("--jpeg-long-edge-px", "jpeg_long_edge_px", int, "longest edge of the merged JPEG; 0 = full size"),
)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="machine config (TOML); default: the simulated rig")


def load_machine_config(args: argparse.Namespace) -> MachineConfig:
    return load_config(getattr(args, "config", None))


class _DropFaults(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.ERROR and str(record.msg).startswith("fault:"))


@contextmanager
def faults_reported_here(verbose: int = 0) -> Iterator[None]:
    """Around a move the command reports itself (``wait_for_move`` raises, ``main`` prints one
    ``rig: error: ...`` line): hide the sequencer's own timestamped ``fault:`` log line, which
    would say the same thing twice. ``-v`` shows it."""
    if verbose:
        yield
        return
    logger = logging.getLogger("rig.sequencer")
    drop = _DropFaults()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


def wait_for_move(seq: Sequencer, failed: str, cancelled: str | None = None) -> None:
    """Wait for the sequencer's move to end. Ctrl-C cancels it (then raises ``MotionError(cancelled)``
    if given); a fault raises ``MotionError`` with the fault, or ``failed``."""
    try:
        status = seq.wait()
    except KeyboardInterrupt:
        print("\nrig: stopping", file=sys.stderr)
        seq.cancel()
        status = seq.wait(30)
        if cancelled:
            raise MotionError(cancelled) from None
    if status.state == "fault":
        raise MotionError(status.error or failed)


def _number(kind: type) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None

    return parse


def _settle(text: str) -> float | str:
    return "auto" if text.strip().lower() == "auto" else _number(float)(text)


def add_profile_options(parser: argparse.ArgumentParser) -> None:
    for flag, _field, kind, text in PROFILE_OPTIONS:
        if flag == "--mode":
            parser.add_argument(flag, choices=RUN_MODES, help=text)
        elif flag == "--on-failed-check":
            parser.add_argument(flag, choices=FAILED_CHECK_ACTIONS, help=text)
        elif kind is str:
            parser.add_argument(flag, help=text)
        elif kind == "settle":
            parser.add_argument(flag, type=_settle, metavar="X|auto", help=text)
        else:
            parser.add_argument(flag, type=_number(kind), metavar="N" if kind is int else "X", help=text)
    for on, off, dest, on_help, off_help in (
        (
            "--return",
            "--no-return",
            "return_to_start",
            "move back to the first position at the end (default)",
            "stay where the stack ends",
        ),
        ("--merge", "--no-merge", "merge", "merge the frames after a full run, in a child process", "do not merge"),
    ):
        group = parser.add_mutually_exclusive_group()
        group.add_argument(on, dest=dest, action="store_true", default=None, help=on_help)
        group.add_argument(off, dest=dest, action="store_false", help=off_help)


def profile_from_args(args: argparse.Namespace, base: Profile) -> Profile:
    """``base`` with every option given on the command line applied and checked."""
    fields = {f.name: f for f in dataclasses.fields(Profile)}
    changes: dict[str, Any] = {}
    names = [name for _flag, name, _k, _t in PROFILE_OPTIONS] + ["return_to_start", "merge"]
    for name in names:
        value = getattr(args, name, None)
        if value is None:
            continue
        flag = "--" + name.replace("_", "-")
        changes[name] = check_value(Profile, fields[name], value, "command line", flag)
    if "end_um" in changes or "start_um" in changes:
        # with start and end, the option the user gave decides what follows
        if "step_um" in changes and "slices" not in changes:
            changes["slices"] = None
        elif "slices" in changes and "step_um" not in changes:
            changes["step_um"] = None
    return dataclasses.replace(base, **changes).checked("command line")


def say(text: str) -> None:
    """Progress and messages on stderr; a closed terminal (SIGHUP, SSH drop) must not stop a safe
    stop or a batch."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
