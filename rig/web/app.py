"""The Flask app factory over a :class:`rig.machine.Machine`.

Request flow: Host allow-list -> client id cookie -> pairing (LAN only) -> CSRF for
mutating calls -> the handler. Errors are JSON ``{"error": ..., "code": ...}``; a
``RigError`` answers with its own ``http_status`` (server-side failures such as a full disk
become 503), so no input can produce a 500.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from rig.errors import RigError
from rig.machine import Machine
from rig.merge.jobs import MergeManager
from rig.web.gallery import Gallery
from rig.web.security import (
    MUTATING,
    ApiError,
    ControlConflict,
    ControlLock,
    Guard,
    client_label,
    default_allowed_hosts,
    is_loopback,
    lan_addresses,
    split_host,
)
from rig.web.stream import PreviewHub

log = logging.getLogger(__name__)
# The checkout's top-level web/ (source tree, editable installs). A wheel ships it as rig/_web.
WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"
PACKAGED_WEB = "_web"
WILDCARD = ("0.0.0.0", "::", "")
CLIENT_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


@dataclass
class WebState:
    """Everything the handlers share; one per app (no module globals)."""

    machine: Machine
    guard: Guard
    lock: ControlLock
    gallery: Gallery
    merges: MergeManager  # the machine's (machine.merges)
    preview: PreviewHub
    lan: bool
    pair_url: str | None  # fixed pairing URL (tests); None: one per current address (pairing_urls)
    host: str = "127.0.0.1"  # the bound address
    port: int = 8080  # the listening port (rig serve sets the real one when given port 0)
    addresses: Callable[[], list[str]] = lan_addresses
    interrupted: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    can_home: bool | None = None  # cached by rail_can_home()
    last_run: dict[str, Any] | None = None  # {run_id, name, profile} of the last run started here
    boot: str = field(default_factory=lambda: secrets.token_hex(8))  # this server's life: pages reload on a new one
    sse_clients: int = 0
    sse_limit: int = 16
    counter_lock: threading.Lock = field(default_factory=threading.Lock)

    def shutdown(self, drain_s: float = 3.0) -> None:
        """Stop streams and merges, and wait (briefly) for the streams to end, so the server
        can close after them. The caller closes the machine."""
        import time

        self.stopping.set()
        self.preview.close()
        self.merges.close()
        deadline = time.monotonic() + drain_s
        while (self.sse_clients or self.preview.viewers) and time.monotonic() < deadline:
            time.sleep(0.05)


def find_web_dir(explicit: Path | str | None = None) -> Path:
    """The folder holding ``templates/`` and ``static/``: ``explicit``, else ``$RIG_WEB_DIR``,
    else the copy inside the installed package (``rig/_web``, see pyproject.toml), else the
    checkout's ``web/`` (editable installs and the source tree)."""
    chosen = explicit or os.environ.get("RIG_WEB_DIR")
    if chosen:
        return Path(chosen)
    try:
        packaged = Path(str(importlib.resources.files("rig") / PACKAGED_WEB))
    except (ImportError, TypeError, ValueError):  # rig loaded from a zip or an odd loader
        packaged = None
    if packaged is not None and (packaged / "templates").is_dir():
        return packaged
    return WEB_DIR


def pairing_urls(st: WebState) -> list[str]:
    """The pairing URLs (QR codes) for a phone: one per address this rig has right now, best
    first (the field kit's hotspot 10.42.0.1 when it is up). Empty when not on the LAN."""
    if not st.lan or not st.guard.token:
        return []
    if st.pair_url:
        return [st.pair_url]
    hosts = st.addresses() if st.host in WILDCARD else [split_host(st.host)]
    return [f"http://{f'[{h}]' if ':' in h else h}:{st.port}/pair?token={st.guard.token}" for h in hosts]


def state() -> WebState:
    from flask import current_app

    return current_app.extensions["rig"]


def state_of(app: Flask) -> WebState:
    return app.extensions["rig"]


