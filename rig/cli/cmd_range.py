"""``rig range``: a fast preview sweep that finds where the subject starts and ends."""

from __future__ import annotations

import argparse
import json
import sys

from rig.cli.options import add_config_option, faults_reported_here, load_machine_config, wait_for_move
from rig.errors import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "range",
        help="find the subject's start and end from a preview sweep",
        description=(
            "Sweep the rail (or the lens drive) with at most 20 small preview frames, find where the subject "
            "first and last comes into focus, move back, and print start_um and end_um (in steps on the lens "
            "rail). Without --from-um/--to-um it sweeps the whole travel, or 10 mm around the rail's position "
            "on a longer rail. A subject with no detail in the range is reported, not given a made-up range "
            "(exit 1). Ctrl-C stops the sweep."
        ),
    )
    add_config_option(p)
    p.add_argument("--from-um", type=float, default=None, metavar="A", help="one end of the sweep")
    p.add_argument("--to-um", type=float, default=None, metavar="B", help="the other end of the sweep")
    p.add_argument("--json", action="store_true", help="print one JSON object (start_um, end_um, ...)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.machine import Machine
    from rig.range_sweep import default_span

    if (args.from_um is None) != (args.to_um is None):
        raise UsageError("give both --from-um and --to-um, or neither (then the sweep covers the usual span)")
    config = load_machine_config(args)
    with Machine.build(config) as machine:
        seq = machine.sequencer
        units = machine.rail.units
        if args.from_um is None:
            lo, hi = default_span(machine.rail.position(), machine.rail.limits(), units)
        else:
            lo, hi = args.from_um, args.to_um
            low, high = machine.rail.limits()
            for flag, value in (("--from-um", lo), ("--to-um", hi)):
                if not low <= value <= high:
                    raise UsageError(f"{flag} = {value:g}: outside the rail's soft limits {low:g}..{high:g} {units}")
            if lo == hi:
                raise UsageError("--from-um and --to-um are the same position; the sweep needs some travel")
        with faults_reported_here(args.verbose):
            seq.find_range(lo, hi)
            wait_for_move(seq, "the range sweep failed", "range sweep cancelled")
        result = seq.last_range()
    if result is None:
        raise UsageError("the range sweep ended without an answer")
    if args.json:
        print(json.dumps(result.to_dict()))
    elif result.found:
        unit = "um" if units == "um" else f"{units} (lens drive)"
        print(f"start_um: {result.start:.1f}\nend_um: {result.end:.1f}  [{unit}]")
        print(f"({result.frames} preview frames from {lo:g} to {hi:g} {units})")
    if not result.found:
        print(f"rig: {result.message}", file=sys.stderr)
        return 1
    return 0
