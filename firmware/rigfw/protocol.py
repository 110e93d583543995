# The wire format of the rig's Pico step generator (see firmware/PROTOCOL.md, the single
# source of truth; tests keep the two in step). Plain Python that runs under CPython and
# MicroPython: no typing, no f-strings, no dataclasses.

PROTO_VERSION = 1
FW_VERSION = "0.1.0"
FW_NAME = "rig-pico"

MAX_LINE = 80  # characters before the terminating newline
PARTIAL_MS = 200  # a half line older than this is dropped
REPORT_MS = 50  # POS events while moving
POS_LIMIT = 1000000000  # |position| and |target| in steps
WDOG_DEFAULT_MS = 1000
WDOG_MIN_MS = 50
WDOG_MAX_MS = 60000
SHUTTER_MAX_MS = 600000
SEQ_MAX_DIGITS = 9

# error codes (the first word after ERR)
E_SYNTAX = "SYNTAX"  # unknown command, wrong argument count, not an integer
E_RANGE = "RANGE"  # an argument is outside its allowed range
E_TOOLONG = "TOOLONG"  # line longer than MAX_LINE
E_ENCODING = "ENCODING"  # a control byte (other than TAB and CR) or a non-ASCII byte in the line
E_TIMEOUT = "TIMEOUT"  # half line followed by silence, dropped
E_BUSY = "BUSY"  # not allowed while moving / while the shutter is held
E_FAULT = "FAULT"  # a latched fault (ESTOP, WATCHDOG) forbids motion until ENABLE 1
E_LIMIT = "LIMIT"  # the move would drive further into a pressed limit switch
ERROR_CODES = (E_SYNTAX, E_RANGE, E_TOOLONG, E_ENCODING, E_TIMEOUT, E_BUSY, E_FAULT, E_LIMIT)

# reasons a move ends (DONE <pos> <reason>)
R_TARGET = "TARGET"
R_STOP = "STOP"
R_ESTOP = "ESTOP"
R_LIMIT = "LIMIT"
R_WATCHDOG = "WATCHDOG"
DONE_REASONS = (R_TARGET, R_STOP, R_ESTOP, R_LIMIT, R_WATCHDOG)

# command verb -> number of integer arguments
COMMANDS = {
    "ID": 0,
    "PING": 0,
    "MOVE": 3,
    "STOP": 0,
    "ESTOP": 0,
    "ENABLE": 1,
    "SHUTTER": 2,
    "POS": 0,
    "SETPOS": 1,
    "STATUS": 0,
    "WATCHDOG": 1,
    "REPL": 0,
}


class ProtocolError(Exception):
    """A line that cannot be a command. ``code`` is one of ERROR_CODES."""

    def __init__(self, code, text, seq=None):
        super().__init__(text)
        self.code = code
        self.text = text
        self.seq = seq


def check_range(value, lo, hi, what, seq=None):
    """Return ``value`` if lo <= value <= hi, else raise ProtocolError(RANGE)."""
    if value < lo or value > hi:
        raise ProtocolError(E_RANGE, "%s %d outside %d..%d" % (what, value, lo, hi), seq)
    return value


def parse_command(line):
    """Split an ASCII line into (seq or None, VERB, [int args]). Raises ProtocolError."""
    words = line.split()
    seq = None
    if words and words[0].isdigit():
        if len(words[0]) > SEQ_MAX_DIGITS:
            raise ProtocolError(E_SYNTAX, "sequence number too long")
        seq = words[0]
        words = words[1:]
    if not words:
        raise ProtocolError(E_SYNTAX, "missing command", seq)
    verb = words[0].upper()
    if verb not in COMMANDS:
        raise ProtocolError(E_SYNTAX, "unknown command " + words[0][:16], seq)
    want = COMMANDS[verb]
    if len(words) - 1 != want:
        raise ProtocolError(E_SYNTAX, "%s takes %d argument(s), got %d" % (verb, want, len(words) - 1), seq)
    args = []
    for tok in words[1:]:
        digits = tok[1:] if tok[:1] == "-" else tok
        if not digits or not digits.isdigit() or len(digits) > 10:
            raise ProtocolError(E_SYNTAX, "%s: expected an integer, got %s" % (verb, tok[:16]), seq)
        args.append(int(tok))
    return seq, verb, args


def reply_ok(seq, fields=""):
    head = "OK" if seq is None else seq + " OK"
    return head + (" " + fields if fields else "")


def reply_err(seq, code, text):
    head = "ERR" if seq is None else seq + " ERR"
    return head + " " + code + " " + text


class LineReader:
    """Assembles bytes into lines, safely.

    ``feed(data, now_ms)`` returns a list of items: a str (a clean ASCII line, stripped) or a
    ProtocolError (over-long line, non-ASCII bytes). ``expire(now_ms, diff)`` drops a half
    line that has been silent for PARTIAL_MS and returns a ProtocolError, or None. The
    buffer never grows beyond MAX_LINE bytes, whatever arrives.
    """

    def __init__(self, max_line=MAX_LINE, partial_ms=PARTIAL_MS):
        self.max_line = max_line
        self.partial_ms = partial_ms
        self.buf = bytearray()
        self.overflow = False
        self.bad = False
        self.last_ms = 0
        self.pending = False  # bytes since the last newline (buffered or discarded)

    def feed(self, data, now_ms):
        out = []
        if data:
            self.last_ms = now_ms
        for b in data:
            if b == 10:  # '\n' ends a line
                out_item = self._finish()
                if out_item is not None:
                    out.append(out_item)
                continue
            self.pending = True
            if b == 13 or b == 9:  # CR ignored, TAB is a space
                b = 32 if b == 9 else -1
                if b < 0:
                    continue
            if b < 32 or b > 126:
                self.bad = True
                continue
            if len(self.buf) >= self.max_line:
                self.overflow = True
                continue
            self.buf.append(b)
        return out

    def _finish(self):
        item = None
        if self.overflow:
            item = ProtocolError(E_TOOLONG, "line longer than %d characters dropped" % self.max_line)
        elif self.bad:
            item = ProtocolError(E_ENCODING, "non-ASCII or control bytes; line dropped")
        else:
            line = bytes(self.buf).decode().strip()
            if line:
                item = line
        self._reset()
        return item

    def _reset(self):
        self.buf = bytearray()
        self.overflow = False
        self.bad = False
        self.pending = False

    def expire(self, now_ms, diff):
        if self.pending and diff(now_ms, self.last_ms) >= self.partial_ms:
            self._reset()
            return ProtocolError(E_TIMEOUT, "half line dropped after %d ms of silence" % self.partial_ms)
        return None
