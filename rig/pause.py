"""Pause between slices: the gate the sequencer's loop passes before each slice.

``request()`` (any thread) asks the run to stop before its next slice; the worker thread then
calls ``hold()``, which returns when ``release()`` is called (resume) or raises
:class:`rig.errors.Cancelled` when the run's cancel event is set (cancel, e-stop, shutdown;
whoever sets it also calls ``wake()``). While held, the rail stays where the last slice was
shot: nothing moves until the user resumes.
"""

from __future__ import annotations

import threading

from rig.errors import Cancelled


class PauseGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._requested = False

    @property
    def requested(self) -> bool:
        with self._cond:
            return self._requested

    def request(self) -> None:
        with self._cond:
            self._requested = True

    def release(self) -> None:
        with self._cond:
            self._requested = False
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake a held worker so it rechecks its cancel event."""
        with self._cond:
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._requested = False

    def hold(self, cancel: threading.Event) -> None:
        """Block the worker while a pause is requested; raise ``Cancelled`` once ``cancel`` is set."""
        with self._cond:
            while self._requested and not cancel.is_set():
                self._cond.wait()
        if cancel.is_set():
            raise Cancelled("cancelled while paused")
