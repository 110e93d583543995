"""Who may do what: Host allow-list, pairing token, CSRF and the control lock.

* Every request's ``Host`` header must name this rig (DNS-rebinding guard).
* On the LAN (``--host 0.0.0.0``) every mutating call needs the pairing token: the
  ``rig_pair`` cookie (set by ``/pair?token=...``, the QR code's URL) or an
  ``Authorization: Bearer <token>`` header. A browser on the rig itself (loopback) is paired
  automatically, so the touchscreen never has to type it.
* Cookie-authenticated mutating calls also need ``X-CSRF-Token``: an HMAC of the client's
  id under a per-process secret, handed out by ``GET /api/session``. A cross-site form or
  fetch can neither read it nor set the header.
* One client at a time holds the control lock for motion commands; others watch until
  they take over explicitly.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from rig.errors import StateError

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to read off a screen


class ApiError(Exception):
    """An error answered as JSON ``{"error": message, "code": code}``."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class ControlConflict(StateError):
    """Another client holds the control lock."""


def new_token() -> str:
    raw = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def is_loopback(addr: str | None) -> bool:
    if not addr:
        return False
    try:
        return ipaddress.ip_address(addr.split("%")[0]).is_loopback
    except ValueError:
        return False


def split_host(host: str) -> str:
    """The host part of a Host header, lower case, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":")[0]
    return host.rstrip(".")


def default_allowed_hosts(
    bind: str, extra: tuple[str, ...] = (), addresses: Callable[[], list[str]] | None = None
) -> set[str]:
    """Names the rig answers to: loopback names, and on the LAN its addresses and host names."""
    names = {"localhost", "127.0.0.1", "::1"}
    if not is_loopback(bind):
        hostname = socket.gethostname().lower()
        names |= {hostname, f"{hostname}.local", f"{hostname}.lan"}
        for addr in (addresses or lan_addresses)():
            names.add(addr)
        if bind not in ("0.0.0.0", "::", ""):
            names.add(split_host(bind))
    names |= {split_host(h) for h in extra if h}
    return names


HOTSPOT_ADDRESS = "10.42.0.1"  # NetworkManager's address on a shared connection (nmcli hotspot)


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


@dataclass
class Guard:
    """The security policy of one app instance."""

    token: str | None  # None: pairing not required (bound to loopback)
    allowed_hosts: set[str]
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    # On the LAN: this machine's current addresses, so an interface that comes up after the
    # start (the field kit's hotspot) is accepted too. An IP literal cannot be a rebinding name.
    local_addresses: Callable[[], list[str]] | None = None
    _local: tuple[float, frozenset[str]] = (0.0, frozenset())

    def host_ok(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        host = split_host(host_header)
        if host in self.allowed_hosts:
            return True
        if self.local_addresses is None:
            return False
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return host in self._current_addresses()

    def _current_addresses(self) -> frozenset[str]:
        stamp, addrs = self._local
        now = time.monotonic()
        if now - stamp > 5.0 or not stamp:
            try:
                addrs = frozenset(self.local_addresses() if self.local_addresses else ())
            except Exception:  # noqa: BLE001 - best effort: the static allow-list still holds
                addrs = frozenset()
            self._local = (now, addrs)
        return addrs

    def csrf_for(self, client_id: str) -> str:
        return hmac.new(self.secret, client_id.encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_ok(self, client_id: str, header: str | None) -> bool:
        return bool(header) and hmac.compare_digest(self.csrf_for(client_id), header or "")

    def token_ok(self, candidate: str | None) -> bool:
        if self.token is None:
            return True
        return bool(candidate) and hmac.compare_digest(self.token.encode(), (candidate or "").strip().encode())


class ControlLock:
    """One controller at a time.

    The lock lapses when its holder has no status stream open (no page showing) and has made
    no request for ``timeout_s``; an open page keeps it (its stream's heartbeat counts).
    """

    def __init__(self, timeout_s: float = 15.0) -> None:
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._holder: str | None = None
        self._label = ""
        self._since = 0.0
        self._seen: dict[str, float] = {}
        self._streams: dict[str, int] = {}
        self.version = 0

    def _expired(self, now: float) -> bool:
        if self._holder is None or self._streams.get(self._holder):
            return False
        return now - self._seen.get(self._holder, 0.0) > self.timeout_s

    def stream(self, client: str, opened: bool) -> None:
        """Count the client's open status streams (its open pages)."""
        with self._lock:
            n = self._streams.get(client, 0) + (1 if opened else -1)
            if n > 0:
                self._streams[client] = n
            else:
                self._streams.pop(client, None)
            self._seen[client] = time.monotonic()

    def touch(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._seen[client] = now
            if len(self._seen) > 500:  # forget the oldest clients
                for old in sorted(self._seen, key=self._seen.__getitem__)[:250]:
                    if old != self._holder:
                        del self._seen[old]

    def _take(self, client: str, label: str, now: float) -> None:
        if self._holder != client:
            self._holder, self._label, self._since = client, label, time.time()
            self.version += 1
        self._seen[client] = now

    def require(self, client: str, label: str) -> None:
        """Take the lock if it is free; raise ControlConflict if another client holds it."""
        with self._lock:
            now = time.monotonic()
            if self._holder is None or self._holder == client or self._expired(now):
                self._take(client, label, now)
                return
            raise ControlConflict(f"{self._label} has control of the rig; take over to use it from here")

    def take(self, client: str, label: str, force: bool) -> None:
        with self._lock:
            now = time.monotonic()
            if self._holder not in (None, client) and not force and not self._expired(now):
                raise ControlConflict(f"{self._label} has control; send force=true to take over")
            self._take(client, label, now)

    def release(self, client: str) -> None:
        with self._lock:
            if self._holder == client:
                self._holder = None
                self.version += 1

    def state(self, client: str | None = None) -> dict[str, Any]:
        with self._lock:
            if self._expired(time.monotonic()):
                self._holder = None
                self.version += 1
            held = self._holder is not None
            return {
                "held": held,
                "mine": held and self._holder == client,
                "holder": self._label if held else None,
                "since": self._since if held else None,
                "version": self.version,
            }


def client_label(remote_addr: str | None, user_agent: str) -> str:
    if is_loopback(remote_addr):
        return "a browser on the rig"
    ua = user_agent.lower()
    kind = "a phone" if ("mobile" in ua or "android" in ua or "iphone" in ua) else "a browser"
    return f"{kind} at {remote_addr or 'unknown address'}"
