# Protocol, planner, watchdog and the firmware loop on the behavioural hardware model.
# The SAME file runs under CPython (pytest) and MicroPython (``micropython`` + fwtest.run);
# so: plain asserts, no fixtures, no f-strings, no typing.
from rigfw import protocol as P
from rigfw.clock import ManualClock
from rigfw.core import Firmware
from rigfw.planner import Ramp, period_cycles, pio_words
from rigfw.simhw import SimHW
from rigfw.watchdog import Watchdog


class Rig:
    """Firmware + SimHW + a hand-moved clock; ``send`` returns the lines written back."""

    def __init__(self):
        self.clock = ManualClock()
        self.hw = SimHW(self.clock.us)
        self.out = []
        self.fw = Firmware(self.hw, self.clock, self.out.append, max_rate=20000, max_accel=1000000)

    def send(self, data):
        n = len(self.out)
        if isinstance(data, str):
            data = data.encode()
        self.fw.feed(data)
        return self.out[n:]

    def run(self, ms):
        n = len(self.out)
        for _ in range(int(ms)):
            self.clock.advance(1)
            self.fw.poll()
        return self.out[n:]

    def run_until_done(self, limit_ms=20000):
        n = len(self.out)
        for _ in range(limit_ms):
            self.clock.advance(1)
            self.fw.poll()
            if self.fw.move is None:
                return self.out[n:]
        raise AssertionError("move did not finish")


def done_line(lines):
    found = [ln for ln in lines if ln.startswith("DONE ")]
    assert len(found) == 1, lines
    return found[0].split()


# ------------------------------------------------------------------ protocol
def test_parse_command_with_and_without_sequence_numbers():
    assert P.parse_command("MOVE 10 -20 30") == (None, "MOVE", [10, -20, 30])
    assert P.parse_command("17 ping") == ("17", "PING", [])
    assert P.parse_command("  5   STATUS  ") == ("5", "STATUS", [])
    for bad, code in (("", P.E_SYNTAX), ("7", P.E_SYNTAX), ("FLY", P.E_SYNTAX), ("MOVE 1 2", P.E_SYNTAX),
                      ("MOVE 1 2 x", P.E_SYNTAX), ("MOVE 1 2 3.5", P.E_SYNTAX), ("MOVE 1 2 --3", P.E_SYNTAX),
                      ("MOVE 1 2 12345678901", P.E_SYNTAX), ("1234567890 PING", P.E_SYNTAX)):  # fmt: skip
        try:
            P.parse_command(bad)
        except P.ProtocolError as e:
            assert e.code == code, (bad, e.code)
        else:
            raise AssertionError("accepted " + bad)
    assert P.reply_ok("3", "x=1") == "3 OK x=1" and P.reply_ok(None) == "OK"
    assert P.reply_err("3", P.E_RANGE, "too big") == "3 ERR RANGE too big"


def test_line_reader_bounds_and_cleans_input():
    r = P.LineReader()
    assert r.feed(b"PING\r\n\n  \nID\tx\n", 0) == ["PING", "ID x"]
    items = r.feed(b"A" * 5000 + b"\nPING\n", 0)
    assert items[0].code == P.E_TOOLONG and items[1] == "PING"
    assert len(r.buf) == 0
    r.feed(b"B" * 100000, 0)
    assert len(r.buf) == P.MAX_LINE  # never grows past the maximum
    assert r.feed(b"\n", 0)[0].code == P.E_TOOLONG
    items = r.feed(b"MOVE \xc3\xa9 1\nPI\x00NG\nOK\n", 0)
    assert [i.code for i in items[:2]] == [P.E_ENCODING, P.E_ENCODING] and items[2] == "OK"
    r.feed(b"MOVE 10", 1000)
    diff = ManualClock().diff
    assert r.expire(1000 + P.PARTIAL_MS - 1, diff) is None
    assert r.expire(1000 + P.PARTIAL_MS, diff).code == P.E_TIMEOUT
    assert r.expire(5000, diff) is None
    assert r.feed(b"PING\n", 5000) == ["PING"]


# ------------------------------------------------------------------ planner
def check_ramp(steps, rate, accel):
    ramp = Ramp(steps, rate, accel)
    total = 0
    speeds = []
    while True:
        seg = ramp.next_segment()
        if seg is None:
            break
        count, period_ns = seg
        assert count >= 1
        total += count
        speeds.append(1e9 / period_ns)
    assert total == steps, (steps, total)
    assert max(speeds or [0]) <= rate * 1.001
    assert speeds[0] <= max(rate / 8.0, ramp.v_floor) * 1.001  # no jump from rest to full speed
    dv = accel * ramp.dt
    for a, b in zip(speeds[:-1], speeds[1:]):
        assert b - a <= dv * 1.01 + ramp.v_floor, (a, b)  # never accelerates faster than asked
    return speeds


