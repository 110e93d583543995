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


def default_allowed_hosts(bind: str, extra: tuple[str, ...] = ()) -> set[str]:
    """Names the rig answers to: loopback names, and on the LAN its addresses and host names."""
    names = {"localhost", "127.0.0.1", "::1"}
    if not is_loopback(bind):
        hostname = socket.gethostname().lower()
        names |= {hostname, f"{hostname}.local", f"{hostname}.lan"}
        for addr in lan_addresses():
            names.add(addr)
        if bind not in ("0.0.0.0", "::", ""):
            names.add(split_host(bind))
    names |= {split_host(h) for h in extra if h}
    return names


def lan_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (best effort, sends no packets)."""
    found: list[str] = []
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect(("10.255.255.255", 1))  # UDP connect only picks a route
            found.append(s.getsockname()[0])
        finally:
            s.close()
    except OSError:
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addr = str(info[4][0])
            if addr not in found:
                found.append(addr)
    except OSError:
        pass
    return [a for a in found if not is_loopback(a)]


@dataclass
class Guard:
    """The security policy of one app instance."""

    token: str | None  # None: pairing not required (bound to loopback)
    allowed_hosts: set[str]
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def host_ok(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        return split_host(host_header) in self.allowed_hosts

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
