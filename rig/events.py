"""Every event kind in one enum, and a bus whose ``publish()`` never blocks or raises.

Each subscriber gets its own bounded queue; when a slow subscriber's queue is full the
oldest event is dropped (a status snapshot supersedes older ones anyway), so the sequencer
is never held up by a browser on a bad Wi-Fi link.
"""

from __future__ import annotations

import enum
import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


class EventKind(enum.StrEnum):
    STATUS = "status"  # payload: Status.to_dict()
    FRAME_SAVED = "frame_saved"  # payload: {index, file, position}
    FAULT = "fault"  # payload: {error}
    RUN_ENDED = "run_ended"  # payload: {outcome, folder, error}
    MERGE = "merge"  # payload: {folder, progress, state, error}
    INTERRUPTED = "interrupted"  # payload: {folders}
    LOG = "log"  # payload: {level, message}
    RANGE = "range"  # payload: RangeResult.to_dict() (rig.range_sweep), when a range sweep ends


@dataclass(frozen=True)
class Event:
    kind: EventKind
    payload: dict[str, Any]
    seq: int
    time: float = field(default_factory=time.time)


class Subscription:
    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: queue.Queue[Event] = queue.Queue(maxsize=maxsize)
        self.dropped = 0

    def _offer(self, event: Event) -> None:
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except queue.Full:
                try:
                    self._queue.get_nowait()
                    self.dropped += 1
                except queue.Empty:
                    pass

    def get(self, timeout: float | None = None) -> Event | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    def subscribe(self, maxsize: int = 256) -> Subscription:
        sub = Subscription(self, maxsize)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, kind: EventKind, payload: dict[str, Any] | None = None) -> None:
        try:
            event = Event(EventKind(kind), dict(payload or {}), next(self._seq))
            with self._lock:
                subs = list(self._subs)
            for sub in subs:
                sub._offer(event)
        except Exception:  # the bus must never take the sequencer down
            log.exception("event bus publish failed")

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subs)
