"""``rig camera``: read and set the camera's settings (ISO, shutter speed, aperture, format, ...) by name."""

from __future__ import annotations

import argparse
import json

from rig.cli.options import add_config_option, load_machine_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "camera",
        help="read and set camera settings",
        description=(
            "Print the camera's settings (name, value, allowed values), after making any --set NAME=VALUE. "
            "Every name and value is checked before anything changes. Names, where the camera has them: "
            "iso, shutter_speed, aperture, format, white_balance, colour_gains (Pi camera), exposure_ev; "
            "the allowed values are the camera's own (docs/api.md)."
        ),
    )
    add_config_option(p)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="change a setting (repeatable)")
    p.add_argument("--json", action="store_true", help="print one JSON object: {settings: [...]}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.camera_settings import apply, parse_assignments, read
    from rig.machine import Machine

    changes = parse_assignments(args.set)
    with Machine.build(load_machine_config(args)) as machine:
        settings = apply(machine.camera, changes) if changes else read(machine.camera)
    if args.json:
        print(json.dumps({"settings": [s.to_dict() for s in settings]}))
        return 0
    if not settings:
        print("this camera has no settings rig can change")
    for s in settings:
        allowed = ", ".join(s.choices) if s.choices else (f"{s.range[0]:g}..{s.range[1]:g} {s.unit}" if s.range else "")
        print(f"{s.name} = {s.value}" + (f"   ({allowed})" if allowed else ""))
    return 0
