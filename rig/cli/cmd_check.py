"""``rig check``: validate the config, print backends and limits, try the backends."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from rig.cli.options import add_config_option, load_machine_config

if TYPE_CHECKING:
    from rig.config import MachineConfig


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("check", help="validate the config and try the backends")
    add_config_option(p)
    p.add_argument("--no-open", action="store_true", help="only validate the config; do not open the hardware")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.errors import RigError

    config = load_machine_config(args)
    rail = config.rail
    print(f"config:  {config.source} (valid)")
    print(
        f"rail:    {rail.backend}; travel {rail.travel[0]:g}..{rail.travel[1]:g} {rail.units}; "
        f"{rail.steps_per_mm:g} steps/mm; max {rail.max_speed_mm_s:g} mm/s, {rail.accel_mm_s2:g} mm/s^2; "
        f"backlash {rail.backlash:g} {rail.units} from {rail.approach}"
    )
    print(f"camera:  {config.camera.backend}")
    print(f"output:  {config.output.root}")
    report: Callable[[MachineConfig], list[str]] | None
    try:
        from rig.hardware_detect import report
    except ImportError:
        report = None
    if report is not None:
        for line in report(config):
            print(line)
    if args.no_open:
        return 0
    from rig.machine import Machine

    try:
        machine = Machine.build(config)
    except RigError as exc:
        print(f"open:    FAILED: {exc}")
        return 1
    ok = True
    with machine:
        for name, part in (("rail", machine.rail), ("camera", machine.camera)):
            try:
                health = part.health()
            except Exception as exc:  # noqa: BLE001 - report, never crash a check
                health = {"ok": False, "error": str(exc)}
            ok &= bool(health.get("ok"))
            print(f"{name + ':':8} {'ok' if health.get('ok') else 'NOT OK'} {json.dumps(health, default=str)}")
        try:
            info = machine.camera.info()
            print("camera info: " + ", ".join(f"{k}={v}" for k, v in info.items()))
        except Exception as exc:  # noqa: BLE001
            print(f"camera info: unavailable ({exc})")
    return 0 if ok else 1
