# The firmware's protocol loop, motion control and safety logic. Plain Python for CPython and
# MicroPython; the hardware is behind ``hw`` (rigfw.hw on the Pico, rigfw.simhw in tests).
#
# hw interface: set_enable(bool), set_dir(forward), set_focus(bool), set_shutter(bool),
# start() (new move: step counter to 0), push(count, period_ns), free() (segments that fit),
# steps_done() (pulses since start()), abort() (stop pulses at once), limit_event()
# (True once after a limit switch stopped the pulses), limit_lo()/limit_hi() (pressed now).

from rigfw import protocol as P
from rigfw.planner import Ramp
from rigfw.watchdog import Watchdog


class Move:
    def __init__(self, start, target, rate, accel):
        self.start = start
        self.target = target
        self.dir = 1 if target > start else -1
        self.ramp = Ramp(abs(target - start), rate, accel)
        self.reason = P.R_TARGET


class Firmware:
    def __init__(self, hw, clock, write, max_rate=50000, max_accel=2000000):
        self.hw = hw
        self.clock = clock  # .ms() and .diff(a, b)
        self.write = write  # write(str): one line, without the newline
        self.max_rate = max_rate
        self.max_accel = max_accel
        self.reader = P.LineReader()
        self.wd = Watchdog(P.WDOG_DEFAULT_MS, clock.diff)
        self.pos = 0
        self.move = None
        self.enabled = False
        self.fault = None  # None, "ESTOP" or "WATCHDOG"
        self.fault_unreported = False
        self.shot = None  # [focus_on_until_shutter_ms, release_ms] while focus/shutter held
        self.last_report = 0
        self.after = []
        self.in_command = False
        self.handlers = {
            "ID": self.cmd_id,
            "PING": self.cmd_ping,
            "MOVE": self.cmd_move,
            "STOP": self.cmd_stop,
            "ESTOP": self.cmd_estop,
            "ENABLE": self.cmd_enable,
            "SHUTTER": self.cmd_shutter,
            "POS": self.cmd_pos,
            "SETPOS": self.cmd_setpos,
            "STATUS": self.cmd_status,
            "WATCHDOG": self.cmd_watchdog,
            "REPL": self.cmd_repl,
        }
        self.exit_requested = False
        hw.set_enable(False)
        hw.set_focus(False)
        hw.set_shutter(False)

    def boot(self):
        self.write("READY %s proto=%d fw=%s" % (P.FW_NAME, P.PROTO_VERSION, P.FW_VERSION))

    # ------------------------------------------------------------------ input
    def feed(self, data):
        """Bytes from the host (any amount, any content)."""
        for item in self.reader.feed(data, self.clock.ms()):
            if isinstance(item, P.ProtocolError):
                self.write(P.reply_err(item.seq, item.code, item.text))
            else:
                self.handle_line(item)

    def handle_line(self, line):
        try:
            seq, verb, args = P.parse_command(line)
        except P.ProtocolError as e:
            self.write(P.reply_err(e.seq, e.code, e.text))
            return
        self.wd.feed(self.clock.ms())  # only well-formed commands keep the watchdog quiet
        if self.fault_unreported:
            self.fault_unreported = False
            self.write("FAULT %s %d" % (self.fault or P.R_WATCHDOG, self.pos))
        self.after = []
        self.in_command = True
        try:
            fields = self.handlers[verb](args)
            self.write(P.reply_ok(seq, fields))
        except P.ProtocolError as e:
            self.write(P.reply_err(seq, e.code, e.text))
        finally:
            self.in_command = False
        for event in self.after:  # events a command caused follow its reply
            self.write(event)
        self.after = []

    def event(self, line):
        if self.in_command:
            self.after.append(line)
        else:
            self.write(line)

    # ------------------------------------------------------------------ periodic work
    def poll(self):
        now = self.clock.ms()
        err = self.reader.expire(now, self.clock.diff)
        if err is not None:
            self.write(P.reply_err(None, err.code, err.text))
        armed = self.move is not None or self.shot is not None
        if self.wd.check(now, armed):
            self.watchdog_trip()
        if self.shot is not None:
            self.shot_tick(now)
        if self.move is not None:
            self.motion_tick(now)

    def motion_tick(self, now):
        m = self.move
        done = self.hw.steps_done()
        self.pos = m.start + m.dir * done
        if self.hw.limit_event():
            self.finish(P.R_LIMIT)
            return
        ramp = m.ramp
        while not ramp.finished() and self.hw.free() > 0:
            count, period_ns = ramp.next_segment()
            self.hw.push(count, period_ns)
        if ramp.finished() and done >= ramp.total:
            self.finish(m.reason)
        elif self.clock.diff(now, self.last_report) >= P.REPORT_MS:
            self.last_report = now
            self.write("POS %d" % self.pos)

    def finish(self, reason):
        self.move = None
        if reason == P.R_WATCHDOG or reason == P.R_ESTOP or reason == P.R_LIMIT:
            self.hw.set_enable(False)
            self.enabled = False
        self.event("DONE %d %s" % (self.pos, reason))

    def watchdog_trip(self):
        self.fault = P.R_WATCHDOG
        self.fault_unreported = True
        self.release_shot(False)
        if self.move is not None:
            self.move.reason = P.R_WATCHDOG
            self.move.ramp.stop()  # decelerate; finish() disables the driver
        else:
            self.hw.set_enable(False)
            self.enabled = False

    def shot_tick(self, now):
        shutter_at, release_at = self.shot
        if self.clock.diff(now, release_at) >= 0:
            self.release_shot(True)
        elif self.clock.diff(now, shutter_at) >= 0:
            self.hw.set_shutter(True)

    def release_shot(self, report):
        was = self.shot is not None
        self.hw.set_shutter(False)
        self.hw.set_focus(False)
        self.shot = None
        if was and report:
            self.event("SHOT")

    # ------------------------------------------------------------------ commands
    def cmd_id(self, args):
        return "%s proto=%d fw=%s max_rate=%d max_accel=%d max_line=%d report_ms=%d wdog_ms=%d" % (
            P.FW_NAME,
            P.PROTO_VERSION,
            P.FW_VERSION,
            self.max_rate,
            self.max_accel,
            P.MAX_LINE,
            P.REPORT_MS,
            self.wd.timeout_ms,
        )

    def cmd_ping(self, args):
        return ""

    def cmd_move(self, args):
        target = P.check_range(args[0], -P.POS_LIMIT, P.POS_LIMIT, "target")
        rate = P.check_range(args[1], 1, self.max_rate, "rate")
        accel = P.check_range(args[2], 1, self.max_accel, "accel")
        if self.move is not None:
            raise P.ProtocolError(P.E_BUSY, "already moving; STOP first")
        if self.fault:
            raise P.ProtocolError(P.E_FAULT, self.fault + " latched; ENABLE 1 clears it")
        dist = target - self.pos
        if (dist > 0 and self.hw.limit_hi()) or (dist < 0 and self.hw.limit_lo()):
            raise P.ProtocolError(P.E_LIMIT, "limit switch pressed in the direction of travel")
        self.hw.set_enable(True)
        self.enabled = True
        if dist == 0:
            self.event("DONE %d %s" % (self.pos, P.R_TARGET))
            return ""
        self.move = Move(self.pos, target, rate, accel)
        self.hw.set_dir(dist > 0)
        self.hw.start()
        self.last_report = self.clock.ms()
        self.motion_tick(self.last_report)  # queue the first segments now
        return ""

    def cmd_stop(self, args):
        if self.move is not None and not self.move.ramp.stopping:
            self.move.reason = P.R_STOP
            self.move.ramp.stop()
        return ""

    def cmd_estop(self, args):
        self.hw.abort()
        self.hw.set_enable(False)
        self.enabled = False
        self.release_shot(False)
        self.fault = P.R_ESTOP
        if self.move is not None:
            self.pos = self.move.start + self.move.dir * self.hw.steps_done()
            self.move = None
            self.event("DONE %d %s" % (self.pos, P.R_ESTOP))
        return ""

    def cmd_enable(self, args):
        on = P.check_range(args[0], 0, 1, "enable")
        if on:
            self.fault = None
            self.fault_unreported = False
            self.hw.set_enable(True)
            self.enabled = True
        else:
            if self.move is not None:
                raise P.ProtocolError(P.E_BUSY, "moving; STOP or ESTOP first")
            self.hw.set_enable(False)
            self.enabled = False
        return ""

    def cmd_shutter(self, args):
        focus_ms = P.check_range(args[0], 0, P.SHUTTER_MAX_MS, "focus_ms")
        shutter_ms = P.check_range(args[1], 0, P.SHUTTER_MAX_MS, "shutter_ms")
        if focus_ms == 0 and shutter_ms == 0:
            self.release_shot(True)
            return ""
        if self.shot is not None:
            raise P.ProtocolError(P.E_BUSY, "shutter already held; SHUTTER 0 0 releases it")
        now = self.clock.ms()
        self.hw.set_focus(True)
        self.shot = [now + focus_ms, now + focus_ms + shutter_ms]
        if focus_ms == 0:
            self.hw.set_shutter(True)
        return ""

    def cmd_pos(self, args):
        return "%d" % self.pos

    def cmd_setpos(self, args):
        pos = P.check_range(args[0], -P.POS_LIMIT, P.POS_LIMIT, "position")
        if self.move is not None:
            raise P.ProtocolError(P.E_BUSY, "moving")
        self.pos = pos
        return ""

    def cmd_status(self, args):
        if self.move is None:
            state = "IDLE"
        elif self.move.ramp.stopping:
            state = "STOPPING"
        else:
            state = "MOVING"
        return "state=%s pos=%d target=%d enabled=%d fault=%s lo=%d hi=%d shutter=%d wdog_ms=%d" % (
            state,
            self.pos,
            self.move.target if self.move is not None else self.pos,
            1 if self.enabled else 0,
            self.fault or "NONE",
            1 if self.hw.limit_lo() else 0,
            1 if self.hw.limit_hi() else 0,
            1 if self.shot is not None else 0,
            self.wd.timeout_ms,
        )

    def cmd_repl(self, args):
        # maintenance: main.py leaves its loop for the MicroPython REPL (mpremote), idle only
        if self.move is not None or self.shot is not None:
            raise P.ProtocolError(P.E_BUSY, "moving or shutter held")
        self.hw.set_enable(False)
        self.enabled = False
        self.exit_requested = True
        return ""

    def cmd_watchdog(self, args):
        self.wd.timeout_ms = P.check_range(args[0], P.WDOG_MIN_MS, P.WDOG_MAX_MS, "watchdog_ms")
        return ""
