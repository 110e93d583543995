"""``rig plan``: depth of field, the recommended step and the slice count, from the optics."""

from __future__ import annotations

import argparse
import json

from rig.cli.options import add_config_option, load_machine_config
from rig.errors import UsageError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "plan",
        help="depth of field and step from the optics",
        description=(
            "Print the depth of field at a magnification and aperture (an f-number for a photographic lens, "
            "a numerical aperture for a microscope objective), the recommended step between slices and, "
            "with --start-um and --end-um, how many slices cover that range. Nothing moves. "
            "Formulas and sources: docs/planning.md."
        ),
    )
    p.add_argument("--magnification", type=float, required=True, metavar="M", help="on the sensor, e.g. 5 for 5x")
    aperture = p.add_mutually_exclusive_group(required=True)
    aperture.add_argument("--f-number", type=float, metavar="N", help="the lens's f-number as set (not effective)")
    aperture.add_argument("--na", type=float, metavar="NA", help="the objective's numerical aperture")
    p.add_argument("--pixel-um", type=float, default=None, metavar="P", help="sensor pixel pitch in um (default 4)")
    p.add_argument("--start-um", type=float, default=None, metavar="S", help="first position of the range")
    p.add_argument("--end-um", type=float, default=None, metavar="E", help="last position of the range")
    p.add_argument("--overlap", type=float, default=None, metavar="F", help="fraction of DOF shared (0-0.9, 0.25)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_config_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.optics import DEFAULT_OVERLAP, DEFAULT_PIXEL_UM, Optics, check, plan_stack

    magnification = check("magnification", args.magnification, "--magnification")
    f_number = None if args.f_number is None else check("f_number", args.f_number, "--f-number")
    na = None if args.na is None else check("na", args.na, "--na")
    pixel_um = DEFAULT_PIXEL_UM if args.pixel_um is None else check("pixel_um", args.pixel_um, "--pixel-um")
    overlap = DEFAULT_OVERLAP if args.overlap is None else check("overlap", args.overlap, "--overlap")
    if args.start_um is not None and args.end_um is not None:
        check_range_on_rail(args, args.start_um, args.end_um)
    plan = plan_stack(Optics(magnification, f_number, na, pixel_um), overlap, args.start_um, args.end_um)
    if args.json:
        print(json.dumps(plan.as_dict()))
        return 0
    optics = plan.optics
    aperture = f"f/{optics.f_number:g}" if optics.f_number is not None else f"NA {optics.na:g}"
    print(f"optics: {optics.magnification:g}x at {aperture}, pixel {optics.pixel_um:g} um")
    print(f"  effective f-number {optics.effective_f_number:.3g}, object-side NA {optics.numerical_aperture:.4g}")
    print(f"depth of field: {plan.dof_um:.1f} um")
    print(f"step: {plan.step_um:.1f} um ({plan.overlap:.0%} overlap)")
    if plan.slices is not None:
        print(f"range: {plan.start_um:g} .. {plan.end_um:g} um -> {plan.slices} slices")
    return 0


def check_range_on_rail(args: argparse.Namespace, start_um: float, end_um: float) -> None:
    """A range outside the configured rail's soft limits is refused (the rail's units must be um)."""
    rail = load_machine_config(args).rail
    if rail.units != "um":
        raise UsageError(
            f"rail backend {rail.backend!r} moves in {rail.units}, not um; plan its range in its own units"
        )
    for flag, value in (("--start-um", start_um), ("--end-um", end_um)):
        if not rail.min_um <= value <= rail.max_um:
            raise UsageError(
                f"{flag} = {value:g}: outside the rail's soft limits {rail.min_um:g}..{rail.max_um:g} um "
                "(rail.min_um / rail.max_um)"
            )
