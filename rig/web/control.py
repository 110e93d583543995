"""The control lock: one client at a time drives the rig; others watch until they take over.

The lock lapses when its holder has no status stream open (no page showing) and has made
no request for ``timeout_s``; an open page keeps it (its stream's heartbeat counts).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rig.errors import StateError


class ControlConflict(StateError):
    """Another client holds the control lock."""


class ControlLock:
    """One controller at a time (see the module docstring)."""

    def __init__(self, timeout_s: float = 15.0) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._holder: str | None = None
        self._label = ""
        self._since = 0.0
        self._seen: dict[str, float] = {}
        self._streams: dict[str, int] = {}
        self.version = 0

    def _expired(self, now: float) -> bool:
        if self._holder is None or self._streams.get(self._holder):
            return False
        return now - self._seen.get(self._holder, 0.0) > self.timeout_s

    def stream(self, client: str, opened: bool) -> None:
        """Count the client's open status streams (its open pages)."""
        with self._lock:
            n = self._streams.get(client, 0) + (1 if opened else -1)
            if n > 0:
                self._streams[client] = n
            else:
                self._streams.pop(client, None)
            self._seen[client] = time.monotonic()

    def touch(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._seen[client] = now
            if len(self._seen) > 500:  # forget the oldest clients
                for old in sorted(self._seen, key=self._seen.__getitem__)[:250]:
                    if old != self._holder:
                        del self._seen[old]

    def _take(self, client: str, label: str, now: float) -> None:
        if self._holder != client:
            self._holder, self._label, self._since = client, label, time.time()
            self.version += 1
        self._seen[client] = now

    def require(self, client: str, label: str) -> None:
        """Take the lock if it is free; raise ControlConflict if another client holds it."""
        with self._lock:
            now = time.monotonic()
            if self._holder is None or self._holder == client or self._expired(now):
                self._take(client, label, now)
                return
            raise ControlConflict(f"{self._label} has control of the rig; take over to use it from here")

    def take(self, client: str, label: str, force: bool) -> None:
        with self._lock:
            now = time.monotonic()
            if self._holder not in (None, client) and not force and not self._expired(now):
                raise ControlConflict(f"{self._label} has control; send force=true to take over")
            self._take(client, label, now)

    def release(self, client: str) -> None:
        with self._lock:
            if self._holder == client:
                self._holder = None
                self.version += 1

    def state(self, client: str | None = None) -> dict[str, Any]:
        with self._lock:
            if self._expired(time.monotonic()):
                self._holder = None
                self.version += 1
            held = self._holder is not None
            return {
                "held": held,
                "mine": held and self._holder == client,
                "holder": self._label if held else None,
                "since": self._since if held else None,
                "version": self.version,
            }
