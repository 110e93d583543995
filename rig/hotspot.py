"""The field kit's Wi-Fi access point: its settings, the NetworkManager commands that make and
remove it, and the Wi-Fi QR code that joins it.

The connection is a NetworkManager profile (``nmcli connection add type wifi ... mode ap
ipv4.method shared``: NetworkManager runs DHCP and the Pi is ``10.42.0.1``). It has a low
``autoconnect-priority``, so at boot NetworkManager brings up any known network in reach first and
the hotspot only when none is (NetworkManager tries autoconnect profiles by priority, highest
first: nm-settings-connection.c, ``nm_settings_connection_cmp_autoconnect_priority``).

The passphrase is generated once and kept in ``hotspot.toml`` beside the machine config, mode 600.
The QR code follows the de-facto standard every phone camera reads (ZXing's
``WifiResultParser``; Android and iOS): ``WIFI:T:WPA;S:<ssid>;P:<passphrase>;;`` with ``\\``, ``;``,
``,``, ``:`` and ``"`` escaped by a backslash.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from rig.errors import UsageError

CONNECTION = "rig-hotspot"
DEFAULT_SSID = "rig-kit"
PASSPHRASE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # easy to read off a screen and type
PASSPHRASE_LENGTH = 16
AUTOCONNECT_PRIORITY = -10  # below every known network (default 0): the hotspot is the fallback
HOTSPOT_ADDRESS = "10.42.0.1"  # NetworkManager's default for ipv4.method shared


def check_ssid(ssid: str) -> str:
    size = len(ssid.encode("utf-8"))
    if not 1 <= size <= 32:
        raise UsageError(f"hotspot SSID {ssid!r} is {size} bytes: must be 1 to 32 bytes (UTF-8)")
    if any(ord(ch) < 32 for ch in ssid):
        raise UsageError(f"hotspot SSID {ssid!r}: control characters are not allowed")
    return ssid


def check_passphrase(passphrase: str) -> str:
    # WPA2-PSK: 8 to 63 printable ASCII characters (IEEE 802.11i, annex H.4)
    if not 8 <= len(passphrase) <= 63:
        raise UsageError(f"hotspot passphrase is {len(passphrase)} characters: must be 8 to 63")
    if not all(32 <= ord(ch) <= 126 for ch in passphrase):
        raise UsageError("hotspot passphrase: only printable ASCII characters (space to ~) are allowed")
    return passphrase


def generate_passphrase() -> str:
    return "".join(secrets.choice(PASSPHRASE_ALPHABET) for _ in range(PASSPHRASE_LENGTH))


@dataclass(frozen=True)
class Hotspot:
    ssid: str = DEFAULT_SSID
    passphrase: str = ""
    band: str = "bg"  # 2.4 GHz: reaches further through a bag and works with every phone
    interface: str = "wlan0"

    def __post_init__(self) -> None:
        check_ssid(self.ssid)
        check_passphrase(self.passphrase)
        if self.band not in ("bg", "a"):
            raise UsageError(f"hotspot band {self.band!r}: must be 'bg' (2.4 GHz) or 'a' (5 GHz)")

    def nmcli_add(self) -> list[str]:
        """Create the access point profile (NetworkManager keeps the passphrase root-only)."""
        return [
            "nmcli", "connection", "add", "type", "wifi", "ifname", self.interface, "con-name", CONNECTION,
            "autoconnect", "yes", "ssid", self.ssid,
            *self._ap_settings(),
        ]  # fmt: skip

    def nmcli_modify(self) -> list[str]:
        """Bring an existing profile to these settings (re-running the installer is idempotent)."""
        return [
            "nmcli", "connection", "modify", CONNECTION,
            "connection.interface-name", self.interface, "connection.autoconnect", "yes",
            "802-11-wireless.ssid", self.ssid,
            *self._ap_settings(),
        ]  # fmt: skip

    def _ap_settings(self) -> list[str]:
        """What ``add`` and ``modify`` both set: an access point, DHCP, WPA2, the fallback priority."""
        return [
            "802-11-wireless.mode", "ap", "802-11-wireless.band", self.band,
            "ipv4.method", "shared",
            "wifi-sec.key-mgmt", "wpa-psk", "wifi-sec.proto", "rsn",
            "wifi-sec.pairwise", "ccmp", "wifi-sec.group", "ccmp",
            "wifi-sec.psk", self.passphrase,
            "connection.autoconnect-priority", str(AUTOCONNECT_PRIORITY),
        ]  # fmt: skip

    def nmcli_settings(self) -> dict[str, str]:
        """The profile's properties as ``nmcli --terse --mode multiline connection show`` prints them
        (full setting names), to tell whether an existing profile already matches."""
        return {
            "connection.interface-name": self.interface,
            "connection.autoconnect": "yes",
            "connection.autoconnect-priority": str(AUTOCONNECT_PRIORITY),
            "802-11-wireless.ssid": self.ssid,
            "802-11-wireless.mode": "ap",
            "802-11-wireless.band": self.band,
            "ipv4.method": "shared",
            "802-11-wireless-security.key-mgmt": "wpa-psk",
            "802-11-wireless-security.proto": "rsn",
            "802-11-wireless-security.pairwise": "ccmp",
            "802-11-wireless-security.group": "ccmp",
            "802-11-wireless-security.psk": self.passphrase,
        }

    def wifi_qr_payload(self) -> str:
        return f"WIFI:T:WPA;S:{escape_qr(self.ssid)};P:{escape_qr(self.passphrase)};;"


def nmcli_delete() -> list[str]:
    return ["nmcli", "connection", "delete", CONNECTION]


def nmcli_show(fields: list[str]) -> list[str]:
    """Read the profile's properties (with the passphrase: root only), one ``name:value`` a line;
    exit status 10 when there is no such profile (nmcli(1), EXIT STATUS)."""
    return [
        "nmcli", "--terse", "--mode", "multiline", "--show-secrets", "--fields", ",".join(fields),
        "connection", "show", CONNECTION,
    ]  # fmt: skip


def parse_nmcli_terse(text: str) -> dict[str, str]:
    """``name:value`` lines of nmcli's terse output; ``\\:`` and ``\\\\`` in values unescaped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            out[name.strip()] = value.replace("\\:", ":").replace("\\\\", "\\")
    return out


