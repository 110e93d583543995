"""A fake Cognisys StackShot on a pty pair, speaking the real binary frames.

The code under test opens ``fake.port`` (the pty's slave side) with the real ``serial.Serial``;
the fake reads and answers on the master side in a thread, decoding every host frame with
the frame codec's *decoder side*, and moves a simulated carriage at ``speed_mm_s``.

Faults: ``unplug()`` closes the master (the host's next read/write fails with EIO, as when the
USB cable is pulled), ``go_silent()`` stops answering, ``keypad_abort()`` stops the carriage
as a user pressing the keypad would, ``busy_next`` answers BUSY a number of times.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty

from rig.motion import stackshot_frames as ss


class FakeStackShot:
    def __init__(self, speed_mm_s: float = 20.0, start_mm: float = 0.0, firmware: str = "StackShot fake 3.0") -> None:
        self.speed_mm_s = speed_mm_s
        self.firmware = firmware
        self.frames: list[ss.Frame] = []  # every host frame received, decoded
        self.registers: dict[int, bytes] = {}
        self.shots = 0
        self.busy_next = 0
        self.unplug_during_move: int | None = None  # pull the cable while this move (1-based) runs
        self._moves = 0
        self._pos = start_mm
        self._move: tuple[float, float, float] | None = None  # (t0, start_mm, end_mm)
        self._shutter_until = 0.0
        self._keypad = False
        self._silent = False
        self._lock = threading.Lock()
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave  # kept open so the pty survives until the host opens it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-stackshot", daemon=True)
        self._thread.start()

    # -- the simulated carriage ----------------------------------------------------------
    def position_mm(self) -> float:
        with self._lock:
            return self._position_locked()

    def _position_locked(self) -> float:
        if self._move is None:
            return self._pos
        t0, start, end = self._move
        travelled = (time.monotonic() - t0) * self.speed_mm_s
        if travelled >= abs(end - start):
            self._pos, self._move = end, None
            return end
        return start + travelled * (1 if end > start else -1)

    def _halt(self) -> None:
        self._pos = self._position_locked()
        self._move = None

    # -- faults ----------------------------------------------------------------------------
    def unplug(self) -> None:
        self._stop.set()
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self.master = self._slave = -1

    def go_silent(self) -> None:
        self._silent = True

    def keypad_abort(self) -> None:
        with self._lock:
            self._halt()
            self._keypad = True

    def close(self) -> None:
        self.unplug()
        self._thread.join(2)

    # -- protocol --------------------------------------------------------------------------
    def commands(self) -> list[int]:
        return [f.cmd for f in self.frames]

    def _serve(self) -> None:
        buf = bytearray()
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.02)
                if not ready:
                    continue
                chunk = os.read(self.master, 256)
            except (OSError, ValueError):
                return
            buf += chunk
            while True:
                frame, used = ss.decode(buf, sync=ss.HOST_SYNC)
                del buf[:used]
                if frame is None:
                    break
                self.frames.append(frame)
                if not self._silent:
                    self._answer(frame)

    def _reply(self, frame: ss.Frame, code: int, data: bytes = b"") -> None:
        body = ss.encode(frame.cmd, code, data, axis=frame.axis, sync=ss.REPLY_SYNC)[:-1]
        try:
            os.write(self.master, body + bytes([ss.reply_checksum(body)]))
        except OSError:
            pass

    def _answer(self, f: ss.Frame) -> None:
        if self.busy_next:
            self.busy_next -= 1
            return self._reply(f, ss.BUSY)
        with self._lock:
            self._position_locked()  # ends a finished move
            moving = self._move is not None
            if f.cmd == ss.SOFTWARE_STRING and f.action == ss.READ:
                return self._reply(f, ss.RSP_OK, self.firmware.encode())
            if f.cmd == ss.STATUS and f.action == ss.READ:
                bits = (ss.ST_MOVING if moving else 0) | (
                    ss.ST_SHUTTER if time.monotonic() < self._shutter_until else 0
                )
                bits |= ss.ST_KEYPAD_ABORT if self._keypad else 0
                self._keypad = False  # reported once
                return self._reply(f, ss.RSP_OK, ss.status_payload(bits))
            if f.cmd == ss.POSITION_CURRENT and f.action == ss.READ:
                units = f.data[0] if f.data else ss.MM
                if units != ss.MM:
                    return self._reply(f, ss.BAD_PARAM)
                return self._reply(f, ss.RSP_OK, ss.position_payload(ss.MM, self._position_locked()))
            if f.cmd == ss.RAIL_MOVE and f.action == ss.WRITE:
                if len(f.data) != 7:
                    return self._reply(f, ss.BAD_PARAM)
                direction, units, _, distance = ss.parse_move(f.data)
                if units != ss.MM or direction not in (ss.FORWARD, ss.BACKWARD) or distance < 0:
                    return self._reply(f, ss.BAD_PARAM)
                if moving:
                    return self._reply(f, ss.BUSY)
                start = self._position_locked()
                end = start + (distance if direction == ss.FORWARD else -distance)
                self._move = (time.monotonic(), start, end)
                self._moves += 1
                if self._moves == self.unplug_during_move:
                    threading.Timer(0.5 * abs(end - start) / self.speed_mm_s, self.unplug).start()
                return self._reply(f, ss.RSP_OK)
            if f.cmd == ss.STOP and f.action == ss.WRITE:
                self._halt()
                return self._reply(f, ss.RSP_OK)
            if f.cmd == ss.POSITION_ZERO and f.action == ss.WRITE:
                self._halt()
                self._pos = 0.0
                return self._reply(f, ss.RSP_OK)
            if f.cmd == ss.SHUTTER_FIRE and f.action == ss.WRITE:
                count, on_s, off_s = ss.parse_shutter(f.data)
                self.shots += count
                self._shutter_until = time.monotonic() + count * (on_s + off_s)
                return self._reply(f, ss.RSP_OK)
            if (
                f.cmd in (ss.RAIL_CONFIG_SPEED, ss.RAIL_CONFIG_RAMP_TIME, ss.RAIL_CONFIG_BACKLASH)
                and f.action == ss.WRITE
            ):
                self.registers[f.cmd] = f.data
                return self._reply(f, ss.RSP_OK)
            if f.cmd == ss.CLOSE and f.action == ss.WRITE:
                self._halt()
                return self._reply(f, ss.RSP_OK)
        return self._reply(f, ss.UNSUPPORTED_CMD)
