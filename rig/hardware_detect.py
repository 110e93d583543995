"""What is plugged in, for ``rig check``: cameras, serial ports, Pi cameras, the configured kit.

``report(config)`` returns printable lines. It never raises and never hangs: every probe runs
on a daemon thread with a deadline, and a failed or slow probe becomes a line saying so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rig.config import MachineConfig

log = logging.getLogger(__name__)
PROBE_TIMEOUT_S = 5.0
FTDI_VID = 0x0403


def _timed(fn: Callable[[], list[str]], what: str, timeout: float | None = None) -> list[str]:
    timeout = PROBE_TIMEOUT_S if timeout is None else timeout
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["lines"] = fn()
        except BaseException as exc:  # noqa: BLE001 - a probe must never take `rig check` down
            box["error"] = exc

    thread = threading.Thread(target=run, name=f"rig-detect-{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return [f"{what}: no answer within {timeout:g} s (a device may be hung; try unplugging it)"]
    if "error" in box:
        exc = box["error"]
        return [f"{what}: could not check ({type(exc).__name__}: {exc})"]
    lines: list[str] = box.get("lines", [])
    return lines


def serial_ports() -> list[str]:
    try:
        from serial.tools import list_ports
    except ImportError:
        return ["serial ports: pyserial is not installed"]
    ports = sorted(list_ports.comports(), key=lambda p: p.device)
    if not ports:
        return ["serial ports: none"]
    lines = []
    for port in ports:
        ids = f" ({port.vid:04x}:{port.pid:04x})" if port.vid is not None and port.pid is not None else ""
        name = port.product or port.description or ""
        text = f"{name} {port.manufacturer or ''}".lower()
        tag = ""
        if "stackshot" in text:
            tag = "  <- Cognisys StackShot (rail.backend = 'stackshot')"
        elif "pico" in text or "rig" in text.split():
            tag = "  <- Raspberry Pi Pico? (rail.backend = 'pico')"
        elif port.vid == FTDI_VID:
            tag = "  <- FTDI adapter"
        lines.append(f"serial port: {port.device}  {name}{ids}{tag}")
    return lines


def usb_cameras() -> list[str]:
    try:
        import gphoto2 as gp
    except ImportError:
        return ["USB cameras: python-gphoto2 is not installed"]
    found = gp.Camera.autodetect()
    if not found.count():
        return ["USB cameras: none found (camera on, USB mode PTP, not mounted by the desktop?)"]
    return [f"USB camera: {found.get_name(i)} at {found.get_value(i)}" for i in range(found.count())]


def pi_cameras() -> list[str]:
    try:
        from picamera2 import Picamera2
    except ImportError:
        return []  # not a Pi (or no picamera2): nothing to say
    infos = Picamera2.global_camera_info()
    if not infos:
        return ["Pi cameras: none found"]
    return [f"Pi camera {i}: {info.get('Model', '?')}" for i, info in enumerate(infos)]


def gphoto_details(config: MachineConfig) -> list[str]:
    from rig.camera import open_camera

    camera = open_camera(config.camera, timeout_s=PROBE_TIMEOUT_S - 1)
    try:
        info = camera.info()
    finally:
        camera.close()
    free = f"{info['free_mb']:.0f} MB" if "free_mb" in info else "unknown"
    return [
        f"gphoto camera: {info.get('model')}, battery {info.get('battery', 'unknown')}, "
        f"card free {free}, capture target {info.get('capture_target', 'unknown')}"
        f"{', lens ' + info['lens'] if info.get('lens') else ''}"
    ]


def gpio_summary(config: MachineConfig) -> list[str]:
    g = config.rail.gpio
    switches = (
        ", ".join(
            f"{name} {pin}"
            for name, pin in (("near limit", g.min_limit_pin), ("far limit", g.max_limit_pin), ("home", g.home_pin))
            if pin is not None
        )
        or "none"
    )
    return [f"gpio rail pins (BCM): STEP {g.step_pin}, DIR {g.dir_pin}, EN {g.enable_pin}; switches: {switches}"]


def report(config: MachineConfig) -> list[str]:
    """Lines describing the attached hardware and the configured kit. Never raises."""
    lines: list[str] = []
    try:
        lines += _timed(serial_ports, "serial ports")
        lines += _timed(usb_cameras, "USB cameras")
        lines += _timed(pi_cameras, "Pi cameras")
        if config.camera.backend == "gphoto":
            lines += _timed(lambda: gphoto_details(config), "gphoto camera", PROBE_TIMEOUT_S + 2)
        if config.rail.backend == "gpio":
            lines += gpio_summary(config)
        if config.rail.backend == "stackshot":
            from rig.motion import find_ports

            found = _timed(lambda: find_ports("stackshot"), "StackShot search")
            port = config.rail.stackshot.port or ", ".join(found) or "not found"
            lines.append(f"stackshot port: {port}")
    except Exception as exc:  # noqa: BLE001 - report must never raise
        log.exception("hardware report failed")
        lines.append(f"hardware report incomplete: {type(exc).__name__}: {exc}")
    return lines
