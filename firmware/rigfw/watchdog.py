# The host-silence watchdog: plain Python for CPython and MicroPython.


class Watchdog:
    """Fires when nothing valid has arrived from the host for ``timeout_ms`` while armed.

    ``diff(a, b)`` is a - b in ms (time.ticks_diff on the Pico, where ticks wrap)."""

    def __init__(self, timeout_ms, diff):
        self.timeout_ms = timeout_ms
        self.diff = diff
        self.last_ms = None
        self.fired = False

    def feed(self, now_ms):
        self.last_ms = now_ms

    def silent_ms(self, now_ms):
        if self.last_ms is None:
            return 0
        return self.diff(now_ms, self.last_ms)

    def check(self, now_ms, armed):
        """True exactly once per silence: when armed and silent for timeout_ms."""
        if not armed or self.last_ms is None:
            return False
        if self.silent_ms(now_ms) < self.timeout_ms:
            self.fired = False
            return False
        if self.fired:
            return False
        self.fired = True
        return True
