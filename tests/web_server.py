"""A real waitress server on 127.0.0.1, run by a thread of the test process (the browser tests).

Stopped cleanly: its loop ends before its sockets close. (``server.close()`` from the test thread
while the server's thread still polled left that thread polling a closed socket: an unhandled
``OSError: Bad file descriptor`` in it, which pytest reported as a failure of whichever test ran
next on the same worker.)
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def serving(app: Any, threads: int = 16) -> Iterator[str]:
    """``app`` served on a free port of 127.0.0.1 until the ``with`` ends; yields its base URL."""
    from waitress.server import create_server

    srv = create_server(app, host="127.0.0.1", port=0, threads=threads)
    stop = threading.Event()

    def run() -> None:  # waitress's own loop (BaseWSGIServer.run), one poll at a time until stopped
        while not stop.is_set():
            srv.asyncore.loop(
                timeout=srv.adj.asyncore_loop_timeout, map=srv._map, use_poll=srv.adj.asyncore_use_poll, count=1
            )

    thread = threading.Thread(target=run, name="waitress-test", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.effective_port}"
    finally:
        stop.set()
        srv.pull_trigger()  # wakes the poll at once
        thread.join(timeout=30)
        assert not thread.is_alive(), "the test server's loop did not stop"
        for channel in list(srv._map.values()):  # the connections still open (the server's own last)
            if channel is not srv and channel is not srv.trigger:
                channel.close()
        srv.close()
