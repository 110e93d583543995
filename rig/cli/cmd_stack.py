"""``rig stack``: run one stack with a progress bar; Ctrl-C cancels and returns the rail."""

from __future__ import annotations

import argparse
import signal
import sys
import time
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
        base = machine.profiles.load(args.profile) if args.profile else Profile()
        profile = profile_from_args(args, base)
        seq = machine.sequencer
        sub = machine.bus.subscribe(maxsize=4096)
        status = seq.start(profile, args.profile or "default")
        if status.folder:
            print(f"rig: stack folder {status.folder}", file=sys.stderr)

        def on_term(signum: int, _frame: Any) -> None:
            raise _Interrupt("interrupted" if signum == signal.SIGTERM else "cancelled")

        old_term = signal.signal(signal.SIGTERM, on_term)
        try:
            status = _follow(seq, sub)
        except (KeyboardInterrupt, _Interrupt) as exc:
            outcome = Outcome.INTERRUPTED if getattr(exc, "outcome", "") == "interrupted" else Outcome.CANCELLED
            print("\nrig: cancelling, returning the rail (Ctrl-C again for e-stop)", file=sys.stderr)
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
            signal.signal(signal.SIGTERM, old_term)
        _report(status)
        if status.outcome == Outcome.COMPLETED and profile.merge and profile.mode == "full" and status.folder:
            return _merge(status.folder)
        return {Outcome.COMPLETED: 0, Outcome.CANCELLED: 130, Outcome.INTERRUPTED: 143}.get(status.outcome, 1)


def _follow(seq: Any, sub: Any) -> Any:
    """Draw progress until the run ends; returns the final status."""
    from rig.events import EventKind

    tty = sys.stderr.isatty()
    while True:
        status = seq.wait(0.1)
        if tty:
            sys.stderr.write("\r" + _bar(status) + "\x1b[K")
            sys.stderr.flush()
        else:
            while (event := sub.get(0)) is not None:
                if event.kind == EventKind.FRAME_SAVED:
                    p = event.payload
                    print(
                        f"rig: frame {p['index']}/{status.slices} {p['file']} at {p['position']:g} {status.units}",
                        file=sys.stderr,
                    )
        if not status.busy:
            if tty:
                sys.stderr.write("\n")
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
    print(line, file=sys.stderr)
    if status.folder:
        print(status.folder)


def _merge(folder: str) -> int:
    from pathlib import Path

    try:
        from rig.merge.child import start_merge
    except ImportError:
        print("rig: merge is not available in this build", file=sys.stderr)
        return 1
    out = Path(folder) / "merged.tif"
    job = start_merge(folder, out, depthmap=Path(folder) / "depth.png", jpeg=Path(folder) / "merged.jpg")
    try:
        while not job.done():
            if sys.stderr.isatty():
                sys.stderr.write(f"\rrig: merging {job.progress() * 100:5.1f}%\x1b[K")
                sys.stderr.flush()
            time.sleep(0.2)
        job.result()
    except KeyboardInterrupt:
        job.cancel()
        print("\nrig: merge cancelled; the frames are kept", file=sys.stderr)
        return 130
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(f"rig: merged into {out}", file=sys.stderr)
    return 0
