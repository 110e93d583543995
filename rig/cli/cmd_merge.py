"""``rig merge``: merge a focus stack into one all-in-focus image (options and run: :mod:`rig.merge.command`)."""

from __future__ import annotations

import argparse

from rig.merge import command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("merge", help="merge a focus stack into one image", description=command.HELP)
    command.add_arguments(p)
    p.set_defaults(func=command.run)
