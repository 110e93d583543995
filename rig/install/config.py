"""The installer's config files: the example /etc/rig/rig.toml, and what it reads back
from an existing one (where the stacks go, the web port, the shutdown pin)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from rig.config import SystemConfig, load_config
from rig.errors import ConfigError
from rig.install.host import Host

SERVICE_HOME = "/var/lib/rig"  # HOME of the service user: "~" in output.root means this


@dataclass(frozen=True)
class Existing:
    output_root: str
    web_port: int
    web_host: str
    system: SystemConfig


def read_existing(host: Host, path: str) -> Existing | None:
    """The installed config's relevant values; None if there is none. A config that does
    not load stops the installer: the service would not start with it either."""
    if not host.exists(path):
        return None
    try:
        cfg = load_config(host.path(path))
    except ConfigError as exc:
        raise ConfigError(f"{exc} (fix {path} or move it away, then run the installer again)") from None
    return Existing(
        output_root=service_path(cfg.output.root), web_port=cfg.web.port, web_host=cfg.web.host, system=cfg.system
    )


def service_path(path: str) -> str:
    """A path as the service sees it (its HOME is /var/lib/rig)."""
    if path == "~" or path.startswith("~/"):
        path = SERVICE_HOME + path[1:]
    return os.path.normpath(path)


def service_dropin(output_root: str, state: str) -> str | None:
    """A rig.service drop-in that lets the sandboxed service write stacks outside its state
    folder (a USB disk), and orders it after that disk is mounted; None when not needed."""
    root = service_path(output_root)
    if root == state or root.startswith(state.rstrip("/") + "/"):
        return None
    return (
        "# Written by `sudo rig install` from output.root in /etc/rig/rig.toml; rewritten on every install.\n"
        "[Unit]\n"
        f"RequiresMountsFor={root}\n"
        "[Service]\n"
        f"ReadWritePaths={root}\n"
    )


def checked_example_config(field_kit: bool = False, shutdown_pin: int | None = None) -> str:
    """``example_config``, loaded back as the service would load it: the installer never writes
    a config that keeps ``rig serve`` from starting."""
    import tomllib

    from rig.config import MachineConfig
    from rig.config.schema import from_table

    text = example_config(field_kit, shutdown_pin)
    try:
        from_table(MachineConfig, tomllib.loads(text), "the example config")
    except ConfigError as exc:
        raise ConfigError(f"{exc} (from the installer's options)") from None
    return text


def example_config(field_kit: bool = False, shutdown_pin: int | None = None) -> str:
    """The example machine config: the simulated rig (nothing moves until you choose your
    hardware), stacks under /var/lib/rig/stacks, the UI on this machine only unless a field
    kit (then on every address: phones on the kit's hotspot, pairing token required)."""
    host = "0.0.0.0" if field_kit else "127.0.0.1"
    pin = f"shutdown_pin = {shutdown_pin}" if shutdown_pin is not None else "# shutdown_pin = 26"
    kit = "true" if field_kit else "false"
    return f"""\
# rig machine config, written by `sudo rig install` (which never overwrites it).
# Every option: /opt/rig/share/docs/config.md. Examples for each rail and camera: config/*.toml
# in the source. Check it with:   rig check --config /etc/rig/rig.toml
# Apply a change with:            sudo systemctl restart rig
#
# It starts as the simulated rig: nothing moves until you choose your hardware below.

[rail]
backend = "sim"          # gpio | stackshot | pico | lens | sim
# [rail.stackshot]
# port = ""              # empty = find the StackShot by its USB name (/dev/stackshot via udev)

[camera]
backend = "sim"          # gphoto | shutter | picam | sim

[output]
root = "/var/lib/rig/stacks"   # a USB disk works too (e.g. /media/rig-data); re-run `sudo rig install`

[web]
host = "{host}"      # "0.0.0.0": phones on the LAN or the field kit's hotspot (pairing token required)
port = 8080

[system]
# Field kit: a push button from this BCM pin to ground, held to stop the rail and power off.
# After setting it, run `sudo rig install` again to enable rig-shutdown-button.service.
{pin}
shutdown_hold_s = 2.0
# Field kit (battery, no network): the touchscreen blanks when idle, the rail driver is released
# between stacks. `rig install --field-kit` also makes the Wi-Fi hotspot (/etc/rig/hotspot.toml).
field_kit = {kit}
screen_blank_s = 120
"""