def escape_qr(text: str) -> str:
    for ch in ("\\", ";", ",", ":", '"'):
        text = text.replace(ch, "\\" + ch)
    return text


HOTSPOT_FILE = "hotspot.toml"  # beside the machine config, mode 600, owned by the service user


def hotspot_toml(hotspot: Hotspot) -> str:
    """The file's text. Standard library only: the installer runs before the virtualenv exists
    (a JSON string is a valid TOML basic string: the same escapes, ``\\uXXXX`` included)."""
    import json

    body = {"ssid": hotspot.ssid, "passphrase": hotspot.passphrase, "band": hotspot.band}
    body["interface"] = hotspot.interface
    lines = [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in body.items()]
    return "# The field kit's Wi-Fi hotspot (rig install --field-kit). Keep private.\n" + "\n".join(lines) + "\n"


def parse_hotspot(text: str, source: str) -> Hotspot:
    """``hotspot.toml``'s text as a :class:`Hotspot`; a bad file is one line naming it."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML ({exc})") from None
    unknown = set(data) - {"ssid", "passphrase", "band", "interface"}
    if unknown:
        raise UsageError(f"{source}: unknown option {sorted(unknown)[0]!r}")
    if not all(isinstance(v, str) for v in data.values()):
        raise UsageError(f"{source}: every option is a string")
    try:
        return Hotspot(**data)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None


def read_hotspot(path: str | os.PathLike[str]) -> Hotspot | None:
    """The hotspot kept at ``path``, or None when there is none (or it cannot be read)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return None
    return parse_hotspot(text, str(path))
