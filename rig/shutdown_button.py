"""The field kit's shutdown button: held for ``system.shutdown_hold_s`` seconds, it stops the
rail safely and powers the Pi off.

Deployed as its own small service (``python -m rig.shutdown_button --config FILE``, see
systemd/rig-shutdown-button.service), so the button works even when ``rig serve`` has hung.
Its poweroff makes systemd stop rig.service first: SIGTERM, on which ``rig serve`` cancels a
running stack as *interrupted* and stops the rail; only then are disks unmounted and power
cut. A process that owns a :class:`~rig.machine.Machine` itself can pass
``before_poweroff=machine.stop_safely`` to do the same stop first, in-process.

A button that reads pressed when the watcher starts (stuck, or wired for the other
polarity) is not armed until it has been released once: a wiring fault must not turn into
a boot loop of power-offs.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from rig.config import SystemConfig

log = logging.getLogger(__name__)

Runner = Callable[[Sequence[str]], int]


def run_command(argv: Sequence[str]) -> int:
    return subprocess.run(list(argv), check=False).returncode


class ShutdownButton:
    """A gpiozero Button on ``cfg.shutdown_pin``; held long enough, it calls
    ``before_poweroff`` (errors are logged, never block the poweroff) and then runs
    ``cfg.poweroff_command``. Fires once (again only if the poweroff command failed)."""

    def __init__(
        self,
        cfg: SystemConfig,
        *,
        before_poweroff: Callable[[], object] | None = None,
        runner: Runner = run_command,
        pin_factory: Any = None,
        wait: Callable[[threading.Event, float], bool] | None = None,
    ) -> None:
        """``wait(released, seconds)`` times a hold: ``released.wait(seconds)`` unless a test
        gives a virtual one (True: let go in time; False: held for ``seconds``)."""
        if cfg.shutdown_pin is None:
            raise ValueError("system.shutdown_pin is not set")
        from gpiozero import Button

        self.cfg = cfg
        self.before_poweroff = before_poweroff
        self.runner = runner
        self.fired = threading.Event()
        self._wait = wait or threading.Event.wait
        self._let_go = threading.Event()  # set when the current press ends
        self.button = Button(cfg.shutdown_pin, pull_up=cfg.shutdown_active_low, pin_factory=pin_factory)
        self.armed = not self.button.is_pressed
        if not self.armed:
            log.warning(
                "shutdown button on BCM %d reads pressed at start: not armed until released "
                "(stuck button, or system.shutdown_active_low wrong?)",
                cfg.shutdown_pin,
            )
        self.button.when_released = self._released
        self.button.when_pressed = self._pressed
        log.info("shutdown button on BCM %d: hold %.1f s to power off", cfg.shutdown_pin, cfg.shutdown_hold_s)

    def _pressed(self) -> None:
        if not self.armed or self.fired.is_set():
            return
        self._let_go = let_go = threading.Event()
        threading.Thread(target=self._time_hold, args=(let_go,), name="rig-shutdown-hold", daemon=True).start()

    def _time_hold(self, let_go: threading.Event) -> None:
        if not self._wait(let_go, self.cfg.shutdown_hold_s):
            self._held()

    def _released(self) -> None:
        self._let_go.set()
        if not self.armed:
            log.info("shutdown button released: armed")
            self.armed = True

    def _held(self) -> None:
        if not self.armed or self.fired.is_set():
            return
        self.fired.set()
        if self.shutdown() != 0:
            self.fired.clear()  # the poweroff did not happen: a second hold tries again

    def shutdown(self) -> int:
        """Stop safely, then power off; returns the poweroff command's exit status."""
        log.warning("shutdown button held %.1f s: stopping the rail and powering off", self.cfg.shutdown_hold_s)
        if self.before_poweroff is not None:
            try:
                log.info("safe stop: %s", self.before_poweroff())
            except Exception:
                log.exception("safe stop failed; powering off anyway (systemd stops rig.service first)")
        argv = shlex.split(self.cfg.poweroff_command)
        try:
            code = self.runner(argv)
        except OSError as exc:
            log.error("poweroff command %r failed: %s", self.cfg.poweroff_command, exc)
            return 127
        if code:
            log.error(
                "poweroff command %r exited %d (polkit rule /etc/polkit-1/rules.d/50-rig.rules missing?)",
                self.cfg.poweroff_command,
                code,
            )
        return code

    def close(self) -> None:
        self._let_go.set()  # a hold being timed ends without a poweroff
        self.button.close()

    def __enter__(self) -> ShutdownButton:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: Sequence[str] | None = None) -> int:
    """The rig-shutdown-button service: watch the button until SIGTERM."""
    from rig.config import load_config
    from rig.errors import RigError

    parser = argparse.ArgumentParser(prog="python -m rig.shutdown_button", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="machine config with the [system] section")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config).system
    except RigError as exc:
        log.error("%s", exc)
        return exc.exit_code
    if cfg.shutdown_pin is None:
        log.info("no system.shutdown_pin in %s: no shutdown button to watch", args.config)
        return 0
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        button = ShutdownButton(cfg)
    except Exception as exc:  # noqa: BLE001 - a GPIO problem is reported, and systemd retries
        log.error("cannot watch BCM %s: %s", cfg.shutdown_pin, exc)
        return 1
    with button:
        while not stop.wait(3600):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
