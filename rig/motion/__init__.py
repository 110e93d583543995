"""Rails: the protocol, the backends (one per file) and the factory.

Backends are imported lazily by name, so a machine without a backend's hardware library
still imports everything else.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from typing import Any

from rig.config import RailConfig
from rig.motion.base import Rail, check_target

__all__ = ["Rail", "check_target", "open_rail", "can_home", "find_ports", "BACKEND_MODULES", "trapezoid_time_s"]

BACKEND_MODULES = {
    "sim": "rig.motion.sim:SimRail",
    "gpio": "rig.motion.gpio:GpioRail",
    "stackshot": "rig.motion.stackshot:StackShotRail",
    "pico": "rig.motion.pico:PicoRail",
    "lens": "rig.motion.lens:LensRail",
}


def open_rail(cfg: RailConfig, camera: Any = None, **kwargs: Any) -> Rail:
    """Open the configured rail. ``camera`` is passed to the lens backend (it drives the
    camera's own focus motor); other keyword arguments go to the backend (tests use them
    to inject a pin factory or a serial port)."""
    module_name, class_name = BACKEND_MODULES[cfg.backend].split(":")
    cls: Callable[..., Rail] = getattr(importlib.import_module(module_name), class_name)
    if cfg.backend == "lens":
        return cls(cfg, camera=camera, **kwargs)
    return cls(cfg, **kwargs)


def find_ports(backend: str) -> list[str]:
    """Serial ports where a rail of ``backend`` may be plugged in, from the backend's own
    ``find_ports()`` (``rig check``); ``[]`` for a backend that has no such search."""
    module = importlib.import_module(BACKEND_MODULES[backend].split(":")[0])
    search = getattr(module, "find_ports", None)
    return list(search()) if search is not None else []


def can_home(rail: Rail, cfg: RailConfig) -> bool:
    """Whether ``rail`` has a home switch (the Jog page's Home button, ``rig home``). A backend
    may say so in ``health()["can_home"]``; otherwise it follows from the config: a gpio rail
    with a home pin or a limit pin on the home side, or a pico rail (it homes on its near-end
    limit switch). The sim, StackShot and lens backends have none."""
    try:
        health = dict(rail.health())
    except Exception:  # noqa: BLE001 - a sick backend: decide from the config
        health = {}
    if "can_home" in health:
        return bool(health["can_home"])
    gpio = cfg.gpio
    side = gpio.max_limit_pin if gpio.home_direction == "forward" else gpio.min_limit_pin
    return (cfg.backend == "gpio" and (gpio.home_pin is not None or side is not None)) or cfg.backend == "pico"


def trapezoid_time_s(distance_mm: float, speed_mm_s: float, accel_mm_s2: float) -> float:
    """Duration of a trapezoidal (or triangular) move from rest to rest."""
    d = abs(distance_mm)
    if d == 0:
        return 0.0
    if d < speed_mm_s**2 / accel_mm_s2:  # never reaches top speed
        return 2.0 * math.sqrt(d / accel_mm_s2)
    return d / speed_mm_s + speed_mm_s / accel_mm_s2


def trapezoid_fraction(t: float, total_t: float, distance_mm: float, speed_mm_s: float, accel_mm_s2: float) -> float:
    """Fraction of the distance covered at time ``t`` of a trapezoidal move."""
    d = abs(distance_mm)
    if d == 0 or t >= total_t:
        return 1.0
    if t <= 0:
        return 0.0
    v = min(speed_mm_s, (d * accel_mm_s2) ** 0.5)
    ta = v / accel_mm_s2
    if t < ta:
        s = 0.5 * accel_mm_s2 * t * t
    elif t < total_t - ta:
        s = 0.5 * accel_mm_s2 * ta * ta + v * (t - ta)
    else:
        tr = total_t - t
        s = d - 0.5 * accel_mm_s2 * tr * tr
    return max(0.0, min(1.0, s / d))
