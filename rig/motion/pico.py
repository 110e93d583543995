"""Rail backend ``pico``: a Raspberry Pi Pico running ``firmware/`` generates the steps.

The wire format is firmware/PROTOCOL.md. The host tracks the position from the firmware's
``POS``/``DONE`` events, keeps the firmware's watchdog fed with ``PING`` while moving, and
refuses to talk to firmware that speaks another protocol version.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any

from rig.config import RailConfig
from rig.errors import BackendUnavailable, LimitError, MotionError
from rig.motion.common import RailState

log = logging.getLogger(__name__)

PROTO_VERSION = 1
FW_NAME = "rig-pico"
PICO_USB_VID = 0x2E8A  # Raspberry Pi (RP2040 / RP2350 boards running MicroPython)
POLL_S = 0.02  # how often a move checks its abort event


class _Pending(threading.Event):
    reply: str | None = None  # "OK ..." or "ERR ...", set by the reader thread before set()


def _pyserial() -> Any:
    """pyserial, imported on first use (hardware libraries load lazily, in backends only)."""
    try:
        import serial
        import serial.tools.list_ports
    except ImportError as e:  # pragma: no cover - pyserial is a dependency
        raise BackendUnavailable("pico rail: pyserial is not installed (pip install pyserial)") from e
    return serial


def detect_port() -> str:
    """The first USB serial device with the Raspberry Pi vendor id."""
    for p in _pyserial().tools.list_ports.comports():
        if p.vid == PICO_USB_VID:
            device: str = p.device
            return device
    raise BackendUnavailable("pico rail: no Raspberry Pi Pico found on USB; set rail.pico.port")


class PicoRail(RailState):
    """The Rail protocol over a USB CDC serial line to the rig-pico firmware."""

    _pos: int  # counts drive steps
    _steps_per_um: float

    def __init__(self, cfg: RailConfig, port: str | None = None) -> None:
        super().__init__(cfg, "pico rail", "um", steps_per_um=cfg.steps_per_mm / 1000.0)
        self.pcfg = cfg.pico
        self.port = port or self.pcfg.port or detect_port()
        self.keepalive = True  # tests switch this off to play a host that has gone silent
        self.firmware: dict[str, str] = {}
        self._wlock = threading.Lock()
        self._done_cv = threading.Condition()
        self._done: tuple[int, str] | None = None
        self._pending: dict[str, _Pending] = {}
        self._seq = itertools.count(1)
        self._closing = threading.Event()
        self._lost: str | None = None
        self._fault: str | None = None
        self._moving = False
        serial = _pyserial()
        self._serial_errors = (serial.SerialException, OSError)
        try:
            self._ser = serial.Serial(self.port, self.pcfg.baud, timeout=0.05, write_timeout=self.pcfg.timeout_s)
        except (serial.SerialException, OSError, ValueError) as e:
            raise BackendUnavailable(f"pico rail: cannot open {self.port}: {e}") from e
        self._reader = threading.Thread(target=self._read_loop, name="pico-rail-reader", daemon=True)
        self._reader.start()
        try:
            self._handshake()
        except BaseException:
            self._shutdown_link()
            self.closed = True
            raise

    # ------------------------------------------------------------------ link
    def _handshake(self) -> None:
        self._ser.reset_input_buffer()
        reply = self._cmd("ID", retries=2)
        words = reply.split()
        info = dict(w.split("=", 1) for w in words[1:] if "=" in w)
        if not words or words[0] != FW_NAME:
            raise BackendUnavailable(f"pico rail: {self.port} is not rig-pico firmware (ID said {reply!r})")
        self.firmware = info
        proto = info.get("proto", "?")
        if proto != str(PROTO_VERSION):
            fw = info.get("fw", "?")
            raise BackendUnavailable(f"pico rail: firmware {fw} speaks protocol {proto}, this host needs "
                                     f"{PROTO_VERSION}; reflash the Pico (firmware/README.md)")  # fmt: skip
        self._max_rate = int(info.get("max_rate", "1"))
        self._max_accel = int(info.get("max_accel", "1"))
        self._rate = self._clamp(self.cfg.max_speed_mm_s * self.cfg.steps_per_mm, self._max_rate, "speed")
        self._accel = self._clamp(self.cfg.accel_mm_s2 * self.cfg.steps_per_mm, self._max_accel, "acceleration")
        self._cmd("WATCHDOG", self.pcfg.watchdog_ms)
        if self.pcfg.ping_s * 2000 > self.pcfg.watchdog_ms:
            log.warning("pico rail: ping_s is over half of watchdog_ms; moves may trip the firmware watchdog")
        self._refresh_status()
        log.info("pico rail on %s: firmware %s, protocol %s", self.port, info.get("fw"), proto)

    @staticmethod
    def _clamp(value: float, limit: int, what: str) -> int:
        if value > limit:
            log.warning("pico rail: %s %.0f steps/s is above the firmware's %d; using %d", what, value, limit, limit)
        return max(1, min(int(round(value)), limit))

    def _cmd(self, verb: str, *args: int, timeout: float | None = None, retries: int = 0) -> str:
        """Send one command and return the fields after OK; ERR raises MotionError/LimitError."""
        timeout = self.pcfg.timeout_s if timeout is None else timeout
        line = " ".join([verb, *(str(int(a)) for a in args)])
        prefix = ""
        for attempt in range(retries + 1):
            self._check_link()
            seq = str(next(self._seq) % 100_000_000 or 1)
            pending = _Pending()
            self._pending[seq] = pending
            try:
                try:
                    with self._wlock:
                        self._ser.write(f"{prefix}{seq} {line}\n".encode("ascii"))
                except self._serial_errors as e:
                    self._link_lost(f"write failed: {e}")
                    self._check_link()
                if pending.wait(timeout) and pending.reply is not None:
                    return self._parse_reply(verb, pending.reply)
                self._check_link()
            finally:
                self._pending.pop(seq, None)
            log.warning("pico rail: no reply to %s within %.2f s (attempt %d)", verb, timeout, attempt + 1)
            prefix = "\n"  # ends any half line of noise sitting in the firmware's buffer
        raise MotionError(f"pico rail: no reply to {verb} from {self.port} within {timeout:g} s")

    def _parse_reply(self, verb: str, reply: str) -> str:
        word, _, rest = reply.partition(" ")
        if word == "OK":
            return rest
        code, _, text = rest.partition(" ")
        if code == "LIMIT":
            raise LimitError(f"pico rail: {verb} refused: {text}")
        if code == "FAULT":
            raise MotionError(f"pico rail: {verb} refused: {text} (set_enabled(True) resets)")
        raise MotionError(f"pico rail: {verb} refused: {code} {text}")

    def _check_link(self) -> None:
        if self.closed:
            raise MotionError("pico rail is closed")
        if self._lost:
            raise MotionError(f"pico rail: link to {self.port} lost ({self._lost})")

    def _link_lost(self, why: str) -> None:
        if not self._lost and not self._closing.is_set():
            log.error("pico rail: link to %s lost: %s", self.port, why)
        self._lost = self._lost or why
        for p in list(self._pending.values()):
            p.set()
        with self._done_cv:
            self._done_cv.notify_all()

    def _read_loop(self) -> None:
        buf = bytearray()
        while not self._closing.is_set():
            try:
                chunk = self._ser.read(self._ser.in_waiting or 1)
            except Exception as e:  # SerialException, OSError; TypeError if closed under us
                self._link_lost(f"read failed: {e}")
                return
            if not chunk:
                continue
            buf.extend(chunk)
            while b"\n" in buf:
                raw, _, rest = bytes(buf).partition(b"\n")
                buf = bytearray(rest)
                self._on_line(raw.decode("ascii", "replace").strip())
            if len(buf) > 4096:
                log.warning("pico rail: discarding %d bytes without a newline", len(buf))
                buf.clear()

    def _on_line(self, line: str) -> None:
        words = line.split()
        if not words:
            return
        try:
            if words[0].isdigit() and len(words) > 1 and words[1] in ("OK", "ERR"):
                pending = self._pending.get(words[0])
                if pending is not None:  # else a stale reply to a request that timed out
                    pending.reply = " ".join(words[1:])
                    pending.set()
            elif words[0] == "POS":
                self._set_steps(int(words[1]))
            elif words[0] == "DONE":
                self._set_steps(int(words[1]))
                with self._done_cv:
                    self._done = (int(words[1]), words[2])
                    self._done_cv.notify_all()
            elif words[0] == "FAULT":
                self._fault = words[1].lower()
                log.warning("pico rail: firmware reports a %s fault (the host was silent too long)", words[1])
            elif words[0] == "READY":
                self._fault = "restarted"
                log.warning("pico rail: the firmware restarted (%s); position reset", line)
                if self._moving:
                    self._link_lost("firmware restarted")
            elif words[0] == "ERR":
                log.warning("pico rail: firmware rejected noise on the line: %s", line)
            else:
                log.debug("pico rail: ignoring %r", line)
        except (IndexError, ValueError):
            log.warning("pico rail: malformed line from firmware: %r", line)

    def _set_steps(self, steps: int) -> None:
        with self._pos_lock:
            self._pos = steps

    def _to_steps(self, um: float) -> int:
        return int(round(um * self._steps_per_um))

    def _refresh_status(self) -> dict[str, str]:
        fields = dict(w.split("=", 1) for w in self._cmd("STATUS").split() if "=" in w)
        self._set_steps(int(fields.get("pos", "0")))
        self._enabled = fields.get("enabled") == "1"
        fault = fields.get("fault", "NONE")
        if fault != "NONE":
            self._fault = fault.lower()
        elif self._fault != "restarted":
            self._fault = None
        return fields

    # ------------------------------------------------------------------ moves
    def _run_move(self, target_steps: int, rate: int, abort: threading.Event | None) -> tuple[int, str]:
        """MOVE, keep the watchdog fed, pass on aborts; returns the firmware's (pos, reason)."""
        with self._done_cv:
            self._done = None
        self._moving = True
        try:
            self._cmd("MOVE", target_steps, rate, self._accel)
            deadline = time.monotonic() + self.pcfg.move_timeout_s
            next_ping = time.monotonic() + self.pcfg.ping_s
            stop_sent = False
            while True:
                with self._done_cv:
                    self._done_cv.wait_for(lambda: self._done is not None or self._lost, timeout=POLL_S)
                    done = self._done
                if done is not None:
                    return done
                self._check_link()
                now = time.monotonic()
                if not stop_sent and self._interrupted(abort):
                    self._cmd("STOP")
                    stop_sent = True
                if now > deadline:
                    self._cmd("STOP")
                    raise MotionError(f"pico rail: move did not finish within {self.pcfg.move_timeout_s:g} s")
                if self.keepalive and now >= next_ping:
                    self._cmd("PING")
                    next_ping = now + self.pcfg.ping_s
        finally:
            self._moving = False

    def _check_done(self, pos: int, reason: str) -> bool:
        """True if the move reached its target, False if stopped; raises on faults."""
        if reason == "TARGET":
            return True
        if reason == "STOP":
            return False
        where = f"{self._units(pos):.1f} um"
        if reason == "LIMIT":
            raise LimitError(f"pico rail: limit switch hit at {where}; move stopped")
        if reason == "ESTOP":
            raise MotionError(f"pico rail: e-stop during move (at {where})")
        if reason == "WATCHDOG":
            self._fault = "watchdog"
            raise MotionError(f"pico rail: firmware watchdog stopped the move at {where}: host silent over "
                              f"{self.pcfg.watchdog_ms} ms (set_enabled(True) resets)")  # fmt: skip
        raise MotionError(f"pico rail: move ended with unknown reason {reason!r} at {where}")

    def _move_steps(self, target_steps: int, abort: threading.Event | None) -> bool:
        return self._check_done(*self._run_move(target_steps, self._rate, abort))

    # ------------------------------------------------------------------ Rail protocol
    # position, limits: RailState. E-stop is the firmware's: it refuses moves until re-enabled.
    def _check_ready(self) -> None:
        self._check_link()

    def move_to(self, target: float, abort: threading.Event | None = None) -> float:
        self._begin_move(target)
        if abort is not None and abort.is_set():
            return self.position()
        goal = self._to_steps(target)
        with self._pos_lock:
            here = self._pos
        pre = self._overshoot(here, goal, self._to_steps(self.cfg.backlash_um))
        if pre is not None:  # the overshoot stays inside the soft limits
            pre = min(self._to_steps(self.cfg.max_um), max(self._to_steps(self.cfg.min_um), pre))
            if pre != goal and not self._move_steps(pre, abort):
                return self.position()
        self._move_steps(goal, abort)
        return self.position()

    def stop(self) -> None:
        super().stop()
        self._send_safely("STOP")

    def estop(self) -> None:
        self._stop.set()
        if self._send_safely("ESTOP"):
            self._enabled, self._fault = False, "estop"

    def _send_safely(self, verb: str) -> bool:
        """For stop()/estop(): any thread, any state, never raises; False if not acknowledged."""
        try:
            return not (self.closed or self._lost) and self._cmd(verb, retries=1) is not None
        except MotionError as e:
            log.error("pico rail: %s not acknowledged: %s", verb, e)
            return False

    def set_enabled(self, enabled: bool) -> None:
        self._cmd("ENABLE", 1 if enabled else 0)
        self._enabled = enabled
        if enabled:
            self._fault = None

    def home(self, abort: threading.Event | None = None) -> float:
        """Seek the near-end limit switch slowly; its position becomes ``min_um``."""
        self._check_link()
        self._stop.clear()
        with self._pos_lock:
            here = self._pos
        travel = self._to_steps((self.cfg.max_um - self.cfg.min_um) * 1.2) + 1
        pos, reason = self._run_move(here - travel, max(1, self._rate // 4), abort)
        if reason == "STOP":
            return self.position()
        if reason != "LIMIT":
            self._check_done(pos, reason)
            raise MotionError("pico rail: no limit switch found at the near end; cannot home")
        self._cmd("SETPOS", self._to_steps(self.cfg.min_um))
        self._set_steps(self._to_steps(self.cfg.min_um))
        return self.position()

    def health(self) -> dict[str, Any]:
        if not self.closed and not self._lost:
            try:
                self._refresh_status()
            except MotionError as e:
                log.debug("pico rail: status: %s", e)
        connected = not self.closed and not self._lost
        info = {"ok": connected and self._fault is None, "backend": "pico", "port": self.port, "connected": connected}
        info |= {"link_error": self._lost, "fault": self._fault, "enabled": self._enabled, "units": self.units}
        return info | {"firmware": self.firmware.get("fw"), "protocol": self.firmware.get("proto"),
                       "position": self.position()}  # fmt: skip

    def close(self) -> None:
        if self.closed:
            return
        if not self._lost:
            try:
                self._cmd("STOP", timeout=0.5)
                self._cmd("ENABLE", 0, timeout=0.5)
            except MotionError as e:
                log.debug("pico rail: close: %s", e)
        self.closed = True
        self._shutdown_link()

    def _shutdown_link(self) -> None:
        self._closing.set()
        if self._reader.is_alive() and self._reader is not threading.current_thread():
            self._reader.join(timeout=2)
        try:
            self._ser.close()
        except Exception as e:  # closing is best effort
            log.debug("pico rail: closing %s: %s", self.port, e)
        self._enabled = False
