"""``rig home``: seek the rail's home switch and set the position to the home offset."""

from __future__ import annotations

import argparse

from rig.cli.options import add_config_option, load_machine_config, wait_for_move


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

    with Machine.build(load_machine_config(args)) as machine:
        machine.sequencer.home()
        wait_for_move(machine.sequencer, "homing failed", cancelled="homing cancelled; the position is unknown")
        print(f"rail: homed at {machine.rail.position():g} {machine.rail.units}")
    return 0
