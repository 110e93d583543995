"""The ``rig`` command line.

Each sub-command lives in its own module ``rig/cli/cmd_<name>.py`` exposing
``register(subparsers)``; the module sets ``func`` (``args -> int``) on its parser.
Heavy libraries (numpy, OpenCV, Flask, hardware libraries) are imported inside ``func``
so ``rig --help`` stays fast and works on any machine.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from rig import __version__
from rig.errors import RigError

COMMANDS = (
    "stack",
    "merge",
    "merge-batch",
    "export",
    "serve",
    "check",
    "profile",
    "jog",
    "home",
    "shoot",
    "install",
    "plan",
    "range",
    "camera",
    "calibrate",
)

log = logging.getLogger("rig")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rig", description="Focus-stacking rig controller.")
    parser.add_argument("--version", action="version", version=f"rig {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"rig.cli.cmd_{name.replace('-', '_')}").register(sub)  # a missing module is an error
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_parsed(args, args.verbose)


def run_parsed(args: argparse.Namespace, verbose: int) -> int:
    """Run a parsed command: logging set up, RigError as one line and its exit code, Ctrl-C as 130."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except RigError as exc:
        print(f"rig: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rig: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
