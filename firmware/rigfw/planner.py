# Trapezoidal step planning in segments: plain Python for CPython and MicroPython.
#
# A move of N steps is cut into segments of constant step rate, each about SEG_MS long.
# The planner is lazy: it plans one segment at a time from the current speed, so a STOP
# can shorten the move to the shortest deceleration from wherever the plan has got to.
# The sum of the segment counts is exactly the number of steps requested (or, after
# stop(), the number the deceleration needs): counts are integers, only rates are floats.

SEG_MS = 8  # nominal segment length
MIN_SEG_MS = 1  # shortest segment (the CPU must keep the PIO FIFO fed)
STAIRS = 8  # a ramp to full speed takes at least this many segments (speed jumps <= rate / 8)
MIN_RATE = 1.0  # steps/s; slower rates are raised to this


class Ramp:
    """Segments (count, period_ns) of a rest-to-rest trapezoid of ``steps`` steps."""

    def __init__(self, steps, rate, accel, seg_ms=SEG_MS):
        if steps < 0 or rate <= 0 or accel <= 0:
            raise ValueError("steps >= 0, rate > 0 and accel > 0 required")
        self.total = steps
        self.planned = 0
        self.rate = float(rate)
        self.accel = float(accel)
        self.dt = seg_ms / 1000.0
        if self.accel * self.dt > self.rate / STAIRS:  # steep ramp: shorter segments, finer stairs
            self.dt = max(MIN_SEG_MS / 1000.0, self.rate / STAIRS / self.accel)
        self.v = 0.0
        # speed after one step from rest, so the first segment is not absurdly slow
        self.v_floor = min(self.rate, max(MIN_RATE, (2.0 * self.accel) ** 0.5))
        self.stopping = False

    def finished(self):
        return self.planned >= self.total

    def next_segment(self):
        """The next (count, period_ns), or None when every step is planned."""
        rem = self.total - self.planned
        if rem <= 0:
            return None
        v = self.v + self.accel * self.dt
        v_stop = (2.0 * self.accel * rem) ** 0.5  # fastest speed that still stops in rem steps
        if v_stop < v:
            v = v_stop
        if self.rate < v:
            v = self.rate
        if v < self.v_floor:
            v = self.v_floor
        count = int(v * self.dt)
        if count < 1:
            count = 1
        if count > rem:
            count = rem
        self.v = v
        self.planned += count
        return count, int(1e9 / v)

    def stop(self):
        """Decelerate from the speed reached so far; returns the new total step count."""
        if not self.stopping:
            self.stopping = True
            need = int(self.v * self.v / (2.0 * self.accel))
            if self.v <= self.v_floor:
                need = 0
            if self.planned + need < self.total:
                self.total = self.planned + need
        return self.total


def pio_words(count, period_ns, freq, high_cycles, overhead=4):
    """The two FIFO words for one segment of the PIO step program (see steppio.py):
    ``count - 1`` and the delay-loop value that makes one step period ``period_ns``."""
    cycles = (period_ns * (freq // 1000)) // 1000000  # period_ns * freq / 1e9 without floats
    delay = cycles - high_cycles - overhead
    if delay < 0:
        delay = 0
    return count - 1, delay


def period_cycles(delay, high_cycles, overhead=4):
    """Inverse of pio_words: PIO cycles per step for a delay-loop value."""
    return delay + high_cycles + overhead
