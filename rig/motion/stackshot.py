"""Cognisys StackShot controller over USB serial (FTDI, 38400 8N1), binary frames.

The controller only knows relative moves and a position relative to its power-on point, so
the host keeps the absolute position: at connect it reads ``POSITION_CURRENT`` (in mm) and,
while a move runs, polls ``STATUS`` and ``POSITION_CURRENT`` every ``poll_s`` so ``position()``
stays live and truthful. Frames are in ``rig.motion.stackshot_frames`` and documented in
docs/hardware/stackshot.md.

Threading: every frame is exchanged on the caller's thread under a lock. ``stop()`` only sets
a flag that the poll loop turns into a STOP frame within ``poll_s``; ``estop()`` also sends
STOP itself when the link is free.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from rig.config import RailConfig
from rig.errors import BackendUnavailable, MotionError
from rig.motion import stackshot_frames as ss
from rig.motion.common import RailState

log = logging.getLogger(__name__)

BAUD = 38400
PRODUCT_NAMES = ("stackshot",)  # USB product strings "StackShot" and "StackShot3x"
BUSY_RETRIES = 3


def find_ports() -> list[str]:
    """Serial devices whose USB product or description names a StackShot."""
    try:
        from serial.tools import list_ports
    except ImportError:
        return []
    found = []
    for port in list_ports.comports():
        text = " ".join(str(x or "") for x in (port.product, port.description, port.manufacturer)).lower()
        if any(name in text for name in PRODUCT_NAMES):
            found.append(port.device)
    return found


class StackShotRail(RailState):
    """Rail protocol over a StackShot. ``port`` overrides ``rail.stackshot.port`` (tests: a pty)."""

    def __init__(self, cfg: RailConfig, port: str | None = None) -> None:
        try:
            import serial
        except ImportError as exc:
            raise BackendUnavailable(f"stackshot rail backend unavailable: {exc} (pip install pyserial)") from None
        super().__init__(cfg, "StackShot rail", "um", pos=0.0, enabled=True)  # it powers its motor itself
        self._serial_mod = serial
        self.s = cfg.stackshot
        self._lock = threading.Lock()  # one frame exchange at a time
        self._lost: str | None = None
        self._buf = bytearray()
        self.firmware = ""
        device = port or self.s.port or self._autodetect()
        try:
            self._ser = serial.Serial(
                device,
                BAUD,
                bytesize=8,
                parity="N",
                stopbits=1,
                timeout=0.05,
                write_timeout=self.s.timeout_s,
                xonxoff=False,
                rtscts=False,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise MotionError(f"cannot open the StackShot on {device}: {exc}") from None
        self.device = device
        try:
            self.firmware = self._request(ss.SOFTWARE_STRING, ss.READ).data.decode("ascii", "replace").strip("\x00 ")
            self._write_settings()
            self._refresh_position()
        except MotionError:
            self._close_port()
            self.closed = True
            raise
        log.info("StackShot on %s (%s) at %.1f um", device, self.firmware or "unknown firmware", self._pos)

    def _autodetect(self) -> str:
        ports = find_ports()
        if not ports:
            raise MotionError(
                "no StackShot found: no USB serial device named 'StackShot' (plug it in, or set rail.stackshot.port)"
            )
        if len(ports) > 1:
            log.warning("several StackShots found (%s); using %s", ", ".join(ports), ports[0])
        return ports[0]

    def _write_settings(self) -> None:
        if self.s.speed_steps_s is not None:
            self._request(ss.RAIL_CONFIG_SPEED, ss.WRITE, ss.units_f32(ss.STEPS, self.s.speed_steps_s))
        if self.s.ramp_s is not None:
            self._request(ss.RAIL_CONFIG_RAMP_TIME, ss.WRITE, ss.f32(self.s.ramp_s))
        if self.s.backlash_steps is not None:
            self._request(ss.RAIL_CONFIG_BACKLASH, ss.WRITE, ss.units_f32(ss.STEPS, self.s.backlash_steps))

    # -- link --------------------------------------------------------------------------
    def _request(self, cmd: int, action: int, data: bytes = b"", timeout: float | None = None) -> ss.Frame:
        """Send one frame and return the controller's reply; MotionError on any failure."""
        if self._lost:
            raise MotionError(f"StackShot link lost: {self._lost}")
        with self._lock:
            for attempt in range(BUSY_RETRIES + 1):
                reply = self._exchange(cmd, action, data, timeout or self.s.timeout_s)
                if reply.action != ss.BUSY or attempt == BUSY_RETRIES:
                    break
                time.sleep(self.s.poll_s)
        if not reply.ok:
            why = ss.RESPONSE_NAMES.get(reply.action, f"response code {reply.action}")
            raise MotionError(f"StackShot refused command {cmd:#06x}: {why}")
        return reply

    def _exchange(self, cmd: int, action: int, data: bytes, timeout: float) -> ss.Frame:
        frame = ss.encode(cmd, action, data, trailer=self.s.trailer)
        try:
            self._buf.clear()
            self._ser.reset_input_buffer()
            self._ser.write(frame)
            deadline = time.monotonic() + timeout
            while True:
                reply, used = ss.decode(self._buf)
                if reply is not None:
                    del self._buf[:used]
                    if reply.cmd == cmd:
                        return reply
                    log.debug("StackShot: ignoring a reply to %#06x", reply.cmd)
                    continue
                del self._buf[:used]
                if time.monotonic() > deadline:
                    raise MotionError(
                        f"StackShot did not answer within {timeout:g} s (cable unplugged or controller off?)"
                    )
                self._buf += self._ser.read(max(1, self._ser.in_waiting))
        except MotionError:
            raise
        except Exception as exc:  # noqa: BLE001 - SerialException, OSError, termios.error: the link is gone
            self._lost = f"serial link lost on {self.device} (cable pulled?): {exc}"
            raise MotionError(f"StackShot {self._lost}") from None

    def _refresh_position(self) -> float:
        units, value = ss.parse_position(self._request(ss.POSITION_CURRENT, ss.READ, bytes([ss.MM])).data)
        if units == ss.MM:
            um = value * 1000.0
        elif units == ss.STEPS:
            um = value / self.cfg.steps_per_mm * 1000.0
        else:
            raise MotionError(f"StackShot answered the position in units {units}, expected mm")
        with self._pos_lock:
            self._pos = um
        return um

    def _status(self) -> int:
        return ss.parse_status(self._request(ss.STATUS, ss.READ).data)

    # -- Rail protocol (position, limits, stop, set_enabled: RailState) ----------------
    def move_to(self, target: float, abort: threading.Event | None = None) -> float:
        self._begin_move(target)
        return self._approach(self.position(), target, self.cfg.backlash_um, self._move, abort, tol=1e-6)

    def _move(self, target: float, abort: threading.Event | None) -> None:
        distance_mm = (target - self.position()) / 1000.0
        if abs(distance_mm) * self.cfg.steps_per_mm < 0.5 or self._interrupted(abort):
            return
        direction = ss.FORWARD if distance_mm > 0 else ss.BACKWARD
        self._request(ss.RAIL_MOVE, ss.WRITE, ss.move_payload(direction, ss.MM, abs(distance_mm)))
        t0 = time.monotonic()
        while True:
            waiter = abort if abort is not None else self._stop
            waiter.wait(self.s.poll_s)
            if self._estopped:
                self._send_stop()
                raise MotionError(f"e-stop during a move; stopped at {self._refresh_position():.1f} um")
            if self._interrupted(abort):
                self._send_stop()
                self._wait_idle()
                self._refresh_position()
                return
            status = self._status()
            self._refresh_position()
            if status & ss.ST_KEYPAD_ABORT:
                raise MotionError(f"move stopped from the StackShot's keypad at {self.position():.1f} um")
            if not status & ss.ST_MOVING:
                break
            if time.monotonic() - t0 > self.s.move_timeout_s:
                self._send_stop()
                raise MotionError(f"StackShot move did not finish within {self.s.move_timeout_s:g} s")
        step_um = 1000.0 / self.cfg.steps_per_mm
        if abs(self.position() - target) > max(2 * step_um, 1.0):
            raise MotionError(f"StackShot stopped at {self.position():.1f} um instead of {target:.1f} um")

    def _send_stop(self) -> None:
        self._request(ss.STOP, ss.WRITE)

    def _wait_idle(self) -> None:
        deadline = time.monotonic() + max(5.0, self.s.timeout_s)
        while self._status() & (ss.ST_MOVING | ss.ST_SHUTTER):
            if time.monotonic() > deadline:
                raise MotionError("StackShot did not come to rest after STOP")
            time.sleep(self.s.poll_s)

    def estop(self) -> None:
        super().estop()
        if self.closed or self._lost or not self._lock.acquire(timeout=0.01):
            return  # the worker's poll loop sends STOP within poll_s
        self._lock.release()
        try:
            self._send_stop()
        except MotionError as exc:
            log.warning("e-stop: %s", exc)

    def home(self, abort: threading.Event | None = None) -> float:
        raise MotionError("the StackShot has no home switch; its position counts from power-on")

    def fire_shutter(self, count: int = 1) -> None:
        """Fire the camera through the StackShot's shutter port and wait until it is done."""
        self._request(
            ss.SHUTTER_FIRE, ss.WRITE, ss.shutter_payload(count, self.s.shutter_pulse_s, self.s.shutter_settle_s)
        )
        deadline = time.monotonic() + count * (self.s.shutter_pulse_s + self.s.shutter_settle_s) + self.s.timeout_s
        while self._status() & ss.ST_SHUTTER:
            if time.monotonic() > deadline:
                raise MotionError("StackShot shutter port did not finish")
            time.sleep(self.s.poll_s)

    def zero(self) -> None:
        """Make the current position the controller's zero (POSITION_ZERO)."""
        self._request(ss.POSITION_ZERO, ss.WRITE)
        self._refresh_position()

    def health(self) -> dict[str, Any]:
        error = self._lost or ("e-stopped" if self._estopped else None) or ("closed" if self.closed else None)
        return {
            "ok": error is None,
            "backend": "stackshot",
            "port": getattr(self, "device", None),
            "firmware": self.firmware,
            "position": self.position(),
            "units": self.units,
            "error": error,
        }

    def _close_port(self) -> None:
        try:
            self._ser.close()
        except Exception:  # noqa: BLE001
            log.exception("StackShot: closing the port failed")

    def close(self) -> None:
        if self.closed:
            return
        self._stop.set()
        if not self._lost:
            try:
                self._request(ss.CLOSE, ss.WRITE, timeout=min(self.s.timeout_s, 0.5))
            except MotionError as exc:
                log.warning("StackShot: %s", exc)
        self.closed = True
        self._close_port()
