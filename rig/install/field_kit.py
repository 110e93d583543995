"""The field kit's install steps: the NetworkManager access point (``rig.hotspot``) and the file
that keeps its passphrase (``/etc/rig/hotspot.toml``, mode 600, owned by the service user so
``rig serve`` can show the Wi-Fi QR code).

Idempotent: the profile is created when absent, brought to the wanted settings when it differs,
and left alone when it matches (nmcli's terse output, read through the host's probe). The
passphrase is generated once and kept in the file; ``--hotspot-ssid``/``--hotspot-passphrase``
change it. The hotspot is not started by the installer (that would drop the Wi-Fi an installer
over SSH may be using): NetworkManager brings it up at boot when no known network is in reach.
"""

from __future__ import annotations

import dataclasses

from rig.errors import UsageError
from rig.hotspot import (
    CONNECTION,
    Hotspot,
    generate_passphrase,
    hotspot_toml,
    nmcli_delete,
    nmcli_show,
    parse_hotspot,
    parse_nmcli_terse,
)
from rig.install import HOTSPOT_TOML, USER, Options, Remove, Run, Step, Write
from rig.install.host import Host

NM_NO_SUCH_CONNECTION = 10  # nmcli(1), EXIT STATUS: "Connection, device, or access point does not exist."
NM_MISSING = 127  # system_probe: nmcli is not installed


def wanted_hotspot(host: Host, opts: Options) -> tuple[Hotspot | None, bool]:
    """The hotspot to set up (None: not a field kit) and whether its file could be read
    (a dry run without sudo cannot read the mode-600 file: its passphrase is then not shown)."""
    kept: Hotspot | None = None
    readable = True
    if host.exists(HOTSPOT_TOML):
        try:
            text = host.path(HOTSPOT_TOML).read_text(encoding="utf-8")
        except PermissionError:
            readable = False
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {HOTSPOT_TOML}: {exc}") from None
        else:
            kept = parse_hotspot(text, HOTSPOT_TOML)
    if not opts.field_kit and kept is None and readable:
        return None, True  # not a field kit (an earlier --field-kit install leaves the file: kept up to date)
    base = kept or Hotspot(passphrase=generate_passphrase() if readable else "unreadable")
    changes = {}
    if opts.hotspot_ssid is not None:
        changes["ssid"] = opts.hotspot_ssid
    if opts.hotspot_passphrase is not None:
        changes["passphrase"] = opts.hotspot_passphrase
    return dataclasses.replace(base, **changes), readable


def hotspot_steps(host: Host, opts: Options) -> list[Step]:
    """The hotspot's file and its NetworkManager profile (none when not a field kit)."""
    hotspot, readable = wanted_hotspot(host, opts)
    if hotspot is None:
        return []
    steps: list[Step] = []
    if readable:
        write = Write(HOTSPOT_TOML, hotspot_toml(hotspot).encode(), 0o600, f"{USER}:{USER}")
        same = host.read(HOTSPOT_TOML) == write.content and (host.path(HOTSPOT_TOML).stat().st_mode & 0o777) == 0o600
        steps.append(
            Step(
                "file:" + HOTSPOT_TOML,
                f"hotspot settings {HOTSPOT_TOML} (SSID {hotspot.ssid!r}; passphrase kept private, mode 600)",
                (write,),
                done="up to date" if same else None,
            )
        )
    wanted = hotspot.nmcli_settings()
    code, out = host.probe(nmcli_show(list(wanted)))
    if code == NM_MISSING:
        raise UsageError(
            "--field-kit: NetworkManager's nmcli is not installed (Raspberry Pi OS Bookworm has it); "
            "install network-manager, or install without --field-kit"
        )
    secret = (hotspot.passphrase,)
    notes = (
        "it comes up at boot when no known Wi-Fi is in reach (autoconnect priority "
        f"{wanted['connection.autoconnect-priority']}); start it now with: sudo nmcli connection up {CONNECTION} "
        "(this drops the Pi's current Wi-Fi)",
        "access-point mode needs the Wi-Fi country set once: sudo raspi-config nonint do_wifi_country GB "
        "(your country code)",
    )
    title = f"Wi-Fi hotspot {hotspot.ssid!r} (NetworkManager profile {CONNECTION}, the Pi is 10.42.0.1)"
    if code == NM_NO_SUCH_CONNECTION:
        steps.append(Step("hotspot", title, (Run(tuple(hotspot.nmcli_add()), secret),), notes=notes))
    elif code == 0 and readable and parse_nmcli_terse(out) == wanted:
        steps.append(Step("hotspot", title, (Run(tuple(hotspot.nmcli_modify()), secret),), done="up to date"))
    else:  # present but different, or unknown (not root, NetworkManager not running): bring it to these settings
        steps.append(Step("hotspot", title, (Run(tuple(hotspot.nmcli_modify()), secret),), notes=notes))
    return steps


def hotspot_removal(host: Host) -> list[Step]:
    """``rig uninstall``: delete the profile (when NetworkManager has it) and its file."""
    code, _ = host.probe(nmcli_show(["connection.id"]))
    present = code == 0
    return [
        Step(
            "remove:hotspot",
            f"remove the Wi-Fi hotspot (NetworkManager profile {CONNECTION})",
            (Run(tuple(nmcli_delete())),),
            done=None if present else "absent",
        ),
        Step(
            "remove:" + HOTSPOT_TOML,
            f"remove {HOTSPOT_TOML}",
            (Remove(HOTSPOT_TOML),),
            done=None if host.exists(HOTSPOT_TOML) else "absent",
        ),
    ]
