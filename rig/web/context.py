"""What the web handlers share: one :class:`WebState` per app (no module globals), how a
handler finds it (``state()``), and the small helpers several blueprints use.

app.py builds the state; the blueprints (api, files, pages, sysinfo) import it from here,
so no blueprint imports the app factory.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from flask import Flask, current_app, g

from rig.lan import WILDCARD, lan_addresses
from rig.machine import Machine
from rig.merge.jobs import MergeManager
from rig.web.control import ControlLock
from rig.web.gallery import Gallery
from rig.web.ratelimit import FailureLimiter
from rig.web.security import Guard, split_host
from rig.web.stream import PreviewHub

EXTENSION = "rig"  # the key of the WebState in Flask's app.extensions


class HasHealth(Protocol):
    """A backend (rail or camera): both protocols have ``health()``."""

    def health(self) -> dict[str, Any]: ...


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
    not_updated: list[dict[str, str]] = field(default_factory=list)  # {folder, error}: stack.json unwritable at start
    stopping: threading.Event = field(default_factory=threading.Event)
    can_home: bool | None = None  # cached by rail_can_home()
    last_run: dict[str, Any] | None = None  # {run_id, name, profile} of the last run started here
    boot: str = field(default_factory=lambda: secrets.token_hex(8))  # this server's life: pages reload on a new one
    sse_clients: int = 0
    sse_limit: int = 16
    counter_lock: threading.Lock = field(default_factory=threading.Lock)
    hotspot_file: Path | None = None  # the field kit's hotspot.toml (beside the machine config)
    summary: tuple[float, dict[str, Any]] | None = None  # battery and clock, cached (rig.web.fieldkit)
    summary_lock: threading.Lock = field(default_factory=threading.Lock)
    pair_failures: FailureLimiter = field(default_factory=FailureLimiter)  # /pair's wrong tokens

    def shutdown(self, drain_s: float = 3.0) -> None:
        """Stop streams and merges, and wait (briefly) for the streams to end, so the server
        can close after them. The caller closes the machine."""
        self.stopping.set()
        self.preview.close()
        self.merges.close()
        self.gallery.catalogue.close()  # the SQLite index (a cache)
        deadline = time.monotonic() + drain_s
        while (self.sse_clients or self.preview.viewers) and time.monotonic() < deadline:
            time.sleep(0.05)


def state() -> WebState:
    """The state of the app handling the current request."""
    return state_of(current_app)


def state_of(app: Flask) -> WebState:
    return cast(WebState, app.extensions[EXTENSION])


def pairing_urls(st: WebState) -> list[str]:
    """The pairing URLs (QR codes) for a phone: one per address this rig has right now, best
    first (the field kit's hotspot 10.42.0.1 when it is up). Empty when not on the LAN."""
    if not st.lan or not st.guard.token:
        return []
    if st.pair_url:
        return [st.pair_url]
    hosts = st.addresses() if st.host in WILDCARD else [split_host(st.host)]
    return [f"http://{f'[{h}]' if ':' in h else h}:{st.port}/pair?token={st.guard.token}" for h in hosts]


def rail_health(part: HasHealth) -> dict[str, Any]:
    """A backend's ``health()``, or why it failed (a sick backend is what the UI reports)."""
    try:
        return dict(part.health())
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