def test_ramp_counts_are_exact_and_respect_rate_and_acceleration():
    for steps, rate, accel in ((1, 100, 100), (7, 20000, 1000000), (12345, 8000, 40000), (100000, 20000, 200000),
                               (3, 5, 1), (500, 20000, 50)):  # fmt: skip
        check_ramp(steps, rate, accel)
    speeds = check_ramp(200000, 10000, 50000)
    assert max(speeds) == 10000  # reaches the cruise rate
    assert speeds[-1] < 1500  # and ramps down at the end


def test_ramp_stop_decelerates_and_keeps_counts_exact():
    ramp = Ramp(1000000, 10000, 50000)
    planned = 0
    for _ in range(100):
        planned += ramp.next_segment()[0]
    assert abs(ramp.v - 10000) < 1
    new_total = ramp.stop()
    assert new_total - planned == int(10000 * 10000 / (2 * 50000))  # v^2 / 2a
    assert ramp.stop() == new_total  # idempotent
    rest = []
    while not ramp.finished():
        rest.append(ramp.next_segment())
    assert planned + sum(c for c, _ in rest) == new_total
    assert 1e9 / rest[-1][1] < 1500
    ramp = Ramp(1000, 10000, 50000)
    ramp.next_segment()
    ramp.stop()
    assert ramp.total < 1000


def test_pio_words_match_the_step_program_timing():
    # 1000 steps/s at 10 MHz: 10000 cycles per step = 30 high + d + 4
    assert pio_words(5, 1000000, 10000000, 30) == (4, 10000 - 34)
    assert period_cycles(10000 - 34, 30) == 10000
    assert pio_words(1, 100, 10000000, 30) == (0, 0)  # faster than the program can go: clamps


# ------------------------------------------------------------------ watchdog
def test_watchdog_fires_once_per_silence_and_only_when_armed():
    wd = Watchdog(100, ManualClock().diff)
    assert not wd.check(1000, True)  # never fed: the host never spoke
    wd.feed(1000)
    assert not wd.check(1099, True)
    assert not wd.check(1200, False)
    assert wd.check(1200, True)
    assert not wd.check(1300, True)
    wd.feed(1300)
    assert not wd.check(1350, True) and wd.check(1400, True)


# ------------------------------------------------------------------ the firmware loop
def test_id_reports_version_and_constants():
    rig = Rig()
    line = rig.send("1 ID\n")[0]
    assert line.startswith("1 OK rig-pico proto=%d fw=%s " % (P.PROTO_VERSION, P.FW_VERSION))
    assert "max_rate=20000" in line and "max_line=80" in line and "wdog_ms=1000" in line
    assert rig.send("PING\n") == ["OK"]


def test_move_runs_exact_steps_with_position_reports():
    rig = Rig()
    assert rig.send("1 MOVE 5000 20000 200000\n") == ["1 OK"]
    assert rig.hw.enabled
    lines = []
    for _ in range(10):
        lines += rig.run(100)
        rig.send("PING\n")
    assert done_line(lines) == ["DONE", "5000", "TARGET"]
    assert rig.hw.position == 5000 and rig.hw.pulses == 5000 and rig.fw.pos == 5000
    reports = [int(ln.split()[1]) for ln in lines if ln.startswith("POS ")]
    assert len(reports) >= 3 and reports == sorted(reports)
    assert rig.send("2 MOVE -300 20000 1000000\n") == ["2 OK"]
    rig.run(400)
    assert rig.fw.pos == -300 and rig.hw.pulses == 10300
    assert rig.send("3 MOVE -300 1000 1000\n") == ["3 OK", "DONE -300 TARGET"]


def test_stop_decelerates_to_an_exact_position():
    rig = Rig()
    rig.send("MOVE 100000 20000 100000\n")
    rig.run(300)
    rig.send("STOP\n")
    at_stop = rig.hw.pulses
    assert rig.send("STATUS\n")[0].startswith("OK state=STOPPING")
    lines = rig.run_until_done()
    pos = int(done_line(lines)[1])
    assert done_line(lines)[2] == "STOP" and pos == rig.hw.position == rig.fw.pos
    # decelerating from 20000 steps/s at 100000 steps/s^2 takes 2000 steps, plus the queue
    assert 1500 < pos - at_stop < 2000 + 4 * 160 + 10
    assert rig.send("STOP\n") == ["OK"] and rig.hw.enabled


