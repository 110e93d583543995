# A behavioural model of the Pico hardware layer (rigfw.hw) for tests and the host's pty
# harness: step pulses are counted from a clock, limit switches sit at step positions.
# Plain Python for CPython and MicroPython. Not needed on the board.

FIFO_SEGMENTS = 4  # the PIO TX FIFO (8 words joined) holds four (count, delay) segments


class SimHW:
    def __init__(self, clock_us):
        self.clock_us = clock_us  # () -> microseconds, monotonic
        self.enabled = False
        self.forward = True
        self.focus = False
        self.shutter = False
        self.position = 0  # absolute pulses x direction (the rail's "true" position)
        self.pulses = 0  # total pulses ever emitted
        self.queue = []  # [count, period_ns] not yet finished; head is running
        self.seg_start_us = 0  # when the head segment started (relative to its pulses so far)
        self.head_done = 0
        self.done = 0  # pulses since start()
        self.lo_at = None  # step positions of the limit switches (None = no switch)
        self.hi_at = None
        self.trip_after = None  # test hook: the next move trips its limit switch after N steps
        self.limit_hit = False
        self.log = []  # (what, value) for enable/dir/focus/shutter changes

    # -- outputs
    def set_enable(self, on):
        if on != self.enabled:
            self.log.append(("enable", on))
        self.enabled = on

    def set_dir(self, forward):
        self.forward = forward
        self.log.append(("dir", forward))

    def set_focus(self, on):
        if on != self.focus:
            self.log.append(("focus", on))
        self.focus = on

    def set_shutter(self, on):
        if on != self.shutter:
            self.log.append(("shutter", on))
        self.shutter = on

    # -- step generator
    def start(self):
        self._advance()
        self.queue = []
        self.done = 0
        self.head_done = 0
        self.limit_hit = False
        if self.trip_after is not None:
            edge = self.position + (self.trip_after if self.forward else -self.trip_after)
            if self.forward:
                self.hi_at = edge
            else:
                self.lo_at = edge
            self.trip_after = None

    def push(self, count, period_ns):
        self._advance()
        if not self.queue:
            self.seg_start_us = self.clock_us()
            self.head_done = 0
        self.queue.append([count, period_ns])

    def free(self):
        self._advance()
        return FIFO_SEGMENTS - len(self.queue)

    def steps_done(self):
        self._advance()
        return self.done

    def abort(self):
        self._advance()
        self.queue = []

    def limit_event(self):
        self._advance()
        hit, self.limit_hit = self.limit_hit, False
        return hit

    def limit_lo(self):
        return self.lo_at is not None and self.position <= self.lo_at

    def limit_hi(self):
        return self.hi_at is not None and self.position >= self.hi_at

    def _advance(self):
        now = self.clock_us()
        while self.queue:
            count, period_ns = self.queue[0]
            due = (now - self.seg_start_us) * 1000 // period_ns  # pulses of this segment by now
            if due > count:
                due = count
            while self.head_done < due:
                self._pulse()
                if self.limit_hit:  # the IRQ handler stops the state machine at once
                    self.queue = []
                    return
            if self.head_done < count:
                return
            self.seg_start_us += count * period_ns // 1000
            self.queue.pop(0)
            self.head_done = 0

    def _pulse(self):
        self.head_done += 1
        self.done += 1
        self.pulses += 1
        self.position += 1 if self.forward else -1
        if (self.forward and self.limit_hi()) or (not self.forward and self.limit_lo()):
            self.limit_hit = True
