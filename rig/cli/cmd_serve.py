"""``rig serve``: the touchscreen and phone web UI, served by waitress in the process that owns the rig.

Binds 127.0.0.1 unless told otherwise. With a non-loopback ``--host`` (LAN access) a
pairing token is created once (``$XDG_CONFIG_HOME/rig/pairing-token``) and shown, with a
QR code, on the terminal and on the rig's own System page. SIGTERM/SIGINT cancel a running
stack with outcome ``interrupted``, wait for the rail to stop and close the machine. Under
systemd (``$NOTIFY_SOCKET``) it sends ``READY=1`` once it listens and ``STOPPING=1`` when a
shutdown begins (rig.service is ``Type=notify``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # loaded by run(), not when the CLI starts
    from types import FrameType

    from rig.config import MachineConfig
    from rig.machine import Machine
    from rig.web.context import WebState

log = logging.getLogger(__name__)
STOP_WAIT_S = 30.0
LOOP_TICK_S = 0.25  # how soon the server loop notices SIGTERM/SIGINT


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "serve",
        help="run the web UI (touchscreen and phone)",
        description="Serve the touchscreen/phone UI and the JSON API. Binds 127.0.0.1 by default; "
        "--host 0.0.0.0 opens LAN access, which needs the pairing token it prints.",
    )
    p.add_argument("--config", metavar="FILE", help="machine config (TOML); default: the simulated rig")
    p.add_argument(
        "--sim", action="store_true", help="use the built-in simulated rig with real-time moves (ignores --config)"
    )
    p.add_argument("--host", help="address to bind (default: web.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="TCP port (default: web.port, 8080; 0 = any free port)")
    p.set_defaults(func=run)


def sim_config() -> MachineConfig:
    """The simulated rig with moves that take real time, so stacks are visible in the UI."""
    from rig.config import MachineConfig

    cfg = MachineConfig()
    rail = dataclasses.replace(cfg.rail, sim=dataclasses.replace(cfg.rail.sim, time_scale=1.0))
    return dataclasses.replace(cfg, rail=rail, source="<built-in simulated rig (rig serve --sim)>")


def token_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "rig" / "pairing-token"


def load_or_create_token(path: Path | None = None) -> str:
    from rig.errors import UsageError
    from rig.web.security import new_token

    path = path or token_path()
    try:
        text = path.read_text(encoding="ascii").strip()
        if 8 <= len(text) <= 128:
            return text
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the pairing token {path}: {exc}") from None
    token = new_token()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(token + "\n")
    except OSError as exc:
        raise UsageError(f"cannot save the pairing token {path}: {exc.strerror}") from None
    return token


def run(args: argparse.Namespace) -> int:
    from rig.heap import return_large_buffers

    return_large_buffers()  # before any thread starts: frame buffers go back to the system when freed
    import waitress  # noqa: F401 - fail early with a clear ImportError

    from rig.config import load_config
    from rig.errors import UsageError
    from rig.events import EventKind
    from rig.lan import is_loopback
    from rig.machine import Machine
    from rig.recovery import reconcile
    from rig.web.app import create_app
    from rig.web.context import pairing_urls, state_of

    cfg = sim_config() if args.sim else load_config(args.config)
    host = args.host or cfg.web.host
    port = cfg.web.port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port}: must be from 0 to 65535")
    lan = not is_loopback(host) and host != "localhost"
    token = load_or_create_token() if lan else None

    report = reconcile(Path(cfg.output.root))  # never raises: a full disk must not stop the UI
    interrupted = report.interrupted
    machine = Machine.build(cfg)
    try:
        from rig.hotspot import HOTSPOT_FILE

        hotspot = Path(args.config).parent / HOTSPOT_FILE if args.config and not args.sim else None
        app = create_app(
            machine,
            token=token,
            host=host,
            port=port,
            interrupted=interrupted,
            not_updated=report.not_updated,
            hotspot_file=hotspot,
        )
        server = make_server(app, host, port, cfg.web.threads)
        real_port = server.effective_port
        st = state_of(app)
        st.port = real_port
        if interrupted:
            machine.bus.publish(EventKind.INTERRUPTED, {"folders": interrupted})
            print(f"rig: {len(interrupted)} stack(s) left running by an earlier crash were marked interrupted")
        _print_reconciled(report)
        local = host if not lan else "127.0.0.1"
        if ":" in local:
            local = f"[{local}]"
        print(f"rig: {cfg.source}: serving on http://{local}:{real_port}/  (Ctrl-C to stop)", flush=True)
        if lan:
            urls = pairing_urls(st)
            print(f"rig: LAN access is on. Pair a phone with token {token}", flush=True)
            for url in urls:
                print(f"rig: or open {url}", flush=True)
            if not urls:
                print("rig: no network address yet (the System page shows them when one comes up)", flush=True)
            _print_qr(urls[0] if urls else None)
        return _serve(server, machine, st, f"serving on http://{local}:{real_port}/")
    finally:
        machine.close()


def make_server(app: Any, host: str, port: int, threads: int) -> Any:
    """waitress over ``app``, listening. Request bodies beyond rig.web.jsonio.MAX_BODY are
    refused by waitress itself (413) before it buffers them, so no client can fill the disk
    that holds the frames (waitress's own default is 1 GiB, spooled to a temporary file)."""
    from waitress.server import create_server

    from rig.errors import UsageError
    from rig.web.jsonio import MAX_BODY

    try:
        return create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            ident="rig",
            channel_timeout=120,
            clear_untrusted_proxy_headers=True,
            max_request_body_size=MAX_BODY,
        )
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _print_reconciled(report: Any) -> None:
    if report.recovered:
        print(f"rig: {len(report.recovered)} whole frame file(s) saved just before the crash were adopted (recovered)")
    if report.removed:
        print(f"rig: {len(report.removed)} stale temporary file(s) removed")
    for path in report.unlisted:
        print(f"rig: {path}: not listed in its stack.json; left as it is")
    for item in report.not_updated:
        print(f"rig: {item['folder']}: its stack.json could not be updated ({item['error']}); shown as such")


