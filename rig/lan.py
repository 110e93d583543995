"""This machine's network addresses: which ones a phone can reach it on (the pairing QR codes),
and whether an address is loopback. Plain sockets and psutil; nothing here knows about HTTP."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

HOTSPOT_ADDRESS = "10.42.0.1"  # NetworkManager's address on a shared connection (nmcli hotspot)
WILDCARD = ("0.0.0.0", "::", "")  # bind addresses that mean "every interface"


def is_loopback(addr: str | None) -> bool:
    if not addr:
        return False
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def order_addresses(addresses: Iterable[str], route: str | None = None) -> list[str]:
    """Every usable IPv4 address once, best for pairing first: the NetworkManager hotspot
    (a phone on the field kit's Wi-Fi), then the one on the default route, then the others in
    the order given, link-local (169.254.x) last. Loopback and junk are left out."""
    found: list[str] = []
    for raw in addresses:
        try:
            ip = ipaddress.IPv4Address(str(raw).split("%")[0])
        except ValueError:
            continue
        if ip.is_loopback or ip.is_unspecified or ip.is_multicast or str(ip) == "255.255.255.255":
            continue
        if str(ip) not in found:
            found.append(str(ip))

    def rank(addr: str) -> int:
        if addr == HOTSPOT_ADDRESS:
            return 0
        if addr == route:
            return 1
        return 3 if ipaddress.IPv4Address(addr).is_link_local else 2

    return sorted(found, key=rank)  # stable: the given order within a rank


def interface_addresses() -> list[str]:
    """The IPv4 addresses of every network interface (psutil), or the host name's."""
    found: list[str] = []
    try:
        import psutil

        for addrs in psutil.net_if_addrs().values():
            found += [a.address for a in addrs if a.family == socket.AF_INET]
    except Exception:  # noqa: BLE001 - psutil missing or the OS refused: fall back to the resolver
        pass
    try:
        found += [str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    except OSError:
        pass
    return found


def route_address() -> str | None:
    """The local address of the default route, if there is one (sends no packets)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # UDP connect only picks a route
            return str(s.getsockname()[0])
    except OSError:
        return None


def lan_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses, best for pairing first (see order_addresses)."""
    return order_addresses(interface_addresses(), route_address())
