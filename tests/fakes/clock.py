"""A virtual clock for timing tests: time moves only when the code under test waits, so a test
asserts exact pulse lengths and step gaps, whatever the machine's load.

``install_in_gpiozero_mock`` makes gpiozero's MockPin stamp its recorded states with this
clock (gpiozero/pins/mock.py, ``MockPin._change_state`` and ``clear_states`` read the module's
``monotonic``), so ``pin.states[i].timestamp`` is virtual time too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class VirtualClock:
    def __init__(self) -> None:
        self.t = 0.0
        self._lock = threading.Lock()
        self._alarms: list[tuple[float, Callable[[], object]]] = []

    def now(self) -> float:
        return self.t

    def at(self, when: float, action: Callable[[], object]) -> None:
        """Run ``action`` (on the waiting thread) once virtual time reaches ``when``."""
        self._alarms.append((when, action))
        self._alarms.sort(key=lambda alarm: alarm[0])

    def wait_until(self, deadline: float) -> None:
        while self._alarms and self._alarms[0][0] <= deadline:
            when, action = self._alarms.pop(0)
            self.t = max(self.t, when)
            action()
        with self._lock:
            self.t = max(self.t, deadline)

    def sleep(self, seconds: float) -> None:
        self.wait_until(self.t + max(0.0, seconds))

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """``event.wait(seconds)`` in virtual time: True at once if set, else after ``seconds``."""
        if event.is_set():
            return True
        self.sleep(seconds)
        return event.is_set()

    def install_in_gpiozero_mock(self, monkeypatch) -> None:
        import gpiozero.pins.mock

        monkeypatch.setattr(gpiozero.pins.mock, "monotonic", self.now)
