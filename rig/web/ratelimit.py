"""A small per-client limit on failed attempts (``/pair``'s token guesses).

A client (by remote address) that fails ``max_failures`` times within ``window_s`` seconds is
refused (HTTP 429) until the oldest failure leaves the window. The clock is injectable so
tests step it instead of waiting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class FailureLimiter:
    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 1024,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.get(client, deque())
        while times and now - times[0] >= self.window_s:
            times.popleft()
        return times

    def retry_after_s(self, client: str) -> float:
        """0 if ``client`` may try now, else the seconds until it may."""
        with self._lock:
            now = self.clock()
            times = self._recent(client, now)
            if len(times) < self.max_failures:
                return 0.0
            return max(0.0, self.window_s - (now - times[0]))

    def failed(self, client: str) -> None:
        with self._lock:
            now = self.clock()
            if client not in self._failures and len(self._failures) >= self.max_clients:
                for key in [k for k, v in self._failures.items() if not self._recent(k, now)]:
                    del self._failures[key]
                if len(self._failures) >= self.max_clients:  # still full: forget the oldest client
                    del self._failures[next(iter(self._failures))]
            times = self._recent(client, now)
            times.append(now)
            self._failures[client] = times
