"""Streams: server-sent events (status and friends) and the MJPEG live view.

SSE: a full snapshot on connect, then every bus event as it happens, the position while
the rail moves (a few times a second), control-lock changes, and a heartbeat comment so a
dead client frees its server thread.

Live view: one ``PreviewHub`` thread calls ``camera.preview()`` for all viewers (at most
``web.max_live_viewers``), only while someone watches. On real cameras it pauses while the
sequencer is busy (the worker thread owns the camera then); the simulated camera keeps
rendering, so the UI shows the sweep.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rig.errors import RigError

if TYPE_CHECKING:
    from rig.machine import Machine

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0
SYSTEM_S = 10.0  # how often the battery and clock summary is looked at for a change
TICK_S = 0.25
LIVE_FPS = 18.0


def sse_event(kind: str, data: Any, seq: int | None = None) -> str:
    text = json.dumps(data, separators=(",", ":"), default=str, allow_nan=False)
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {kind}\ndata: {text}\n\n"


def event_stream(
    machine: Machine,
    snapshot: Callable[[], dict[str, Any]],
    control: Callable[[], dict[str, Any]],
    stopping: threading.Event,
    touch: Callable[[], None],
    system: Callable[[], dict[str, Any]] | None = None,
) -> Iterator[str]:
    """The SSE body for one client. ``system`` (the battery and clock summary, also in the
    snapshot under "system") is sent again as a ``system`` event when it changes."""
    sub = machine.bus.subscribe()
    try:
        yield "retry: 2000\n\n"
        snap = snapshot()
        yield sse_event("snapshot", snap)
        last_pos = snap["status"]["position"]
        last_control = snap["control"].get("version")
        last_beat = last_system_check = time.monotonic()
        last_system = snap.get("system")
        while not stopping.is_set():
            event = sub.get(timeout=TICK_S)
            now = time.monotonic()
            if event is not None:
                payload = event.payload
                if event.kind == "status":
                    last_pos = payload.get("position", last_pos)
                yield sse_event(event.kind.value, payload, event.seq)
                continue
            status = machine.sequencer.status()
            if status.busy and abs(status.position - last_pos) > 1e-6:
                last_pos = status.position
                yield sse_event("status", status.to_dict())
            ctl = control()
            if ctl.get("version") != last_control:
                last_control = ctl.get("version")
                yield sse_event("control", ctl)
            if system is not None and now - last_system_check > SYSTEM_S:
                last_system_check = now
                current = system()
                if current != last_system:
                    last_system = current
                    yield sse_event("system", current)
            if now - last_beat > HEARTBEAT_S:
                last_beat = now
                touch()
                yield ": keep-alive\n\n"
    finally:
        sub.close()


class PreviewHub:
    """Shares one preview loop between all live-view clients."""

    def __init__(self, machine: Machine, max_viewers: int) -> None:
        self.machine = machine
        self.max_viewers = max_viewers
        self._cond = threading.Condition()
        self._frame: bytes | None = None
        self._seq = 0
        self._error: str | None = None
        self._viewers = 0
        self._own = 0  # viewers that grab their own frames (see join)
        self._thread: threading.Thread | None = None
        self._closed = False
        self.live_while_busy = machine.config.camera.backend == "sim"

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    @property
    def viewers(self) -> int:
        with self._cond:
            return self._viewers + self._own

    def join(self, shared: bool = True) -> bool:
        """Register a viewer; False when the limit is reached. ``shared=False``: a viewer that grabs
        its own frames (a magnified view the camera renders itself) counts, but needs no loop."""
        with self._cond:
            if self._closed or self._viewers + self._own >= self.max_viewers:
                return False
            if not shared:
                self._own += 1
                return True
            self._viewers += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="rig-live", daemon=True)
                self._thread.start()
            return True

    def leave(self, shared: bool = True) -> None:
        with self._cond:
            if shared:
                self._viewers = max(0, self._viewers - 1)
            else:
                self._own = max(0, self._own - 1)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _loop(self) -> None:
        period = 1.0 / LIVE_FPS
        idle_since: float | None = None
        while True:
            with self._cond:
                if self._closed:
                    return
                if self._viewers == 0:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 2.0:
                        self._thread = None
                        return
                else:
                    idle_since = None
            t0 = time.monotonic()
            frame, error = self.grab()
            with self._cond:
                if frame is not None:
                    self._frame = frame
                self._error = error
                self._seq += 1
                self._cond.notify_all()
            time.sleep(max(0.005, period - (time.monotonic() - t0)))

    def grab(self) -> tuple[bytes | None, str | None]:
        if not self.live_while_busy and self.machine.sequencer.status().busy:
            return None, "live view pauses while the rig is moving or shooting"
        try:
            return self.machine.camera.preview(), None
        except RigError as exc:
            return None, str(exc)
        except Exception as exc:  # noqa: BLE001 - a preview failure must not end the stream thread
            log.exception("preview failed")
            return None, f"{type(exc).__name__}: {exc}"

    def wait_frame(self, after: int, timeout: float = 2.0) -> tuple[int, bytes | None, str | None]:
        with self._cond:
            self._cond.wait_for(lambda: self._seq != after or self._closed, timeout)
            return self._seq, self._frame, self._error

    def mjpeg(self) -> Iterator[bytes]:
        """The multipart body for one viewer (the caller has ``join()``-ed)."""
        seq = -1
        try:
            while True:
                with self._cond:
                    if self._closed:
                        return
                new_seq, frame, _ = self.wait_frame(seq)
                if new_seq == seq or frame is None:
                    if self._closed:
                        return
                    continue
                seq = new_seq
                yield (
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(frame)).encode()
                    + b"\r\n\r\n"
                    + frame
                    + b"\r\n"
                )
        finally:
            self.leave()
