"""``rig stack``: run one stack with a progress bar; Ctrl-C cancels and returns the rail."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rig.cli.options import add_config_option, add_profile_options, load_machine_config, profile_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stack",
        help="run one focus stack",
        description="Run one stack. Ctrl-C cancels: the rail returns and the exit code is 130.",
    )
    add_config_option(p)
    p.add_argument("--profile", metavar="NAME", help="start from a saved profile (see `rig profile list`)")
    add_profile_options(p)
    p.add_argument(
        "--resume",
        metavar="STACK_DIR",
        help="finish an interrupted, cancelled or failed stack: verify its frames, then shoot the "
        "missing ones with the same plan into the same folder (its own profile; other options ignored)",
    )
    p.add_argument(
        "--confirm-position",
        action="store_true",
        help="with --resume on a rail without a home switch: the rail is where rig says it is "
        "(otherwise rig asks on a terminal)",
    )
    p.set_defaults(func=run)


class _Interrupt(Exception):
    def __init__(self, outcome: str) -> None:
        self.outcome = outcome


def run(args: argparse.Namespace) -> int:
    from rig.config import Profile
    from rig.machine import Machine
    from rig.sequencer import Outcome

    config = load_machine_config(args)
    with Machine.build(config) as machine:
        resume = getattr(args, "resume", None)
        confirmed = bool(getattr(args, "confirm_position", False))
        if resume:
            confirmed = confirmed or _ask_position(machine)
        else:
            base = machine.profiles.load(args.profile) if args.profile else Profile()
            profile = profile_from_args(args, base)
        seq = machine.sequencer
        sub = machine.bus.subscribe(maxsize=4096)

        def on_term(signum: int, _frame: Any) -> None:
            raise _Interrupt("interrupted")

        # SIGTERM (systemd, kill) and SIGHUP (terminal closed, SSH dropped): stop safely, keep frames
        old_handlers = {sig: signal.signal(sig, on_term) for sig in (signal.SIGTERM, signal.SIGHUP)}
        try:
            if resume:
                status = machine.resume_stack(resume, position_confirmed=confirmed)
                _err(f"rig: resuming from slice {status.slice + 1} of {status.slices}\n")
            else:
                status = machine.start_stack(profile, args.profile or "default")  # and its merge, if asked
            if status.folder:
                _err(f"rig: stack folder {status.folder}\n")
            status = _follow(seq, sub)
        except (KeyboardInterrupt, _Interrupt) as exc:
            outcome = Outcome.INTERRUPTED if getattr(exc, "outcome", "") == "interrupted" else Outcome.CANCELLED
            _err("\nrig: cancelling, returning the rail (Ctrl-C again for e-stop)\n")
            try:
                seq.cancel(outcome=outcome)
            except Exception:  # already finished
                pass
            try:
                status = _follow(seq, sub)
            except (KeyboardInterrupt, _Interrupt):
                seq.estop()
                status = seq.wait(10)
        finally:
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
        _report(status)
        if machine.merges.status() is not None and status.folder:
            if status.outcome == Outcome.COMPLETED:
                return _finish_merge(machine.merges, status.folder)
            # no merge of a partial stack; `rig merge FOLDER` can still do it
            _cancel_merge(machine.merges, f"the run ended {status.outcome or status.state}: not merged")
        return {Outcome.COMPLETED: 0, Outcome.CANCELLED: 130, Outcome.INTERRUPTED: 143}.get(status.outcome, 1)


def _ask_position(machine: Any) -> bool:
    """Without a home switch, a resume needs the user to confirm where the rail is: asked on a
    terminal (``--confirm-position`` otherwise). True when confirmed."""
    from rig.motion import can_home

    if can_home(machine.rail, machine.config.rail) or not sys.stdin.isatty():
        return False
    pos = f"{machine.rail.position():g} {machine.rail.units}"
    try:
        answer = input(f"rig: the rail has no home switch; it says it is at {pos}. Is that right? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _err(text: str) -> None:
    """Progress and messages on stderr; a closed terminal (SIGHUP, SSH drop) must not stop a safe stop."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _follow(seq: Any, sub: Any) -> Any:
    """Draw progress until the run ends; returns the final status."""
    from rig.events import EventKind

    tty = sys.stderr.isatty()
    while True:
        status = seq.wait(0.1)
        if tty:
            _err("\r" + _bar(status) + "\x1b[K")
        else:
            while (event := sub.get(0)) is not None:
                if event.kind == EventKind.FRAME_SAVED:
                    p = event.payload
                    _err(f"rig: frame {p['index']}/{status.slices} {p['file']} at {p['position']:g} {status.units}\n")
        if not status.busy:
            if tty:
                _err("\n")
            return status


def _bar(status: Any, width: int = 30) -> str:
    done = max(0, status.slice - (1 if status.busy else 0)) if status.slices else 0
    frac = done / status.slices if status.slices else 0.0
    filled = int(round(frac * width))
    eta = f" ETA {status.eta_s:.0f}s" if status.eta_s is not None else ""
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {status.slice}/{status.slices} "
        f"{status.state.value:<9} {status.position:9.1f} {status.units}{eta}"
    )


def _report(status: Any) -> None:
    outcome = status.outcome.value if status.outcome else status.state.value
    line = f"rig: {outcome}: {status.frames_saved} frame(s)"
    if status.error:
        line += f"; {status.error}"
    _err(line + "\n")
    if status.folder:
        try:
            print(status.folder, flush=True)
        except (OSError, ValueError):
            pass


def _cancel_merge(merges: Any, reason: str) -> None:
    try:
        merges.cancel(reason=reason)
    except Exception:  # noqa: BLE001 - already cancelled by the merge manager
        pass


def _finish_merge(merges: Any, folder: str) -> int:
    from rig.merge.results import RESULTS

    try:
        while merges.busy:
            state = merges.status() or {}
            if sys.stderr.isatty():
                _err(f"\rrig: merging {state.get('progress', 0.0) * 100:5.1f}% {state.get('stage', '')}\x1b[K")
            time.sleep(0.2)
    except KeyboardInterrupt:
        _cancel_merge(merges, "cancelled with Ctrl-C")
        _err("\nrig: merge cancelled; the frames are kept\n")
        return 130
    state = merges.status() or {}
    if sys.stderr.isatty():
        _err("\n")
    if state.get("state") != "done":
        error = state.get("error") or state.get("state")
        _err(f"rig: merge failed: {error}; the frames are kept (retry with `rig merge {folder}`)\n")
        return 1
    _err(f"rig: merged into {RESULTS.paths(Path(folder))[0]}\n")
    return 0