def create_app(
    machine: Machine,
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    allowed_hosts: tuple[str, ...] | None = None,
    pair_url: str | None = None,
    interrupted: list[str] | None = None,
    web_dir: Path | None = None,
    lock_timeout_s: float = 15.0,
    addresses: Callable[[], list[str]] | None = None,
) -> Flask:
    """Build the app. ``token`` (required when ``host`` is not loopback) pairs LAN clients."""
    lan = not is_loopback(host) and host != "localhost"
    if lan and not token:
        raise ValueError("a pairing token is required when serving beyond loopback")
    web = find_web_dir(web_dir)
    if not (web / "templates" / "base.html").is_file():
        raise RigError(
            f"the web UI's files are missing: no {web / 'templates' / 'base.html'}; "
            "reinstall rig, or point RIG_WEB_DIR at a folder with templates/ and static/"
        )
    log.debug("web UI files from %s", web)
    app = Flask(
        "rig.web", template_folder=str(web / "templates"), static_folder=str(web / "static"), static_url_path="/static"
    )
    app.config.update(
        MAX_CONTENT_LENGTH=64 * 1024,
        JSON_SORT_KEYS=False,
        SECRET_KEY=secrets.token_bytes(32),
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.json.sort_keys = False
    cfg = machine.config
    extra = tuple(cfg.web.allowed_hosts) + tuple(allowed_hosts or ())
    addresses = addresses or lan_addresses
    guard = Guard(
        token=token if lan else None,
        allowed_hosts=default_allowed_hosts(host, extra, addresses),
        local_addresses=addresses if lan and host in WILDCARD else None,
    )
    st = WebState(
        machine=machine,
        guard=guard,
        lock=ControlLock(lock_timeout_s),
        gallery=Gallery(cfg.output.root),
        merges=machine.merges,
        preview=PreviewHub(machine, cfg.web.max_live_viewers),
        lan=lan,
        pair_url=pair_url,
        host=host,
        port=port,
        addresses=addresses,
        interrupted=list(interrupted or []),
        sse_limit=max(2, cfg.web.threads - 8),
    )
    app.extensions["rig"] = st

    from rig.web.api import api
    from rig.web.files import files
    from rig.web.pages import pages
    from rig.web.sysinfo import system_api

    app.register_blueprint(api)
    app.register_blueprint(system_api)
    app.register_blueprint(files)
    app.register_blueprint(pages)
    _install_hooks(app)
    _install_errors(app)
    return app


def _install_hooks(app: Flask) -> None:
    @app.before_request
    def _guard() -> None:
        st = state()
        g.new_client = None
        if not st.guard.host_ok(request.headers.get("Host")):
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
        g.bearer = st.guard.token is not None and auth.startswith("Bearer ") and st.guard.token_ok(auth[7:])
        g.paired = (
            st.guard.token is None or g.loopback or g.bearer or st.guard.token_ok(request.cookies.get("rig_pair"))
        )
        st.lock.touch(cid)
        if request.method in MUTATING:
            if not g.paired:
                raise ApiError(
                    401,
                    "this device is not paired with the rig: scan the QR code on the rig's "
                    "System page, or open /pair and type the token",
                    "pairing",
                )
            if not g.bearer:
                origin = request.headers.get("Origin")
                host = (request.headers.get("Host") or "").lower()
                if origin is not None and urlsplit(origin).netloc.lower() != host:
                    raise ApiError(403, "cross-origin request refused", "csrf")
                if not st.guard.csrf_ok(cid, request.headers.get("X-CSRF-Token")):
                    raise ApiError(403, "missing or stale CSRF token; reload the page", "csrf")

    @app.after_request
    def _headers(resp):  # type: ignore[no-untyped-def]
        if getattr(g, "new_client", None):
            resp.set_cookie("rig_client", g.new_client, max_age=365 * 86400, httponly=True, samesite="Strict")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault("Content-Security-Policy", CSP)
        if request.path.startswith("/api/"):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp


def _wants_json() -> bool:
    path = request.path
    return path.startswith(("/api/", "/stacks/", "/live")) or request.method != "GET"


def _error(status: int, message: str, code: str | None = None):  # type: ignore[no-untyped-def]
    if _wants_json():
        return jsonify({"error": message, "code": code, "status": status}), status
    try:
        return render_template("error.html", status=status, message=message), status
    except Exception:  # noqa: BLE001 - the error page must not fail
        return f"{status}: {message}", status, {"Content-Type": "text/plain; charset=utf-8"}


def _install_errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(exc: ApiError):  # type: ignore[no-untyped-def]
        return _error(exc.status, str(exc), exc.code)

    @app.errorhandler(RigError)
    def _rig(exc: RigError):  # type: ignore[no-untyped-def]
        status = exc.http_status if exc.http_status < 500 else 503
        code = "control" if isinstance(exc, ControlConflict) else ("state" if status == 409 else None)
        return _error(status, str(exc), code)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):  # type: ignore[no-untyped-def]
        return _error(exc.code or 400, exc.description or exc.name, None)

    @app.errorhandler(Exception)
    def _bug(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error in %s %s", request.method, request.path)
        return _error(500, f"internal error: {type(exc).__name__}", "bug")


def rail_health(part: object) -> dict[str, Any]:
    """A backend's ``health()``, or why it failed (a sick backend is what the UI reports)."""
    try:
        return dict(part.health())  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def rail_can_home(st: WebState) -> bool:
    """Whether the rail has a home switch (the Jog page's Home button); see
    ``rig.motion.can_home`` (also what ``rig home`` checks). Cached per server."""
    if st.can_home is None:
        from rig.motion import can_home

        st.can_home = can_home(st.machine.rail, st.machine.config.rail)
    return st.can_home


def running_settings(st: WebState, status: dict[str, Any]) -> dict[str, Any] | None:
    """The settings (profile name and fields) of the stack running now, so a page (re)loaded
    mid-run shows them instead of blank defaults; None when no stack runs."""
    run = st.last_run
    if not status.get("busy") or status.get("state") == "jogging" or not run:
        return None
    return run if run.get("run_id") == status.get("run_id") else None


def request_json_state(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Status + control + merge (+ the running stack's settings): what every client needs."""
    st = state()
    status = st.machine.sequencer.status().to_dict()
    out = {
        "status": status,
        "control": st.lock.state(g.client),
        "merge": st.merges.status(),
        "run": running_settings(st, status),
    }
    out.update(extra or {})
    return out
