"""The request guard: who may do what, checked before every handler.

* Every request's ``Host`` header must name this rig (DNS-rebinding guard).
* On the LAN (``--host 0.0.0.0``) every mutating call needs the pairing token: the
  ``rig_pair`` cookie (set by ``/pair?token=...``, the QR code's URL) or an
  ``Authorization: Bearer <token>`` header. A browser on the rig itself (loopback) is paired
  automatically, so the touchscreen never has to type it.
* Cookie-authenticated mutating calls also need ``X-CSRF-Token``: an HMAC of the client's
  id under a per-process secret, handed out by ``GET /api/session``. A cross-site form or
  fetch can neither read it nor set the header.

Request flow (``install_request_guard``): Host allow-list -> client id cookie -> pairing (LAN
only) -> CSRF for mutating calls -> the handler. Who may move the rig is the control lock's
job (rig.web.control); this machine's addresses come from rig.lan.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import Flask, Response, g, request

from rig.lan import WILDCARD, is_loopback, lan_addresses
from rig.web.control import ControlLock

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: easy to read off a screen
CLIENT_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class ApiError(Exception):
    """An error answered as JSON ``{"error": message, "code": code}``."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


# A stop is always safe: every viewer that can see the rig may stop it (logged with who sent it);
# moves and starts stay paired-only. CSRF and origin checks still apply.
STOPS = frozenset({"/api/estop", "/api/cancel"})


def canonical_token(text: str) -> str:
    """A pairing token without case, white space or dashes (what a person may type differently)."""
    return "".join(ch for ch in text.lower() if not ch.isspace() and ch not in "-\u2010\u2011\u2012\u2013\u2212")


def new_token() -> str:
    raw = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


HOST_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_-]{1,63})*\.?$")


def parse_host(header: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a Host (or Origin netloc) value; None for any odd form.

    Accepted: ``name``, ``name:port``, ``1.2.3.4[:port]``, ``[v6][:port]``. Refused: userinfo
    (``user@host``), empty or non-numeric ports, bare IPv6, spaces, paths, percent escapes.
    """
    text = header.strip().lower()
    if not text or len(text) > 255 or any(c in text for c in "@/\\?#% \t"):
        return None
    port: int | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    else:
        host, sep, rest = text.partition(":")
        rest = sep + rest
        if not HOST_NAME_RE.match(host):
            return None
    if rest:
        if not rest.startswith(":") or not rest[1:].isdigit() or len(rest) > 6 or not rest[1:].isascii():
            return None
        port = int(rest[1:])
        if not 0 < port <= 65535:
            return None
    return host.rstrip("."), port


def split_host(host: str) -> str:
    """The host part of a bind address or configured host name, lower case, without port or
    IPv6 brackets (a bare IPv6 address is kept whole); "" if malformed."""
    parsed = parse_host(host)
    if parsed:
        return parsed[0]
    try:
        return str(ipaddress.ip_address(host.strip().lower()))
    except ValueError:
        return ""


def origin_matches(origin: str, scheme: str, host_header: str) -> bool:
    """Whether an ``Origin`` names exactly this request's scheme, host and port."""
    default = {"http": 80, "https": 443}
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return False
    if parts.scheme not in default or parts.path or parts.query or parts.fragment:
        return False
    theirs, ours = parse_host(parts.netloc), parse_host(host_header)
    if theirs is None or ours is None:
        return False
    return (
        parts.scheme == scheme
        and theirs[0] == ours[0]
        and (theirs[1] or default[parts.scheme]) == (ours[1] or default.get(scheme, 0))
    )


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
        if bind not in WILDCARD:
            names.add(split_host(bind))
    names |= {split_host(h) for h in extra if h}
    names.discard("")
    return names


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
        parsed = parse_host(host_header)
        if parsed is None:
            return False
        host = parsed[0]
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
        """Whether ``candidate`` is the pairing token as a person types it: case, spaces and dashes
        do not matter (``ABCD efgh-JKMN`` pairs as ``abcd-efgh-jkmn``)."""
        if self.token is None:
            return True
        return bool(candidate) and hmac.compare_digest(
            canonical_token(self.token).encode(), canonical_token(candidate or "").encode()
        )


def client_label(remote_addr: str | None, user_agent: str) -> str:
    if is_loopback(remote_addr):
        return "a browser on the rig"
    ua = user_agent.lower()
    kind = "a phone" if ("mobile" in ua or "android" in ua or "iphone" in ua) else "a browser"
    return f"{kind} at {remote_addr or 'unknown address'}"


def install_request_guard(app: Flask, guard: Guard, lock: ControlLock) -> None:
    """Check every request before its handler (see the module docstring) and set the
    response's security headers. Sets ``g.client``, ``g.loopback``, ``g.label``, ``g.bearer``
    and ``g.paired`` for the handlers."""

    @app.before_request
    def _guard() -> None:
        g.new_client = None
        if not guard.host_ok(request.headers.get("Host")):
            raise ApiError(
                403, "this Host name is not allowed (DNS-rebinding guard); add it to web.allowed_hosts", "host"
            )
        cid = request.cookies.get("rig_client", "")
        if not CLIENT_RE.match(cid):
            cid = secrets.token_urlsafe(18)
            g.new_client = cid
        g.client = cid
        g.loopback = is_loopback(request.remote_addr)
        g.label = client_label(request.remote_addr, request.headers.get("User-Agent", ""))
        auth = request.headers.get("Authorization", "")
        g.bearer = guard.token is not None and auth.startswith("Bearer ") and guard.token_ok(auth[7:])
        g.paired = guard.token is None or g.loopback or g.bearer or guard.token_ok(request.cookies.get("rig_pair"))
        lock.touch(cid)
        if request.method in MUTATING:
            if not g.paired and request.path not in STOPS:
                raise ApiError(
                    401,
                    "this device is not paired with the rig: scan the QR code on the rig's "
                    "System page, or open /pair and type the token",
                    "pairing",
                )
            if not g.bearer:
                origin = request.headers.get("Origin")
                if origin is not None and not origin_matches(origin, request.scheme, request.headers.get("Host") or ""):
                    raise ApiError(403, "cross-origin request refused", "csrf")
                if not guard.csrf_ok(cid, request.headers.get("X-CSRF-Token")):
                    raise ApiError(403, "missing or stale CSRF token; reload the page", "csrf")

    @app.after_request
    def _headers(resp: Response) -> Response:
        if getattr(g, "new_client", None):
            resp.set_cookie("rig_client", g.new_client, max_age=365 * 86400, httponly=True, samesite="Strict")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("Content-Security-Policy", CSP)
        if request.path.startswith("/api/"):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp
