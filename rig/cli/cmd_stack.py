"""``rig stack``: run one stack with a progress bar; Ctrl-C cancels and returns the rail."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rig.cli.options import add_config_option, add_profile_options, load_machine_config, profile_from_args, say

if TYPE_CHECKING:
    from types import FrameType

    from rig.config import Profile
    from rig.events import Subscription
    from rig.machine import Machine
    from rig.merge.jobs import MergeManager
    from rig.sequencer import Sequencer, Status


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "stack",
        help="run one focus stack",
        description="Run one stack. Ctrl-C cancels: the rail returns and the exit code is 130.",
    )
    add_config_option(p)
    p.add_argument("--profile", metavar="NAME", help="start from a saved profile (see `rig profile list`)")
    add_profile_options(p)
    p.add_argument("--name", metavar="TEXT", help="the specimen's name (@NAME in the template; kept as typed)")
    p.add_argument("--catalogue-number", metavar="TEXT", help="the specimen's catalogue number")
    p.add_argument("--notes", metavar="TEXT", help="notes on the specimen")
    p.add_argument("--session", metavar="TEXT", help="the session or project grouping specimens (@SESSION)")
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


class _Interrupt(KeyboardInterrupt):  # SIGTERM/SIGHUP: handled like Ctrl-C, with outcome interrupted
    def __init__(self, outcome: str) -> None:
        self.outcome = outcome


def _coverage(machine: Machine, profile: Profile) -> list[str]:
    """Where the plan would leave part of the subject never sharp (its step against the depth of
    field of the profile's [optics]; its range against the subject as the last `rig range` or
    Find range found it, kept per machine config), said before anything moves. Planning errors are
    start's to report."""
    from rig.calibration_store import rail_calibration
    from rig.errors import RigError
    from rig.optics_rail import plan_optics
    from rig.plan_coverage import SubjectRange, coverage_warnings

    try:
        plan = machine.sequencer.plan(profile)
        dof = (
            plan_optics(profile.optics, machine.config.rail, calibration=rail_calibration(machine.config)).dof
            if profile.optics
            else None
        )
    except RigError:
        return []
    return coverage_warnings(plan.targets, plan.units, dof, SubjectRange.of(machine.sequencer.known_range()))


def run(args: argparse.Namespace) -> int:
    from rig.config import Profile
    from rig.machine import Machine
    from rig.sequencer import Outcome
    from rig.specimen import Specimen

    specimen = Specimen.of(args.name, args.catalogue_number, args.notes, args.session)
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

        def on_term(signum: int, _frame: FrameType | None) -> None:
            raise _Interrupt("interrupted")

        # SIGTERM (systemd, kill) and SIGHUP (terminal closed, SSH dropped): stop safely, keep frames
        old_handlers = {sig: signal.signal(sig, on_term) for sig in (signal.SIGTERM, signal.SIGHUP)}
        try:
            if resume:
                status = machine.resume_stack(resume, position_confirmed=confirmed)
                say(f"rig: resuming from slice {status.slice + 1} of {status.slices}\n")
            else:
                for warning in _coverage(machine, profile):
                    say(f"rig: warning: {warning}\n")
                status = machine.start_stack(
                    profile, args.profile or "default", specimen=specimen
                )  # and its merge, if asked
            if status.folder:
                say(f"rig: stack folder {status.folder}\n")
            status = _follow(seq, sub)
        except KeyboardInterrupt as exc:
            outcome = Outcome.INTERRUPTED if getattr(exc, "outcome", "") == "interrupted" else Outcome.CANCELLED
            say("\nrig: cancelling, returning the rail (Ctrl-C again for e-stop)\n")
            # a second Ctrl-C or signal while it follows the return is an e-stop
            machine.stop_safely(outcome, timeout_s=None, wait=lambda _timeout: _follow(seq, sub))
            status = seq.status()
        finally:
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
        _report(status)
        if machine.merges.status() is not None and status.folder:
            if status.outcome == Outcome.COMPLETED:
                return _finish_merge(machine.merges, status.folder)
            # no merge of a partial stack; `rig merge FOLDER` can still do it
            _cancel_merge(machine.merges, f"the run ended {status.outcome or status.state}: not merged")
        exit_codes: dict[Outcome | None, int] = {Outcome.COMPLETED: 0, Outcome.CANCELLED: 130, Outcome.INTERRUPTED: 143}
        return exit_codes.get(status.outcome, 1)


