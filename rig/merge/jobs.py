"""The merge job manager: one merge at a time, in a child process, progress on the event bus,
the outcome recorded in the stack's ``stack.json`` (its ``merge`` field).

Built once by :class:`rig.machine.Machine` (``machine.merges``); the web UI and ``rig stack
--merge`` both use it. The merge itself is :func:`rig.merge.child.start_merge` (a child
process, so a merge never holds the GIL the sequencer needs). A watcher thread polls its
progress and publishes ``MERGE`` events; motion and status updates never wait for it.

A merge started with the run (``follow=True``) merges the frames while they are captured and
is handed ``run_outcome``: once the run has ended other than ``completed``, the merge is
cancelled and its outputs removed (a cancelled or failed run is not merged).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rig.errors import RigError, StateError
from rig.events import EventBus, EventKind
from rig.manifest import MergeRecord, UnreadableManifest, now_iso, record_merge
from rig.merge.results import PREVIEW, RESULTS

if TYPE_CHECKING:  # loads when the first merge starts
    from rig.merge.child import MergeJob

log = logging.getLogger(__name__)

POLL_S = 0.25


class MergeUnavailable(RigError):
    """A merge cannot start now: the server is shutting down, or the child would not start."""

    http_status = 503


class MergeManager:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._lock = threading.Lock()
        self._finishing = threading.Lock()  # one finish at a time: recorded in stack.json, then shown
        self._job: MergeJob | None = None
        self._state: dict[str, Any] | None = None
        self._watcher: threading.Thread | None = None
        self._closed = False

    def status(self) -> dict[str, Any] | None:
        """``{stack, folder, state: running|done|failed|cancelled, progress, stage, error, started,
        ended}`` of the current or last merge; None before the first."""
        with self._lock:
            return dict(self._state) if self._state else None

    def running_for(self, folder: Path) -> bool:
        with self._lock:
            return bool(self._state and self._state["state"] == "running" and self._state["folder"] == str(folder))

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._state and self._state["state"] == "running")

    def start(
        self,
        folder: Path,
        stack_id: str,
        *,
        align: bool = True,
        follow: bool = False,
        run_outcome: Callable[[], str | None] | None = None,
    ) -> dict[str, Any]:
        """Merge ``folder`` into its result files (:data:`rig.merge.results.RESULTS`). With
        ``follow``, the run is still being captured and ``run_outcome()`` says how it ended
        (None while it runs)."""
        from rig.merge import child

        image, jpeg, depth = RESULTS.paths(folder)
        with self._lock:
            if self._closed:
                raise MergeUnavailable("the server is shutting down")
            if self._state and self._state["state"] == "running":
                raise StateError(f"a merge of {self._state['stack']} is already running; wait for it or cancel it")
            try:
                job = child.start_merge(
                    folder,
                    image,
                    depthmap=depth,
                    jpeg=jpeg,
                    align=align,
                    overwrite=True,
                    follow=follow,
                    preview=folder / PREVIEW if follow else None,
                )
            except RigError:
                raise
            except (OSError, ValueError) as exc:
                raise MergeUnavailable(f"could not start the merge: {exc}") from None
            self._job = job
            self._state = {
                "folder": str(folder),
                "stack": stack_id,
                "state": "running",
                "progress": 0.0,
                "error": None,
                "started": time.time(),
            }
            snapshot = dict(self._state)
            self._watcher = threading.Thread(
                target=self._watch, args=(job, run_outcome), name="rig-merge-watch", daemon=True
            )
            self._watcher.start()
        if not follow:  # while a run is captured, its sequencer alone writes stack.json
            self._record(snapshot)
        self.bus.publish(EventKind.MERGE, snapshot)
        return snapshot

    def cancel(self, stack_id: str | None = None, reason: str | None = None) -> dict[str, Any]:
        with self._lock:
            job, state = self._job, self._state
            if job is None or not state or state["state"] != "running":
                raise StateError("no merge is running")
            if stack_id is not None and state["stack"] != stack_id:
                raise StateError(f"no merge of {stack_id} is running (merging {state['stack']})")
        try:
            job.cancel()
        except Exception:  # noqa: BLE001 - the watcher reports what happened
            log.exception("merge cancel failed")
        self._finish(job, "cancelled", reason)
        return self.status() or {}

    def _watch(self, job: MergeJob, run_outcome: Callable[[], str | None] | None) -> None:
        last = -1.0
        while True:
            with self._lock:
                if self._job is not job or self._state is None or self._state["state"] != "running":
                    return
            try:
                ended = run_outcome() if run_outcome is not None else None
                done = job.done()
                progress = float(job.progress())
                stage = str(job.stage()) if hasattr(job, "stage") else ""
            except Exception as exc:  # noqa: BLE001
                self._finish(job, "failed", f"lost track of the merge: {exc}")
                return
            if ended is not None and ended != "completed":
                self._drop_partial(job, ended)
                return
            if done:
                try:
                    job.result()
                except RigError as exc:
                    self._finish(job, "failed", str(exc))
                except Exception as exc:  # noqa: BLE001 - a merge failure must not kill the server
                    self._finish(job, "failed", f"{type(exc).__name__}: {exc}")
                else:
                    self._finish(job, "done", None, progress=1.0)
                return
            if progress - last >= 0.01:
                last = progress
                with self._lock:
                    if self._job is not job or not self._state:
                        return
                    self._state["progress"] = round(max(0.0, min(progress, 1.0)), 3)
                    self._state["stage"] = stage[:80]
                    snapshot = dict(self._state)
                self.bus.publish(EventKind.MERGE, snapshot)
            time.sleep(POLL_S)

    def _drop_partial(self, job: MergeJob, outcome: str) -> None:
        """The run being merged ended ``outcome`` (not completed): no merge of a partial stack."""
        try:
            job.cancel()
        except Exception:  # noqa: BLE001
            log.exception("merge cancel failed")
        with self._lock:
            folder = Path(self._state["folder"]) if self._job is job and self._state else None
        for path in RESULTS.paths(folder) if folder else ():
            path.unlink(missing_ok=True)  # the child may have finished on the frames saved so far
        self._finish(job, "cancelled", f"the run ended {outcome}: not merged")

    def _finish(self, job: MergeJob, state: str, error: str | None, progress: float | None = None) -> None:
        """End the merge of ``job`` (once): record it in ``stack.json``, then show and publish it,
        so whoever sees the new state finds it on disk too."""
        with self._finishing:
            with self._lock:
                if self._job is not job or not self._state or self._state["state"] != "running":
                    return
                snapshot = dict(self._state, state=state, error=error, ended=time.time())
                if progress is not None:
                    snapshot["progress"] = progress
            (Path(snapshot["folder"]) / PREVIEW).unlink(missing_ok=True)  # the result so far: ended
            self._record(snapshot)
            with self._lock:
                self._state = snapshot
        log.info("merge of %s: %s%s", snapshot["stack"], state, f" ({error})" if error else "")
        self.bus.publish(EventKind.MERGE, snapshot)

    @staticmethod
    def _record(snapshot: dict[str, Any]) -> None:
        """The merge's state into the stack's ``stack.json`` (``merge`` field)."""
        folder = Path(snapshot["folder"])
        done = snapshot["state"] == "done"
        record = MergeRecord(
            state=snapshot["state"],
            outputs=tuple(n for n in RESULTS.names if (folder / n).is_file()) if done else (),
            error=snapshot.get("error"),
            started=_iso(snapshot.get("started")),
            finished=now_iso() if snapshot["state"] != "running" else None,
        )
        try:
            record_merge(folder, record)
        except (OSError, RigError, UnreadableManifest) as exc:  # the stack was deleted, or is not ours
            log.warning("could not record the merge in %s: %s", folder, exc)

    def close(self) -> None:
        """Cancel a running merge and refuse new ones. Idempotent."""
        with self._lock:
            self._closed = True
            job = self._job if self._state and self._state["state"] == "running" else None
            watcher = self._watcher
        if job is not None:
            try:
                self.cancel()
            except RigError:
                pass
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(10)  # its last record is written before the process may exit


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def merge_available() -> bool:
    """Whether this build can merge (the child's modules import)."""
    try:
        import rig.merge.child  # noqa: F401
    except ImportError:
        return False
    return True
