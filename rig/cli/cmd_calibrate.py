"""``rig calibrate``: backlash, settle time and distance per step, measured from images."""

from __future__ import annotations

import argparse
import json
import threading

from rig.cli.options import add_config_option, load_machine_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "calibrate",
        help="measure backlash and settle time from images",
        description=(
            "With the camera on a textured target in focus, move the rail through a short sweep and back, "
            "and measure from the frames its backlash and the settle time after a move (docs/calibration in "
            "docs/overview.md). With --target-depth-um, on a target showing two textured planes that far apart "
            "(focused on the near one), it also measures the real distance per motor step (on a lens drive: the "
            "depth of one drive step). The results are stored for this machine config; the planner (rig stack, "
            "the web UI's plan), the run estimate and settle_s = 'auto' use them. Refused, before anything "
            "moves, when the view has no texture."
        ),
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (backlash_um, um_per_step, settle_s)")
    p.add_argument(
        "--sweep", type=float, default=None, metavar="D", help="sweep length in the rail's units (default 300 um)"
    )
    p.add_argument(
        "--target-depth-um",
        type=float,
        default=None,
        metavar="D",
        help="the target's two planes are D um apart in depth: also measure the distance per step from them "
        "(on a lens drive --sweep is about D in drive steps)",
    )
    add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.calibration import BeyondLimits, calibrate, calibration_path, describe, save_calibration
    from rig.errors import UsageError
    from rig.machine import Machine

    if args.sweep is not None and not 1e-3 <= args.sweep <= 100_000:
        raise UsageError(f"--sweep = {args.sweep:g}: out of range (allowed: a number from 0.001 to 100000)")
    if args.target_depth_um is not None and not 1.0 <= args.target_depth_um <= 100_000:
        raise UsageError(
            f"--target-depth-um = {args.target_depth_um:g}: out of range (allowed: a number from 1 to 100000)"
        )
    config = load_machine_config(args)
    cancel = threading.Event()
    with Machine.build(config) as machine:
        try:
            result = calibrate(machine.rail, machine.camera, machine.config, cancel, args.sweep, args.target_depth_um)
        except BeyondLimits as exc:
            if config.rail.backend == "sim":
                # a new process's simulated rail is at rail.sim.start_um: a jog does not carry over
                raise UsageError(
                    f"{exc} (the simulated rail starts every process at rail.sim.start_um = "
                    f"{config.rail.sim.start_um:g}: set it in a config, e.g. [rail.sim] start_um = 500)"
                ) from None
            raise
        except KeyboardInterrupt:
            cancel.set()
            machine.rail.stop()
            raise
    path = calibration_path(config)
    save_calibration(path, result)
    if args.json:
        print(json.dumps({**result.to_json(), "saved": str(path)}))
    else:
        for line in describe(result):
            print(line)
        print(f"saved: {path}")
    return 0
