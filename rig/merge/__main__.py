"""``python -m rig.merge INPUT -o OUT ...``: the same as ``rig merge`` (used for child processes).

It registers only the merge command, so a child merge does not depend on the other commands.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

from rig.cli import cmd_merge, run_parsed


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the writers, which remove their temp files


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rig.merge")
    parser.add_argument("-v", "--log-verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command")
    cmd_merge.register(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(["merge", *argv] if "merge" not in argv[:1] else argv)
    return run_parsed(args, args.log_verbose)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
