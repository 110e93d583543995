"""PROTOCOL.md is the single source of truth: keep it and the code in step (CPython only)."""

import re
from pathlib import Path

import board
from rigfw import protocol as P
from rigfw import steppio
from rigfw.clock import ManualClock
from rigfw.core import Firmware
from rigfw.simhw import SimHW

DOC = (Path(__file__).resolve().parents[1] / "PROTOCOL.md").read_text()


def test_title_and_version():
    assert DOC.startswith("# rig-pico serial protocol, version %d\n" % P.PROTO_VERSION)
    assert "proto=%d fw=%s" % (P.PROTO_VERSION, P.FW_VERSION) in DOC


def test_every_command_error_code_and_reason_is_documented():
    for verb in P.COMMANDS:
        assert re.search(r"^\| `%s` \|" % verb, DOC, re.M), verb
    for code in P.ERROR_CODES:
        assert re.search(r"^\| `%s` \|" % code, DOC, re.M), code
    for reason in P.DONE_REASONS:
        assert "`%s`" % reason in DOC, reason
    table = DOC.split("## Commands")[1].split("## Events")[0]
    documented = set(re.findall(r"^\| `([A-Z]+)` \|", table, re.M))
    assert documented == set(P.COMMANDS)


def test_constants_match():
    for text in (
        "%d characters** (`MAX_LINE`)" % P.MAX_LINE,
        "%d ms (`PARTIAL_MS`)" % P.PARTIAL_MS,
        "every %d ms (`REPORT_MS`)" % P.REPORT_MS,
        "`-%d`..`%d`" % (P.POS_LIMIT, P.POS_LIMIT) + "\n(`POS_LIMIT`)",
        "%d..%d ms (`WDOG_MIN_MS`..`WDOG_MAX_MS`; default %d" % (P.WDOG_MIN_MS, P.WDOG_MAX_MS, P.WDOG_DEFAULT_MS),
        "0..%d, `SHUTTER_MAX_MS`" % P.SHUTTER_MAX_MS,
        "1 to %d digits\n(`SEQ_MAX_DIGITS`)" % P.SEQ_MAX_DIGITS,
        "at %d MHz: STEP high for %.1f µs (%d cycles)"
        % (steppio.FREQ // 1_000_000, steppio.HIGH_CYCLES / 10, steppio.HIGH_CYCLES),
        "`%d + d + %d`" % (steppio.HIGH_CYCLES, steppio.OVERHEAD),
        "segments add %d cycles" % steppio.SEGMENT_GAP,
        "(%d 000 by default, `board.MAX_RATE`)" % (board.MAX_RATE // 1000),
    ):
        assert text in DOC, text


def test_the_example_transcript_is_what_the_firmware_says():
    clock = ManualClock()
    out: list[str] = []
    fw = Firmware(SimHW(clock.us), clock, out.append, board.MAX_RATE, board.MAX_ACCEL)
    example = DOC.split("## Example")[1]
    for host, pico in (("1 ID", "1 OK rig-pico"), ("5 MOVE 1 2", "5 ERR")):
        fw.feed((host + "\n").encode())
        assert "host → " + host in example
        reply = out.pop()
        assert reply.startswith(pico) and "pico ← " + reply in example, reply


def test_framing_rules_in_the_doc_are_what_the_firmware_does():
    """TAB is a separator, CR is ignored, verbs are case-insensitive; any other control byte
    or a non-ASCII byte is ERR ENCODING. The doc says so in the framing rules and the
    ENCODING row, and the firmware does it."""
    framing = DOC.split("## Transport and framing")[1].split("## Requests and replies")[0]
    assert "**A TAB counts as a separator**" in framing
    assert "**Verbs are case-insensitive**" in framing
    assert "control byte (`0x00`..`0x1F` except TAB `0x09`, LF `0x0A` and CR `0x0D`; also `0x7F`)" in framing
    row = re.search(r"^\| `ENCODING` \| (.*) \|$", DOC, re.M).group(1)
    assert row == "a control byte (other than TAB and CR) or a non-ASCII byte in the line"

    clock = ManualClock()
    out = []
    fw = Firmware(SimHW(clock.us), clock, out.append, board.MAX_RATE, board.MAX_ACCEL)

    def reply(raw):
        n = len(out)
        fw.feed(raw)
        return out[n:]

    assert reply(b"1\tPING\n") == ["1 OK"]
    assert reply(b"\t2  \t ping\t\r\n") == ["2 OK"]
    assert reply(b"3 Pos\n") == ["3 OK 0"]
    assert reply(b"4 setpos\t-5\n") == ["4 OK"]
    assert reply(b"5 P\rOS\n") == ["5 OK -5"]  # CR anywhere is dropped
    for byte in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x80, 0xC3, 0xFF]:
        lines = reply(b"6 PING" + bytes([byte]) + b"\n")
        assert len(lines) == 1 and lines[0].startswith("ERR ENCODING"), (hex(byte), lines)
