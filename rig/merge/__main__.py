"""``python -m rig.merge INPUT -o OUT ...``: the same as ``rig merge`` (used for child processes)."""

from __future__ import annotations

import signal
import sys

from rig.cli import main


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the writers, which remove their temp files


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main(["merge", *sys.argv[1:]]))
