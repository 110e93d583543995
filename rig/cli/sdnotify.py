"""systemd's readiness protocol (``sd_notify``) in plain socket code, no dependency.

rig.service is ``Type=notify``: systemd counts it as started only when ``rig serve`` sends
``READY=1`` (once waitress listens), so units ordered after it (the touchscreen kiosk) never
open a page that is not there yet. ``STOPPING=1`` says a shutdown has begun. Outside systemd
(``$NOTIFY_SOCKET`` unset) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``message`` (``KEY=value`` lines) to ``$NOTIFY_SOCKET``; True if it was sent.

    Handles filesystem sockets (``/run/systemd/notify``) and abstract ones (``@name``).
    Never raises: a failed notification is logged, and systemd's start timeout reports it.
    """
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        target = "\0" + address[1:]  # Linux abstract namespace
    elif address.startswith("/"):
        target = address
    else:  # vsock:... and the like are for VMs and containers, not this rig
        log.warning("NOTIFY_SOCKET=%r: not a unix socket path; systemd is not told %r", address, message)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        log.warning("cannot notify systemd (%s) of %r: %s", address, message, exc)
        return False
    log.debug("told systemd %r", message)
    return True
