"""``rig jog``: move the rail by a distance (or to a position) and print where it ended."""

from __future__ import annotations

import argparse

from rig.cli.options import add_config_option, faults_reported_here, load_machine_config, wait_for_move
from rig.errors import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "jog",
        help="move the rail",
        description=(
            "Move the rail by --um micrometres (or --steps drive steps on the lens rail), or to an absolute "
            "position with --to. Ctrl-C stops the move."
        ),
    )
    add_config_option(p)
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--um", type=float, metavar="X", help="relative move in micrometres (negative = toward near)")
    how.add_argument("--steps", type=float, metavar="X", help="relative move in focus-drive steps (lens rail)")
    how.add_argument("--to", type=float, metavar="POS", help="absolute target in the rail's units")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.machine import Machine

    config = load_machine_config(args)
    lens = config.rail.units == "steps"
    if args.um is not None and lens:
        raise UsageError("the lens rail moves in focus-drive steps: use --steps")
    if args.steps is not None and not lens:
        raise UsageError(f"--steps is for the lens rail; the {config.rail.backend} rail moves in um: use --um")
    with Machine.build(config) as machine:
        seq = machine.sequencer
        units = machine.rail.units
        before = machine.rail.position()
        with faults_reported_here(args.verbose):
            if args.to is not None:
                seq.jog(target=args.to)
            else:
                seq.jog(delta=args.um if args.um is not None else args.steps)
            wait_for_move(seq, "the move failed")
        after = machine.rail.position()
        print(f"rail: {before:g} -> {after:g} {units}")
    return 0
