"""Is the system clock right, and setting it from a phone's time when it is not.

A Pi has no battery-backed clock unless one is fitted (Pi 5 with its RTC battery, or an RTC HAT);
without a network it boots at the time ``fake-hwclock`` saved at the last clean shutdown, so run
folders named by their start time carry a wrong date. The clock counts as synchronised when:

- systemd says so: ``timedatectl show -p NTPSynchronized --value`` prints ``yes`` (the kernel's
  ``adjtimex`` status without ``STA_UNSYNC``; set by systemd-timesyncd, chrony or ntpd), or
  ``/run/systemd/timesync/synchronized`` exists (systemd-timesyncd(8): touched on every
  successful synchronisation); or
- a real-time clock is present and holds a plausible time (``/sys/class/rtc/rtc0/since_epoch``
  not before :data:`EARLIEST_PLAUSIBLE`, i.e. its battery kept it running).

Setting the clock goes through systemd-timedated (``timedatectl set-time``) so the service user
needs no root: the polkit rule installed with the rig (``systemd/polkit/50-rig.rules``) allows
user ``rig`` exactly timedated's ``set-time`` and ``set-ntp`` actions. timedated refuses set-time
while automatic synchronisation is on (``BUS_ERROR_AUTOMATIC_TIME_SYNC_ENABLED`` in
timedated.c, ``method_set_time``), so it is switched off for the set and back on after.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rig.errors import RigError, UsageError

log = logging.getLogger(__name__)

EARLIEST_PLAUSIBLE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp()
MAX_UNCONFIRMED_JUMP_S = 24 * 3600.0

Runner = Callable[[Sequence[str]], tuple[int, str]]


def run_command(argv: Sequence[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


@dataclass(frozen=True)
class ClockState:
    synchronized: bool
    source: str  # "ntp", "rtc", "browser" (set from a phone this boot), "fixed" (config), "none"
    now: float  # seconds since the epoch, as the rig's clock says

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ClockError(RigError):
    """The clock could not be set (timedated refused, no polkit rule, no systemd)."""

    exit_code = 1
    http_status = 503


class UnconfirmedJump(UsageError):
    """The phone's time is far from the rig's newest stack: set it only when the user confirms."""


@dataclass
class SystemClock:
    """The machine's clock. ``root`` and ``run`` are for tests (a fake /sys and /run tree, a fake
    timedatectl); ``fixed_state`` makes the clock report a fixed synchronised state (the sim rig's
    ``system.clock`` option)."""

    root: Path = Path("/")
    run: Runner = run_command
    now: Callable[[], float] = time.time
    fixed_state: bool | None = None
    set_by_browser: bool = field(default=False, init=False)
    _cached: tuple[float, ClockState] | None = field(default=None, init=False, repr=False)

    def current(self, max_age_s: float = 10.0) -> ClockState:
        """:meth:`state`, asked of timedated at most every ``max_age_s`` (status streams and every
        stack's start ask for it; a subprocess each time would be wasteful)."""
        mono = time.monotonic()
        cached = self._cached
        if cached is None or mono - cached[0] >= max_age_s:
            cached = (mono, self.state())
            self._cached = cached
        return ClockState(cached[1].synchronized, cached[1].source, self.now())

    def synchronized(self) -> bool:
        return self.current().synchronized

    def state(self) -> ClockState:
        now = self.now()
        if self.set_by_browser:
            return ClockState(True, "browser", now)
        if self.fixed_state is not None:
            return ClockState(self.fixed_state, "fixed", now)
        if self._ntp_synchronized():
            return ClockState(True, "ntp", now)
        if self._rtc_plausible():
            return ClockState(now >= EARLIEST_PLAUSIBLE, "rtc", now)
        return ClockState(False, "none", now)

    def _ntp_synchronized(self) -> bool:
        code, out = self.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
        if code == 0 and out.strip() in ("yes", "no"):
            return out.strip() == "yes"
        return (self.root / "run/systemd/timesync/synchronized").exists()

    def _rtc_plausible(self) -> bool:
        try:
            since_epoch = float((self.root / "sys/class/rtc/rtc0/since_epoch").read_text().strip())
        except (OSError, ValueError):
            return False
        return since_epoch >= EARLIEST_PLAUSIBLE

    def set_from(self, epoch_s: float | None, newest_file_s: float | None = None, confirm: bool = False) -> ClockState:
        """Set the clock to a phone's time. Refused when the clock is synchronised, when the time is
        not plausible, and (without ``confirm``) when it is more than a day from the newest file the
        rig wrote, which a phone set to the wrong day would do."""
        if isinstance(epoch_s, bool) or not isinstance(epoch_s, (int, float)) or not math.isfinite(epoch_s):
            raise UsageError(f"time = {epoch_s!r}: must be seconds since 1970 (a finite number)")
        if epoch_s < EARLIEST_PLAUSIBLE or epoch_s > EARLIEST_PLAUSIBLE + 100 * 365 * 86400:
            raise UsageError(f"time = {epoch_s:g}: not a plausible date")
        if self.state().synchronized:
            raise UsageError("the clock is already synchronised; it is not set from a browser")
        if newest_file_s is not None and abs(epoch_s - newest_file_s) > MAX_UNCONFIRMED_JUMP_S and not confirm:
            days = abs(epoch_s - newest_file_s) / 86400
            raise UnconfirmedJump(
                f"the browser's time is {days:.1f} days from the newest stack's time: confirm to set it anyway"
            )
        stamp = dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        steps = (
            ["timedatectl", "set-ntp", "false"],
            ["timedatectl", "set-time", stamp],
            ["timedatectl", "set-ntp", "true"],
        )
        for argv in steps:
            code, out = self.run(argv)
            if code != 0:
                if argv[1] == "set-time":
                    self.run(["timedatectl", "set-ntp", "true"])
                raise ClockError(f"{' '.join(argv)} failed: {out or f'exit {code}'}")
        log.warning("clock set from a browser's time to %s", stamp)
        self.set_by_browser = True
        self._cached = None
        return self.state()
