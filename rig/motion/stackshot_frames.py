"""Cognisys StackShot binary frames: encoding host frames and decoding controller replies.

Host -> controller: ``0x55 cmd_hi cmd_lo action len data[len] trailer``
Controller -> host: ``0xAA cmd_hi cmd_lo action len data[len] checksum``

``action``: low nibble is the action (host) or response code (controller), high nibble the
axis. Numbers are little-endian; distances, times and speeds are float32. The trailer and
checksum algorithms are unverified: hosts send a constant and the controller accepts it, and
we do not check the controller's byte. See docs/hardware/stackshot.md.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HOST_SYNC = 0x55
REPLY_SYNC = 0xAA

# action / response codes (low nibble)
READ, WRITE, RSP_OK, BAD_PARAM, UNSUPPORTED_ACTION, UNSUPPORTED_CMD, FAILED, NOT_EMPTY, BUSY = range(9)
RESPONSE_NAMES = {
    RSP_OK: "ok",
    BAD_PARAM: "bad parameter",
    UNSUPPORTED_ACTION: "unsupported action",
    UNSUPPORTED_CMD: "unsupported command",
    FAILED: "failed",
    NOT_EMPTY: "not empty",
    BUSY: "busy",
}

# units byte
MILS, MM, STEPS, DEGREES = range(4)

# commands
RAIL_MOVE = 0x1000  # WRITE dir u8, units u8, backlash_comp u8, distance f32
POSITION_CURRENT = 0x1002  # READ [units] -> [units, f32]
POSITION_ZERO = 0x1003  # WRITE
SHUTTER_FIRE = 0x1004  # WRITE count u16, on_time f32, off_time f32
STATUS = 0x1005  # READ -> u32 bit field
STOP = 0x1006  # WRITE
MOVE_AT_SPEED = 0x1007  # WRITE dir u8, units u8, distance f32, speed fraction f32 (StackShot 3X)
# Settings registers. The family starts at 0x1080; the exact offsets below are UNVERIFIED
# (the vendor's command reference is not available) and are only written when configured.
RAIL_CONFIG_DISTANCE_PER_REV = 0x1080  # [units, f32]
RAIL_CONFIG_BACKLASH = 0x1081  # [STEPS, f32]
RAIL_CONFIG_SPEED = 0x1082  # [STEPS, f32 steps/s]
RAIL_CONFIG_RAMP_TIME = 0x1083  # f32 s
RAIL_CONFIG_HOLDING_TORQUE = 0x1084  # u8 0..10
SOFTWARE_STRING = 0x1102  # READ -> ASCII
SERIAL_NUMBER = 0x1107  # READ
CLOSE = 0x110E  # WRITE, before closing the port

# STATUS bits
ST_MOVING, ST_SHUTTER, ST_KEYPAD_ABORT = 0x1, 0x2, 0x4

FORWARD, BACKWARD = 0, 1
HEADER_LEN = 5


class FrameError(ValueError):
    """Bytes that are not a well-formed frame."""


@dataclass(frozen=True)
class Frame:
    sync: int
    cmd: int
    action: int  # low nibble
    axis: int  # high nibble
    data: bytes
    trailer: int

    @property
    def ok(self) -> bool:
        return self.action == RSP_OK


def encode(
    cmd: int, action: int, data: bytes = b"", axis: int = 0, trailer: int = 0x69, sync: int = HOST_SYNC
) -> bytes:
    """One frame; ``sync`` is 0x55 for host frames (0xAA when a fake controller replies)."""
    if not 0 <= cmd <= 0xFFFF or not 0 <= action <= 0xF or not 0 <= axis <= 0xF:
        raise FrameError(f"bad frame fields cmd={cmd:#x} action={action} axis={axis}")
    if len(data) > 255:
        raise FrameError("frame payload longer than 255 bytes")
    return bytes([sync, cmd >> 8, cmd & 0xFF, (axis << 4) | action, len(data)]) + data + bytes([trailer & 0xFF])


def reply_checksum(frame_without_checksum: bytes) -> int:
    """What our fake controller sends as the reply's last byte (sum of the bytes, mod 256).

    The real controller's algorithm is unverified; the host does not check it."""
    return sum(frame_without_checksum) & 0xFF


def decode(buf: bytes | bytearray, sync: int = REPLY_SYNC) -> tuple[Frame | None, int]:
    """Decode the first frame in ``buf``. Returns ``(frame, bytes_consumed)``.

    ``(None, n)``: need more bytes after skipping ``n`` bytes of line noise before a sync byte.
    """
    start = 0
    while start < len(buf) and buf[start] != sync:
        start += 1
    if len(buf) - start < HEADER_LEN + 1:
        return None, start
    length = buf[start + 4]
    end = start + HEADER_LEN + length + 1
    if len(buf) < end:
        return None, start
    raw = bytes(buf[start:end])
    return Frame(
        sync=raw[0],
        cmd=(raw[1] << 8) | raw[2],
        action=raw[3] & 0xF,
        axis=raw[3] >> 4,
        data=raw[HEADER_LEN:-1],
        trailer=raw[-1],
    ), end


# -- payloads --------------------------------------------------------------------------
def move_payload(direction: int, units: int, distance: float, backlash_comp: bool = False) -> bytes:
    return struct.pack("<BBBf", direction, units, 1 if backlash_comp else 0, distance)


def parse_move(data: bytes) -> tuple[int, int, bool, float]:
    direction, units, comp, distance = struct.unpack("<BBBf", data)
    return direction, units, bool(comp), distance


def position_payload(units: int, value: float) -> bytes:
    return struct.pack("<Bf", units, value)


def parse_position(data: bytes) -> tuple[int, float]:
    if len(data) != 5:
        raise FrameError(f"position reply has {len(data)} bytes, expected 5")
    units, value = struct.unpack("<Bf", data)
    return units, value


def shutter_payload(count: int, on_s: float, off_s: float) -> bytes:
    return struct.pack("<Hff", count, on_s, off_s)


def parse_shutter(data: bytes) -> tuple[int, float, float]:
    return struct.unpack("<Hff", data)


def status_payload(bits: int) -> bytes:
    return struct.pack("<I", bits)


def parse_status(data: bytes) -> int:
    if len(data) != 4:
        raise FrameError(f"status reply has {len(data)} bytes, expected 4")
    bits: int = struct.unpack("<I", data)[0]
    return bits


def f32(value: float) -> bytes:
    return struct.pack("<f", value)


def units_f32(units: int, value: float) -> bytes:
    return struct.pack("<Bf", units, value)
