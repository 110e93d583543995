"""``rig profile list|show|save|delete``: stack profiles stored as TOML (XDG config folder)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rig.cli.options import add_profile_options, profile_from_args

if TYPE_CHECKING:
    from rig.profiles import ProfileStore


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("profile", help="list, show, save and delete stack profiles")
    ps = p.add_subparsers(dest="profile_command", metavar="ACTION", required=True)
    ps.add_parser("list", help="list saved profiles").set_defaults(func=run_list)
    show = ps.add_parser("show", help="print a profile as TOML")
    show.add_argument("name")
    show.set_defaults(func=run_show)
    save = ps.add_parser("save", help="create or update a profile from options")
    save.add_argument("name")
    save.add_argument("--from", dest="base", metavar="NAME", help="start from another saved profile")
    add_profile_options(save)
    save.set_defaults(func=run_save)
    delete = ps.add_parser("delete", help="delete a profile")
    delete.add_argument("name")
    delete.set_defaults(func=run_delete)


def _store() -> ProfileStore:
    from rig.profiles import ProfileStore

    return ProfileStore()


def run_list(args: argparse.Namespace) -> int:
    store = _store()
    names = store.names()
    if not names:
        print(f"(no profiles in {store.folder})")
    for name in names:
        print(name)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from rig.config import profile_to_toml

    print(profile_to_toml(_store().load(args.name)), end="")
    return 0


def run_save(args: argparse.Namespace) -> int:
    from rig.config import Profile

    store = _store()
    if args.base:
        base = store.load(args.base)
    elif store.exists(args.name):
        base = store.load(args.name)
    else:
        base = Profile()
    path = store.save(args.name, profile_from_args(args, base))
    print(f"saved {path}")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    store = _store()
    store.delete(args.name)
    print(f"deleted {args.name}")
    return 0