def _print_qr(url: str | None) -> None:
    if not url or not sys.stdout.isatty():
        return
    try:
        import segno

        segno.make(url, error="m").terminal(compact=True)
    except Exception:  # noqa: BLE001 - the QR code on the terminal is a convenience
        log.debug("no terminal QR code", exc_info=True)


def _run_until_signalled(server: Any, received: list[int]) -> None:  # waitress internals: untyped
    """waitress's own loop, one poll at a time, until a signal has arrived.

    A signal handler must not raise into waitress: an exception that lands while waitress is
    inside a channel handler (a client closing its connection) is logged and swallowed there,
    and the SIGTERM would be lost, leaving systemd to SIGKILL a rig that might be moving.
    """
    loop_map = getattr(server, "map", None)
    if loop_map is None:
        loop_map = server._map  # single-socket server
    while not received:
        server.asyncore.loop(timeout=LOOP_TICK_S, map=loop_map, use_poll=server.adj.asyncore_use_poll, count=1)


def _serve(server: Any, machine: Machine, st: WebState, status: str) -> int:
    from rig.cli.sdnotify import notify
    from rig.sequencer import Outcome

    seq = machine.sequencer
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if received:  # a second signal while stopping: stop the rail at once
            seq.estop()
            return
        received.append(signum)  # the loop below notices within LOOP_TICK_S

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        # waitress listens from create_server() on (connections queue until run() accepts
        # them), so systemd may start the kiosk now: rig.service is Type=notify.
        notify(f"READY=1\nSTATUS={status}")
        _run_until_signalled(server, received)
        name = signal.Signals(received[0]).name if received else "shutdown"
        notify(f"STOPPING=1\nSTATUS={name}: stopping the rail")
        print(f"rig: {name}: stopping", flush=True)
        if seq.status().busy:
            print("rig: a stack or move was running: cancelled (interrupted), waiting for the rail", flush=True)
            machine.stop_safely(Outcome.INTERRUPTED, STOP_WAIT_S)
        return 0
    finally:
        st.shutdown()
        try:
            server.close()
        except Exception:  # noqa: BLE001
            log.exception("closing the server failed")
        for s, handler in old.items():
            signal.signal(s, handler)
