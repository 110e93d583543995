# Clocks for the firmware core: ``ms()`` and ``diff(a, b)`` (a - b in ms, wrap-safe on the Pico).


class TicksClock:
    """The Pico's wrapping millisecond ticks (MicroPython's time.ticks_*)."""

    def __init__(self):
        import time

        self._time = time

    def ms(self):
        return self._time.ticks_ms()

    def diff(self, a, b):
        return self._time.ticks_diff(a, b)


class ManualClock:
    """A clock tests move by hand: ``advance(ms)``. ``us()`` feeds rigfw.simhw."""

    def __init__(self, start_ms=1000):
        self.t_us = start_ms * 1000

    def ms(self):
        return self.t_us // 1000

    def us(self):
        return self.t_us

    def diff(self, a, b):
        return a - b

    def advance(self, ms):
        self.t_us += int(ms * 1000)
