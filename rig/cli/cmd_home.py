"""``rig home``: seek the rail's home switch and set the position to the home offset."""

from __future__ import annotations

import argparse
import sys

from rig.cli.options import add_config_option, load_machine_config
from rig.errors import MotionError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "home",
        help="seek the home switch",
        description=(
            "Move toward the home switch (rail.gpio.home_direction), back off it and set the position to "
            "rail.gpio.home_offset_um. Only rails with a home switch can home. Ctrl-C stops."
        ),
    )
    add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.machine import Machine

    config = load_machine_config(args)
    with Machine.build(config) as machine:
        seq = machine.sequencer
        seq.home()
        try:
            status = seq.wait()
        except KeyboardInterrupt:
            print("\nrig: stopping", file=sys.stderr)
            seq.cancel()
            status = seq.wait(30)
            raise MotionError("homing cancelled; the position is unknown") from None
        if status.state == "fault":
            raise MotionError(status.error or "homing failed")
        print(f"rail: homed at {machine.rail.position():g} {machine.rail.units}")
    return 0
