"""One thread per camera device: every library call runs there, with a deadline.

Camera libraries (libgphoto2, libcamera) are not safe to call from several threads at once,
and a wedged USB call never returns. Running every call on one daemon thread serialises
them (the sequencer's captures, the web UI's previews) and lets the caller give up after a
timeout with a clear error while the stuck call stays behind on its own thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class DeviceTimeout(Exception):
    """The call did not finish in time (it may still be running on the device thread)."""


class DeviceThread:
    def __init__(self, name: str) -> None:
        self._queue: queue.Queue[tuple[Callable[[], Any], threading.Event, dict[str, Any]] | None] = queue.Queue()
        self._closed = False
        self._running = threading.Event()  # set while a call runs on the device thread
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, done, box = item
            self._running.set()
            try:
                box["result"] = fn()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                box["error"] = exc
            finally:
                self._running.clear()
            done.set()
            del fn, done, box, item  # hold nothing of the last call while idle

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        """Run ``fn`` on the device thread; raise ``DeviceTimeout`` after ``timeout`` seconds."""
        if self._closed:
            raise DeviceTimeout("device thread is closed")
        if threading.current_thread() is self._thread:
            return fn()
        done = threading.Event()
        box: dict[str, Any] = {}
        self._queue.put((fn, done, box))
        if not done.wait(timeout):
            raise DeviceTimeout(f"no answer within {timeout:g} s")
        if "error" in box:
            raise box.pop("error")  # no local name: the traceback must not lead back to the error
        result: T = box["result"]
        return result

    @property
    def busy(self) -> bool:
        """A call is running on the device thread (e.g. one that timed out and is still stuck)."""
        return self._running.is_set() or not self._queue.empty()

    def close(self, timeout: float = 1.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("%s: a device call is still stuck; leaving its thread behind", self._thread.name)
