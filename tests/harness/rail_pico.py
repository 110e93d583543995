"""Contract-suite harness for the ``pico`` rail: the real firmware logic on a pty.

The firmware's plain-Python protocol loop (``firmware/rigfw``) runs in a thread on the
master side of a pty pair, in real time, with the behavioural hardware model
``rigfw.simhw.SimHW`` standing in for the PIO, pins and limit switches. The real
``PicoRail`` opens the slave side through pyserial, exactly as it opens a Pico's
``/dev/ttyACM0``.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
if str(FIRMWARE) not in sys.path:
    sys.path.insert(0, str(FIRMWARE))

from rigfw.core import Firmware  # noqa: E402
from rigfw.simhw import SimHW  # noqa: E402

from rig.config import PicoRailConfig, RailConfig  # noqa: E402


class MonoClock:
    """Real time for the firmware core and the hardware model."""

    @staticmethod
    def ms() -> int:
        return time.monotonic_ns() // 1_000_000

    @staticmethod
    def us() -> int:
        return time.monotonic_ns() // 1000

    @staticmethod
    def diff(a: int, b: int) -> int:
        return a - b


class FirmwareOnPty:
    """The firmware loop serving one pty pair. ``port`` is the device the host opens."""

    def __init__(self, max_rate: int = 50_000, max_accel: int = 2_000_000) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        os.set_blocking(self.master, False)
        self.port = os.ttyname(self.slave)
        self.clock = MonoClock()
        self.hw = SimHW(self.clock.us)
        self.lock = threading.RLock()  # held while the firmware runs; tests take it to poke hw
        self.received: list[bytes] = []
        self.sent: list[str] = []
        self.fw = Firmware(self.hw, self.clock, self._write, max_rate=max_rate, max_accel=max_accel)
        self._stop = threading.Event()
        self.alive = True
        self._thread = threading.Thread(target=self._run, name="fake-pico", daemon=True)
        self._thread.start()

    def _write(self, line: str) -> None:
        self.sent.append(line)
        try:
            os.write(self.master, (line + "\n").encode("ascii"))
        except (BlockingIOError, OSError):
            pass  # nobody reading: a real Pico drops USB CDC output too

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.001)
                data = os.read(self.master, 4096) if ready else b""
            except (BlockingIOError, InterruptedError):
                data = b""
            except OSError:
                data = b""  # EIO while the host side is closed; keep serving
            with self.lock:
                if data:
                    self.received.append(data)
                    self.fw.feed(data)
                self.fw.poll()

    def inject(self, data: bytes) -> None:
        """Bytes on the wire from the host side (noise, raw commands)."""
        os.write(self.slave, data)

    def unplug(self) -> None:
        """The cable is pulled: the device vanishes for the host."""
        if not self.alive:
            return
        self.alive = False
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)

    close = unplug


class PicoCtl:
    """Fault injection for the contract suite. near -> far takes about 0.4 s at 100 mm/s."""

    near, far, tol = 1_000.0, 40_000.0, 10.0  # one step is 10 um

    def __init__(self, dev: FirmwareOnPty) -> None:
        self.dev = dev
        self.hw = dev.hw
        self.fw = dev.fw

    def trip_limit(self, after_steps: int = 20) -> None:
        """The next move (or the current one) runs into a limit switch after ``after_steps``."""
        with self.dev.lock:
            if self.fw.move is not None:
                pos = self.hw.position
                if self.hw.forward:
                    self.hw.hi_at = pos + after_steps
                else:
                    self.hw.lo_at = pos - after_steps
            else:
                self.hw.trip_after = after_steps

    def driver_enabled(self) -> bool:
        return self.hw.enabled

    def arm_home(self) -> None:
        """Put the near-end switch 2 mm below the carriage, so home() finds it."""
        with self.dev.lock:
            self.hw.lo_at = self.hw.position - 200

    def clear_limits(self) -> None:
        with self.dev.lock:
            self.hw.lo_at = self.hw.hi_at = None
            self.hw.trip_after = None

    def unplug(self) -> None:
        self.dev.unplug()


def rail_config(**pico: Any) -> RailConfig:
    """A fast 50 mm rail: 100 steps/mm, 100 mm/s, 4000 mm/s^2."""
    opts: dict[str, Any] = {"watchdog_ms": 1000, "ping_s": 0.1, "timeout_s": 1.0, "move_timeout_s": 30.0}
    opts.update(pico)
    return RailConfig(
        backend="pico",
        steps_per_mm=100.0,
        min_um=0.0,
        max_um=50_000.0,
        max_speed_mm_s=100.0,
        accel_mm_s2=4000.0,
        pico=PicoRailConfig(**opts),
    )


@contextlib.contextmanager
def make_rail(
    tmp_path: Path | None = None, cfg: RailConfig | None = None, **pico: Any
) -> Iterator[tuple[Any, PicoCtl]]:
    """Yield ``(PicoRail, ctl)`` talking over a pty to the firmware loop."""
    from rig.motion import open_rail

    dev = FirmwareOnPty()
    rail = None
    try:
        rail = open_rail(cfg or rail_config(**pico), port=dev.port)
        yield rail, PicoCtl(dev)
    finally:
        if rail is not None:
            rail.close()
        dev.unplug()
