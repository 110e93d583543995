"""``rig home``: seek the rail's home switch and set the position to the home offset."""

from __future__ import annotations

import argparse

from rig.cli.options import add_config_option, faults_reported_here, load_machine_config, wait_for_move
from rig.errors import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "home",
        help="seek the home switch",
        description=(
            "Move toward the home switch (rail.gpio.home_direction), back off it and set the position to "
            "rail.gpio.home_offset_um. Only rails with a home switch can home (a gpio rail with a home pin or "
            "a limit pin on the home side, a pico rail); others exit 2. Ctrl-C stops."
        ),
    )
    add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.machine import Machine
    from rig.motion import can_home

    with Machine.build(load_machine_config(args)) as machine:
        if not can_home(machine.rail, machine.config.rail):
            raise UsageError(
                f"this rail has no home switch (rail backend {machine.config.rail.backend!r}); "
                "jog to a known position instead (rig jog --to 0)"
            )
        with faults_reported_here(args.verbose):
            machine.sequencer.home()
            wait_for_move(machine.sequencer, "homing failed", cancelled="homing cancelled; the position is unknown")
        print(f"rail: homed at {machine.rail.position():g} {machine.rail.units}")
    return 0