def _ask_position(machine: Machine) -> bool:
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


def _follow(seq: Sequencer, sub: Subscription) -> Status:
    """Draw progress until the run ends; returns the final status."""
    from rig.events import EventKind

    tty = sys.stderr.isatty()
    paused_rev = None
    while True:
        status = seq.wait(0.1)
        if status.state.value == "paused" and status.rev != paused_rev:
            paused_rev = status.rev
            _when_paused(seq, status)
        if tty:
            say("\r" + _bar(status) + "\x1b[K")
        else:
            while (event := sub.get(0)) is not None:
                if event.kind == EventKind.FRAME_SAVED:
                    p = event.payload
                    say(f"rig: frame {p['index']}/{status.slices} {p['file']} at {p['position']:g} {status.units}\n")
        if not status.busy:
            if tty:
                say("\n")
            return status


def _bar(status: Status, width: int = 30) -> str:
    done = max(0, status.slice - (1 if status.busy else 0)) if status.slices else 0
    frac = done / status.slices if status.slices else 0.0
    filled = int(round(frac * width))
    eta = f" ETA {status.eta_s:.0f}s" if status.eta_s is not None else ""
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {status.slice}/{status.slices} "
        f"{status.state.value:<9} {status.position:9.1f} {status.units}{eta}"
    )


def _report(status: Status) -> None:
    outcome = status.outcome.value if status.outcome else status.state.value
    line = f"rig: {outcome}: {status.frames_saved} frame(s)"
    if status.error:
        line += f"; {status.error}"
    say(line + "\n")
    if status.folder:
        _report_checks(Path(status.folder))
    if status.folder:
        try:
            print(status.folder, flush=True)
        except (OSError, ValueError):
            pass


def _report_checks(folder: Path) -> None:
    """What the per-frame checks caught and re-took (issue 14), from stack.json."""
    from rig.check_report import check_summary
    from rig.manifest import UnreadableManifest, read_manifest

    try:
        lines = check_summary(read_manifest(folder))
    except (OSError, UnreadableManifest):
        return
    for line in lines:
        say(f"rig: {line}\n")


def _when_paused(seq: Sequencer, status: Status) -> None:
    """A failed check paused the run: on a terminal, Enter retakes the slice (Ctrl-C cancels);
    without one nobody can answer, so the run is cancelled."""
    import threading

    say(f"\nrig: paused: {status.error}\n")
    if not sys.stdin or not sys.stdin.isatty():
        say("rig: no terminal to resume from: cancelling the run\n")
        seq.cancel()
        return
    say("rig: fix the cause, then press Enter to retake the slice (Ctrl-C cancels)\n")

    def wait_for_enter() -> None:
        try:
            sys.stdin.readline()
            seq.resume()
        except Exception:  # noqa: BLE001 - the run may have ended meanwhile
            pass

    threading.Thread(target=wait_for_enter, name="rig-resume", daemon=True).start()


def _cancel_merge(merges: MergeManager, reason: str) -> None:
    try:
        merges.cancel(reason=reason)
    except Exception:  # noqa: BLE001 - already cancelled by the merge manager
        pass


def _finish_merge(merges: MergeManager, folder: str) -> int:
    from rig.merge.results import RESULTS

    try:
        while merges.busy:
            state = merges.status() or {}
            if sys.stderr.isatty():
                say(f"\rrig: merging {state.get('progress', 0.0) * 100:5.1f}% {state.get('stage', '')}\x1b[K")
            time.sleep(0.2)
    except KeyboardInterrupt:
        _cancel_merge(merges, "cancelled with Ctrl-C")
        say("\nrig: merge cancelled; the frames are kept\n")
        return 130
    state = merges.status() or {}
    if sys.stderr.isatty():
        say("\n")
    if state.get("state") != "done":
        error = state.get("error") or state.get("state")
        say(f"rig: merge failed: {error}; the frames are kept (retry with `rig merge {folder}`)\n")
        return 1
    say(f"rig: merged into {RESULTS.paths(Path(folder))[0]}\n")
    return 0
