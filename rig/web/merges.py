"""Merges started from the UI: one at a time, in a child process, progress on the event bus.

The merge itself is ``rig.merge.child.start_merge`` (a child process, so a merge never holds
the GIL the sequencer needs). A watcher thread polls its progress and publishes ``MERGE``
events; motion and status updates never wait for it.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from rig.errors import RigError, StateError
from rig.events import EventBus, EventKind
from rig.web.security import ApiError

log = logging.getLogger(__name__)

MERGED_TIF = "merged.tif"
MERGED_JPG = "merged.jpg"
DEPTH_PNG = "depth.png"
RESULT_FILES = (MERGED_TIF, MERGED_JPG, DEPTH_PNG)
POLL_S = 0.25


def merge_available() -> bool:
    try:
        import rig.merge.child  # noqa: F401
    except ImportError:
        return False
    return True


class MergeManager:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._lock = threading.Lock()
        self._job: Any = None
        self._state: dict[str, Any] | None = None
        self._watcher: threading.Thread | None = None
        self._closed = False

    def status(self) -> dict[str, Any] | None:
        with self._lock:
            return dict(self._state) if self._state else None

    def running_for(self, folder: Path) -> bool:
        with self._lock:
            return bool(self._state and self._state["state"] == "running" and self._state["folder"] == str(folder))

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._state and self._state["state"] == "running")

    def start(self, folder: Path, stack_id: str, *, align: bool = True) -> dict[str, Any]:
        try:
            from rig.merge.child import start_merge
        except ImportError:
            raise ApiError(503, "merging is not available in this build (rig.merge.child is missing)") from None
        with self._lock:
            if self._closed:
                raise ApiError(503, "the server is shutting down")
            if self._state and self._state["state"] == "running":
                raise StateError(f"a merge of {self._state['stack']} is already running; wait for it or cancel it")
            try:
                job = start_merge(
                    folder,
                    folder / MERGED_TIF,
                    depthmap=folder / DEPTH_PNG,
                    jpeg=folder / MERGED_JPG,
                    align=align,
                    overwrite=True,
                )
            except RigError:
                raise
            except (OSError, ValueError) as exc:
                raise ApiError(503, f"could not start the merge: {exc}") from None
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
            self._watcher = threading.Thread(target=self._watch, args=(job,), name="rig-merge-watch", daemon=True)
            self._watcher.start()
        self.bus.publish(EventKind.MERGE, snapshot)
        return snapshot

    def cancel(self, stack_id: str | None = None) -> dict[str, Any]:
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
        self._finish(job, "cancelled", None)
        return self.status() or {}

    def _watch(self, job: Any) -> None:
        last = -1.0
        while True:
            with self._lock:
                if self._job is not job or self._state is None or self._state["state"] != "running":
                    return
            try:
                done = job.done()
                progress = float(job.progress())
                stage = str(job.stage()) if hasattr(job, "stage") else ""
            except Exception as exc:  # noqa: BLE001
                self._finish(job, "failed", f"lost track of the merge: {exc}")
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

    def _finish(self, job: Any, state: str, error: str | None, progress: float | None = None) -> None:
        with self._lock:
            if self._job is not job or not self._state or self._state["state"] != "running":
                return
            self._state["state"] = state
            self._state["error"] = error
            if progress is not None:
                self._state["progress"] = progress
            self._state["ended"] = time.time()
            snapshot = dict(self._state)
        log.info("merge of %s: %s%s", snapshot["stack"], state, f" ({error})" if error else "")
        self.bus.publish(EventKind.MERGE, snapshot)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            job = self._job if self._state and self._state["state"] == "running" else None
        if job is not None:
            try:
                self.cancel()
            except RigError:
                pass
