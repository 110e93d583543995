"""The Flask app factory over a :class:`rig.machine.Machine`.

Every request passes the request guard (rig.web.security) before its handler. Errors are
JSON ``{"error": ..., "code": ...}``; a ``RigError`` answers with its own ``http_status``
(server-side failures such as a full disk become 503), so no input can produce a 500.
The handlers share one :class:`rig.web.context.WebState`.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from flask import Flask, jsonify, render_template, request
from flask.json.provider import DefaultJSONProvider
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from rig.errors import RigError
from rig.lan import WILDCARD, is_loopback, lan_addresses
from rig.machine import Machine
from rig.web.api import api
from rig.web.camera_api import camera_api
from rig.web.catalogue_api import catalogue_api
from rig.web.checks import checks_api
from rig.web.context import EXTENSION, WebState
from rig.web.control import ControlConflict, ControlLock
from rig.web.fieldkit import fieldkit_api
from rig.web.files import files
from rig.web.focus import focus
from rig.web.gallery import Gallery
from rig.web.inspect import inspect_files
from rig.web.jsonio import MAX_BODY
from rig.web.openapi import openapi_api
from rig.web.pages import pages
from rig.web.runcontrol import run_control
from rig.web.security import ApiError, Guard, default_allowed_hosts, install_request_guard
from rig.web.stream import PreviewHub
from rig.web.sysinfo import system_api

log = logging.getLogger(__name__)
# The checkout's top-level web/ (source tree, editable installs). A wheel ships it as rig/_web.
WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"
PACKAGED_WEB = "_web"


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


def create_app(
    machine: Machine,
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    allowed_hosts: tuple[str, ...] | None = None,
    pair_url: str | None = None,
    interrupted: list[str] | None = None,
    not_updated: list[dict[str, str]] | None = None,
    web_dir: Path | None = None,
    lock_timeout_s: float = 15.0,
    addresses: Callable[[], list[str]] | None = None,
    hotspot_file: Path | None = None,
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
        MAX_CONTENT_LENGTH=MAX_BODY,
        JSON_SORT_KEYS=False,
        SECRET_KEY=secrets.token_bytes(32),
        TEMPLATES_AUTO_RELOAD=False,
    )
    if isinstance(app.json, DefaultJSONProvider):  # always: Flask's default provider
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
        not_updated=list(not_updated or []),
        sse_limit=max(2, cfg.web.threads - 8),
        hotspot_file=hotspot_file,
    )
    app.extensions[EXTENSION] = st

    app.register_blueprint(api)
    app.register_blueprint(catalogue_api)
    app.register_blueprint(checks_api)
    app.register_blueprint(system_api)
    app.register_blueprint(fieldkit_api)
    app.register_blueprint(run_control)
    app.register_blueprint(files)
    app.register_blueprint(focus)
    app.register_blueprint(inspect_files)
    app.register_blueprint(camera_api)
    app.register_blueprint(openapi_api)
    app.register_blueprint(pages)
    install_request_guard(app, guard, st.lock)
    _install_errors(app)
    return app


def _wants_json() -> bool:
    path = request.path
    return path.startswith(("/api/", "/stacks/", "/live")) or request.method != "GET"


def _error(status: int, message: str, code: str | None = None) -> ResponseReturnValue:
    if _wants_json():
        return jsonify({"error": message, "code": code, "status": status}), status
    try:
        return render_template("error.html", status=status, message=message), status
    except Exception:  # noqa: BLE001 - the error page must not fail
        return f"{status}: {message}", status, {"Content-Type": "text/plain; charset=utf-8"}


def _install_errors(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(exc: ApiError) -> ResponseReturnValue:
        return _error(exc.status, str(exc), exc.code)

    @app.errorhandler(RigError)
    def _rig(exc: RigError) -> ResponseReturnValue:
        status = exc.http_status if exc.http_status < 500 else 503
        code = "control" if isinstance(exc, ControlConflict) else ("state" if status == 409 else None)
        return _error(status, str(exc), code)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> ResponseReturnValue:
        return _error(exc.code or 400, exc.description or exc.name, None)

    @app.errorhandler(OSError)
    def _os(exc: OSError) -> ResponseReturnValue:
        log.warning("%s %s: file system error: %s", request.method, request.path, exc)
        return _error(503, f"the rig cannot read or write a file: {exc.strerror or exc}", "storage")

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return _error(500, f"internal error: {type(exc).__name__}", "bug")