def test_estop_stops_at_once_and_latches_until_enable():
    rig = Rig()
    rig.send("MOVE 100000 20000 100000\n")
    rig.send("SHUTTER 0 5000\n")
    rig.run(200)
    lines = rig.send("9 ESTOP\n")
    assert lines[0] == "9 OK" and lines[1] == "DONE %d ESTOP" % rig.hw.position
    assert not rig.hw.enabled and not rig.hw.shutter and not rig.hw.focus
    pulses = rig.hw.pulses
    rig.run(50)
    assert rig.hw.pulses == pulses
    assert rig.send("MOVE 0 100 100\n")[0].startswith("ERR FAULT ESTOP")
    assert "fault=ESTOP" in rig.send("STATUS\n")[0]
    assert rig.send("ENABLE 1\n") == ["OK"] and rig.hw.enabled
    assert rig.send("MOVE 0 20000 100000\n") == ["OK"]
    rig.run_until_done()
    assert rig.hw.position == 0


def test_limit_switch_stops_releases_and_blocks_that_direction():
    rig = Rig()
    rig.hw.hi_at = 700
    rig.send("MOVE 5000 20000 100000\n")
    lines = rig.run_until_done()
    assert done_line(lines) == ["DONE", "700", "LIMIT"] and rig.hw.pulses == 700 and not rig.hw.enabled
    lines = rig.send("MOVE 800 100 100\n")
    assert lines[0].startswith("ERR LIMIT") and rig.hw.pulses == 700
    assert "hi=1" in rig.send("STATUS\n")[0]
    assert rig.send("MOVE 600 20000 100000\n") == ["OK"] and rig.hw.enabled
    rig.run_until_done()
    assert rig.hw.position == 600 and not rig.hw.limit_hi()


def test_watchdog_decelerates_disables_releases_and_reports_when_host_returns():
    rig = Rig()
    rig.send("WATCHDOG 100\n")
    rig.send("SHUTTER 10 100000\n")
    rig.send("MOVE 100000 20000 100000\n")
    rig.run(60)
    assert rig.hw.shutter and rig.hw.focus
    lines = rig.run(3000)  # the host says nothing
    done = done_line(lines)
    assert done[2] == "WATCHDOG" and int(done[1]) == rig.hw.position < 100000
    assert not rig.hw.enabled and not rig.hw.shutter and not rig.hw.focus
    assert not [ln for ln in lines if ln.startswith("FAULT")]  # not yet: the host is away
    lines = rig.send("4 PING\n")
    assert lines == ["FAULT WATCHDOG %d" % rig.hw.position, "4 OK"]
    assert rig.send("5 PING\n") == ["5 OK"]  # reported once
    assert rig.send("6 MOVE 0 100 100\n")[0].startswith("6 ERR FAULT WATCHDOG")
    rig.send("ENABLE 1\n")
    assert rig.send("MOVE 0 20000 100000\n") == ["OK"]


def test_watchdog_releases_a_held_shutter_when_idle():
    rig = Rig()
    rig.send("WATCHDOG 100\n")
    rig.send("ENABLE 1\n")
    rig.send("SHUTTER 0 60000\n")
    assert rig.hw.shutter and rig.hw.focus
    rig.run(99)
    assert rig.hw.shutter
    rig.run(2)
    assert not rig.hw.shutter and not rig.hw.focus and not rig.hw.enabled


def test_pings_keep_the_watchdog_quiet_but_garbage_does_not():
    rig = Rig()
    rig.send("WATCHDOG 100\n")
    rig.send("MOVE 100000 2000 100000\n")
    for _ in range(20):
        rig.run(50)
        rig.send("PING\n")
    assert rig.fw.fault is None and rig.fw.move is not None
    for _ in range(10):
        rig.run(30)
        rig.send("PONG\n")  # not a command: does not feed the watchdog
    assert rig.fw.fault == "WATCHDOG"


