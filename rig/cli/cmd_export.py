"""``rig export STACK... --to DIR --for zerene|helicon|folder``: the slices of each stack in order,
one folder per stack, plus the desktop stacker's batch script (rig/export.py, docs/workflow.md)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "export",
        help="hand stacks to Zerene Stacker or Helicon Focus",
        description=(
            "Copy (or hard-link) each stack's slices, in order, into DIR/<specimen or folder name>/, plus a "
            "Zerene Stacker batch script (DIR/ZereneBatch.xml) or a Helicon Focus command file "
            "(DIR/helicon-focus.bat) that merges them all unattended. Nothing in DIR is replaced."
        ),
    )
    p.add_argument("stacks", nargs="+", metavar="STACK", help="stack folder (with stack.json)")
    p.add_argument("--to", required=True, metavar="DIR", help="folder to export into (created if missing)")
    p.add_argument("--for", dest="target", required=True, choices=("zerene", "helicon", "folder"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.export import HELICON_SCRIPT, ZERENE_SCRIPT, export

    done = export([Path(s) for s in args.stacks], Path(args.to), args.target)
    for stack in done:
        print(f"{stack.folder}  {len(stack.slices)} slices  (from {stack.source})")
    script = {"zerene": ZERENE_SCRIPT, "helicon": HELICON_SCRIPT}.get(args.target)
    if script:
        print(Path(args.to).expanduser() / script)
    return 0
