"""``python -m rig.merge INPUT -o OUT ...``: the same as ``rig merge`` (used for child processes).

It depends on nothing outside :mod:`rig.merge` (no ``rig.cli``): see :func:`rig.merge.command.main`.
"""

from __future__ import annotations

import signal
import sys

from rig.merge.command import main


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the writers, which remove their temp files


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(main())
