"""Battery charge and time left, from the kernel's standard power-supply class.

A UPS or battery HAT (PiSugar, Waveshare UPS, Geekworm X72x with their kernel drivers) or a USB
power meter that reports through Linux shows up under ``/sys/class/power_supply/<name>/`` with the
attributes documented in the kernel's ``Documentation/ABI/testing/sysfs-class-power``: ``type``
(Battery, UPS, Mains, USB, ...), ``present``, ``status`` (Charging, Discharging, Full, Not charging,
Unknown), ``capacity`` (percent), ``energy_now``/``energy_full`` (uWh), ``charge_now``/``charge_full``
(uAh), ``power_now`` (uW), ``current_now`` (uA), ``voltage_now`` (uV) and
``time_to_empty_now``/``time_to_empty_avg`` (seconds).

Without such a device :func:`read_battery` returns ``None``: nothing is shown and nothing fails.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SYSFS_POWER_SUPPLY = Path("/sys/class/power_supply")
BATTERY_TYPES = {"Battery", "UPS"}


@dataclass(frozen=True)
class Battery:
    name: str
    percent: float | None  # charge, 0-100
    status: str  # Charging, Discharging, Full, Not charging, Unknown
    time_left_s: float | None  # to empty while discharging; None when unknown or charging
    on_external_power: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def covers(self, duration_s: float) -> bool | None:
        """Whether the charge lasts ``duration_s`` (None when it cannot be told)."""
        if self.on_external_power or self.status in {"Charging", "Full"}:
            return True
        if self.time_left_s is None:
            return None
        return self.time_left_s >= duration_s


def _read(folder: Path, name: str) -> str | None:
    try:
        return (folder / name).read_text(encoding="ascii", errors="replace").strip()
    except OSError:  # absent attribute, or a driver that answers EIO/ENODATA
        return None


def _number(folder: Path, name: str) -> float | None:
    text = _read(folder, name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def _time_left_s(folder: Path, status: str) -> float | None:
    if status != "Discharging":
        return None
    for name in ("time_to_empty_now", "time_to_empty_avg"):
        seconds = _number(folder, name)
        if seconds:
            return seconds
    for stored, rate in (("energy_now", "power_now"), ("charge_now", "current_now")):
        amount, drain = _number(folder, stored), _number(folder, rate)
        if amount is not None and drain:
            return amount / drain * 3600.0
    return None


def _percent(folder: Path) -> float | None:
    capacity = _number(folder, "capacity")
    if capacity is not None:
        return min(capacity, 100.0)
    for now, full in (("energy_now", "energy_full"), ("charge_now", "charge_full")):
        amount, total = _number(folder, now), _number(folder, full)
        if amount is not None and total:
            return round(min(100.0 * amount / total, 100.0), 1)
    return None


def read_battery(root: Path = SYSFS_POWER_SUPPLY) -> Battery | None:
    """The first present battery (or UPS) under ``root``, or ``None`` when there is none."""
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return None
    external = False
    found: list[Path] = []
    for folder in entries:
        kind = _read(folder, "type")
        if kind in BATTERY_TYPES:
            if _read(folder, "present") not in (None, "1"):
                continue
            found.append(folder)
        elif kind is not None and _read(folder, "online") == "1":
            external = True  # Mains, USB, USB_PD... supplying power
    if not found:
        return None
    folder = found[0]
    status = _read(folder, "status") or "Unknown"
    return Battery(
        name=folder.name,
        percent=_percent(folder),
        status=status,
        time_left_s=_time_left_s(folder, status),
        on_external_power=external,
    )