def test_shutter_sequence_always_releases_itself():
    rig = Rig()
    assert rig.send("SHUTTER 300 150\n") == ["OK"]
    assert rig.hw.focus and not rig.hw.shutter
    rig.run(299)
    rig.send("PING\n")
    assert rig.hw.focus and not rig.hw.shutter
    rig.run(1)
    assert rig.hw.shutter
    rig.send("PING\n")
    assert rig.send("SHUTTER 10 10\n")[0].startswith("ERR BUSY")
    assert rig.run(150) == ["SHOT"]
    assert not rig.hw.shutter and not rig.hw.focus
    rig.send("SHUTTER 1000 1000\n")
    assert rig.send("SHUTTER 0 0\n") == ["OK", "SHOT"] and not rig.hw.focus


BAD = (
    ("MOVE\n", "SYNTAX"), ("MOVE 1 2\n", "SYNTAX"), ("MOVE 1 2 3 4\n", "SYNTAX"), ("MOVE a 2 3\n", "SYNTAX"),
    ("MOVE 1.5 2 3\n", "SYNTAX"), ("MOVE 0x10 2 3\n", "SYNTAX"), ("MOVE 1000000001 10 10\n", "RANGE"),
    ("MOVE -1000000001 10 10\n", "RANGE"), ("MOVE 10 0 10\n", "RANGE"), ("MOVE 10 20001 10\n", "RANGE"),
    ("MOVE 10 10 0\n", "RANGE"), ("MOVE 10 10 1000001\n", "RANGE"), ("MOVE 10 -5 10\n", "RANGE"),
    ("ENABLE 2\n", "RANGE"), ("ENABLE\n", "SYNTAX"), ("SHUTTER 1\n", "SYNTAX"), ("SHUTTER -1 5\n", "RANGE"),
    ("SHUTTER 5 600001\n", "RANGE"), ("WATCHDOG 49\n", "RANGE"), ("WATCHDOG 60001\n", "RANGE"),
    ("SETPOS 1000000001\n", "RANGE"), ("PING 1\n", "SYNTAX"), ("JUMP 5\n", "SYNTAX"), ("42\n", "SYNTAX"),
    ("\xe9MOVE 1 1 1\n", "ENCODING"), ("MOVE 1 1 1\x07\n", "ENCODING"), ("MOVE " + "9" * 90 + "\n", "TOOLONG"),
)  # fmt: skip


def test_every_malformed_or_out_of_range_command_gets_err_and_never_moves():
    for line, code in BAD:
        rig = Rig()
        lines = rig.send(line)
        words = lines[0].split() if len(lines) == 1 else []
        assert "ERR" in words and words[words.index("ERR") + 1] == code, (line, lines)
        if code in ("SYNTAX", "RANGE") and line[0].isalpha():  # parsed far enough to echo the number
            lines = rig.send("8 " + line)
            assert lines[0].split()[:3] == ["8", "ERR", code], (line, lines)
        rig.run(50)
        assert rig.hw.pulses == 0 and not rig.hw.enabled and rig.fw.move is None, line


def test_half_line_then_silence_is_dropped_and_the_next_command_works():
    rig = Rig()
    assert rig.send("MOVE 500 2") == []
    assert rig.run(P.PARTIAL_MS + 5) == ["ERR TIMEOUT half line dropped after %d ms of silence" % P.PARTIAL_MS]
    assert rig.send("1 PING\n") == ["1 OK"] and rig.hw.pulses == 0


def test_random_garbage_never_moves_the_motor_or_wedges_the_loop():
    rig = Rig()
    seed = 12345
    data = bytearray()
    for _ in range(20000):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        data.append((seed >> 16) & 0xFF)
    for i in range(0, len(data), 97):
        rig.send(bytes(data[i : i + 97]))
        rig.run(1)
    rig.run(300)
    assert rig.hw.pulses == 0 and rig.fw.move is None
    assert rig.send("\n7 STATUS\n")[-1].startswith("7 OK state=IDLE pos=0")
    assert len(rig.fw.reader.buf) == 0


def test_setpos_and_busy_rules():
    rig = Rig()
    assert rig.send("SETPOS 1234\n") == ["OK"] and rig.send("POS\n") == ["OK 1234"]
    rig.send("MOVE 5000 1000 1000\n")
    assert rig.send("SETPOS 0\n")[0].startswith("ERR BUSY")
    assert rig.send("MOVE 0 1000 1000\n")[0].startswith("ERR BUSY")
    assert rig.send("ENABLE 0\n")[0].startswith("ERR BUSY")
    assert rig.send("REPL\n")[0].startswith("ERR BUSY")
    rig.send("ESTOP\n")
    assert rig.send("REPL\n") == ["OK"] and rig.fw.exit_requested


if __name__ == "__main__":
    import fwtest

    fwtest.run(globals())
