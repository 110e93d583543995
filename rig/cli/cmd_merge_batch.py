"""``rig merge-batch ROOT``: re-merge every stack under ROOT in parallel, on this machine (a process
pool) or on a Dask distributed cluster (``--scheduler``); one summary line per stack."""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rig.cli.options import say
from rig.errors import UsageError

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0  # a scheduler that does not answer: a clear error well within 10 s


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "merge-batch",
        help="re-merge every stack under a folder, in parallel",
        description=(
            "Merge every stack (folder with a stack.json) under ROOT into its merged.tif, merged.jpg and "
            "depth.png, in parallel; a bad stack is reported and the batch goes on. Re-run with --skip-done "
            "to resume an interrupted batch."
        ),
    )
    p.add_argument("roots", nargs="+", metavar="ROOT", help="folder of stacks, or stack folders (the ones selected)")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="parallel merges (default: the CPU count)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask distributed cluster (e.g. tcp://10.0.0.5:8786; needs rig[lab]); the stacks' "
        "paths must be the same on the workers",
    )
    p.add_argument("--skip-done", action="store_true", help="skip stacks whose merge is newer than their frames")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rig.merge.batch import ERROR, StackOutcome, find_stacks

    if args.workers is not None and not 1 <= args.workers <= 256:
        raise UsageError(f"--workers {args.workers}: must be 1 to 256")
    stacks: list[Path] = []
    for given in args.roots:
        root = Path(given).expanduser()
        if not root.is_dir():
            raise UsageError(f"ROOT {root}: no such folder")
        found = find_stacks(root)
        if not found:
            raise UsageError(f"ROOT {root}: no stacks (no folder with a stack.json) under it")
        stacks += [s for s in found if s not in stacks]
    t0 = time.monotonic()
    outcomes: list[StackOutcome] = []

    def report(outcome: StackOutcome) -> None:
        outcomes.append(outcome)
        say(f"rig: [{len(outcomes)}/{len(stacks)}] {outcome.line()}\n")

    try:
        runner = _dask if args.scheduler else _local
        for outcome in runner(args, [str(s) for s in stacks]):
            report(outcome)
    except KeyboardInterrupt:
        say("rig: batch interrupted; merged stacks are kept (resume with --skip-done)\n")
        _summary(args, outcomes, time.monotonic() - t0)
        return 130
    _summary(args, outcomes, time.monotonic() - t0)
    return 1 if any(o.status == ERROR for o in outcomes) else 0


def _local(args: argparse.Namespace, stacks: list[str]) -> Iterator[Any]:
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from rig.merge.batch import merge_stack

    workers = min(args.workers or os.cpu_count() or 1, len(stacks))
    context = multiprocessing.get_context("spawn")  # no forked copies of this process's threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(merge_stack, s, args.skip_done) for s in stacks]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _dask(args: argparse.Namespace, stacks: list[str]) -> Iterator[Any]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise UsageError("--scheduler needs Dask: pip install 'rig[lab]' (dask and distributed)") from None
    from rig.merge.batch import merge_stack

    client = _connect(Client, args.scheduler)
    try:
        if args.workers is not None:
            log.info("--workers is the cluster's: %s runs as many merges as its workers have threads", args.scheduler)
        futures = client.map(merge_stack, stacks, skip_done=args.skip_done, pure=False)
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            yield future.result()
    finally:
        client.close()


def _connect(client_type: Callable[..., Any], address: str) -> Any:
    if "://" not in address and ":" not in address:
        raise UsageError(f"--scheduler {address!r}: give the scheduler's address, e.g. tcp://host:8786")
    try:
        return client_type(address, timeout=f"{CONNECT_TIMEOUT_S}s")
    except (OSError, TimeoutError) as exc:
        raise UsageError(
            f"--scheduler {address}: no Dask scheduler answered within {CONNECT_TIMEOUT_S:g} s ({_short(exc)})"
        ) from None
    except ValueError as exc:
        raise UsageError(f"--scheduler {address!r}: {_short(exc)}") from None


def _summary(args: argparse.Namespace, outcomes: list[Any], seconds: float) -> None:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ok", "skipped", "error")}
    if args.json:
        print(
            json.dumps(
                {
                    "stacks": [o.to_json() for o in sorted(outcomes, key=lambda o: o.stack)],
                    "counts": counts,
                    "seconds": round(seconds, 3),
                }
            )
        )
    else:
        for outcome in sorted(outcomes, key=lambda o: o.stack):
            print(outcome.line())
    say(f"rig: {counts['ok']} merged, {counts['skipped']} skipped, {counts['error']} failed in {seconds:.1f}s\n")


def _short(exc: BaseException) -> str:
    return " ".join((str(exc) or type(exc).__name__).split())[:200]
