"""``rig install`` and ``rig uninstall``: set the rig up on a Raspberry Pi (or take it off).

``sudo rig install`` is idempotent: it installs what is missing, leaves what is there, never
overwrites /etc/rig/rig.toml, and can be re-run after an update. ``--dry-run`` prints every
step without doing anything (no root needed). The steps themselves live in ``rig.install``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the install steps load only for install/uninstall
    from rig.install import Step
    from rig.install.host import Host


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "install",
        help="install the services, kiosk and udev rules on a Raspberry Pi (sudo)",
        description=__doc__.splitlines()[0],
    )
    add_install_arguments(p)
    p.set_defaults(func=run_install)
    u = sub.add_parser("uninstall", help="remove the services and program; keeps stacks, config and users (sudo)")
    _common(u)
    u.set_defaults(func=run_uninstall)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="print every step; change nothing")
    p.add_argument("--root", type=Path, default=Path("/"), help=argparse.SUPPRESS)  # tests: a temporary root


def add_install_arguments(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument(
        "--source",
        type=Path,
        help=(
            "rig source checkout (the folder holding pyproject.toml) to install into /opt/rig/venv; default: "
            "the checkout this rig runs from, else keep the rig already installed there"
        ),
    )
    p.add_argument(
        "--kiosk",
        choices=("auto", "yes", "no"),
        default="auto",
        help="touchscreen kiosk: auto = yes unless a desktop owns the screen (default auto)",
    )
    p.add_argument(
        "--field-kit",
        action="store_true",
        help="field kit: the Wi-Fi hotspot (NetworkManager, passphrase kept in /etc/rig/hotspot.toml); "
        "new config only: web UI on every address and system.field_kit = true",
    )
    p.add_argument("--hotspot-ssid", metavar="NAME", help="the hotspot's network name, 1-32 bytes (default rig-kit)")
    p.add_argument(
        "--hotspot-passphrase",
        metavar="TEXT",
        help="the hotspot's WPA2 passphrase, 8-63 characters (default: generated once and kept)",
    )
    p.add_argument(
        "--shutdown-pin",
        type=_pin,
        metavar="BCM",
        help="new config only: BCM pin (0-27) of a shutdown button (field kit)",
    )
    p.add_argument("--no-apt", dest="apt", action="store_false", help="do not install apt packages")
    p.add_argument("--no-start", dest="start", action="store_false", help="enable the services but do not (re)start")


def _pin(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a BCM pin number (0-27)") from None


def _check_privileges(args: argparse.Namespace) -> None:
    from rig.errors import UsageError

    if args.root != Path("/") and not args.dry_run:
        raise UsageError("--root is only for --dry-run")
    if not args.dry_run and os.geteuid() != 0:
        raise UsageError(f"`rig {args.command}` changes the system: run it with sudo (or try --dry-run)")


def _finish(steps: list[Step], args: argparse.Namespace, host: Host) -> int:
    from rig.install import describe, execute

    if args.dry_run:
        for line in describe(steps, dry_run=True):
            print(line)
        pending = sum(s.pending for s in steps)
        print(f"dry run: {pending} of {len(steps)} steps would change something; nothing was changed")
        return 0
    ran = execute(steps, host, out=lambda line: print(line, flush=True))
    print(f"done: {ran} step(s) changed something, {len(steps) - ran} already in place")
    return 0


def run_install(args: argparse.Namespace) -> int:
    from rig.install import Options, find_assets, running_checkout
    from rig.install.host import Host
    from rig.install.plan import plan_install

    host = Host(root=args.root)
    source = args.source.resolve() if args.source else running_checkout()
    opts = Options(
        source=source,
        kiosk=args.kiosk,
        field_kit=args.field_kit,
        hotspot_ssid=args.hotspot_ssid,
        hotspot_passphrase=args.hotspot_passphrase,
        shutdown_pin=args.shutdown_pin,
        apt=args.apt,
        start=args.start,
        admin_user=os.environ.get("SUDO_USER") or None,
    )  # checks the options first: bad input is named even without sudo
    _check_privileges(args)
    steps = plan_install(host, opts, find_assets(source, host))
    if source and not args.source:
        print(f"no --source given: installing rig from the checkout it runs from, {source}")
    code = _finish(steps, args, host)
    if not args.dry_run:
        print(
            "next: edit /etc/rig/rig.toml for your rail and camera, then `sudo systemctl restart rig`; "
            "logs: journalctl -u rig"
        )
    return code


def run_uninstall(args: argparse.Namespace) -> int:
    from rig.install.host import Host
    from rig.install.uninstall import plan_uninstall

    _check_privileges(args)
    host = Host(root=args.root)
    return _finish(plan_uninstall(host), args, host)


def main(argv: list[str] | None = None) -> int:
    """``python3 -m rig.cli.cmd_install`` (scripts/install-pi.sh): runs from a checkout with
    the system Python and the standard library only, before the virtualenv exists."""
    import logging
    import sys

    from rig.errors import RigError

    parser = argparse.ArgumentParser(prog="rig install")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except RigError as exc:
        print(f"rig: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
