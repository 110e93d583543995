"""Which files belong to one gphoto2 shot: collected from the camera's events, by name stem.

A body set to RAW+JPEG writes two files per shot (``IMG_0001.CR2`` + ``IMG_0001.JPG``);
``camera.capture()`` returns one of them and the others arrive later as ``GP_EVENT_FILE_ADDED``
events, sometimes seconds later and after unrelated events (property changes, focus info).
This copies the gphoto2 command-line tool (gphoto2/main.c, ``capture_generic``, the loop after
the last capture): wait up to 3 s for more files, restart that wait on every ``FILE_ADDED`` and
shorten it to 0.1 s once the camera reports ``GP_EVENT_CAPTURE_COMPLETE``.

rig adds two things the tool does not need: a file joins the shot only if it has the shot's
name stem, and events left over from earlier (a late file of the previous shot, one that
arrived during a focus drive) are drained before each trigger as *strays*, so they are never
attached to the wrong slice. In camera-RAM mode a stray is deleted from the camera, or it would
fill the body's buffer.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

log = logging.getLogger(__name__)
COMPLETE_WAIT_S = 0.1  # gphoto2/main.c capture_generic: "waittime = 100" after CAPTURE_COMPLETE
MAX_DRAINED = 100  # events drained before a shot, at most (a body that never stops talking)


def stem(name: str) -> str:
    return os.path.splitext(name)[0].lower()


class ShotFiles:
    """Collects a shot's files and keeps the strays; every call runs on the device thread."""

    def __init__(self, gp: Any) -> None:
        self.gp = gp
        self.strays: list[tuple[str, str]] = []  # (folder, name) of files seen outside their shot

    def note_event(self, kind: int, data: Any) -> None:
        """An event read elsewhere (e.g. while waiting for a focus drive): keep its files."""
        if kind == self.gp.GP_EVENT_FILE_ADDED:
            self._stray((data.folder, data.name))

    def _stray(self, where: tuple[str, str]) -> None:
        if where not in self.strays:
            self.strays.append(where)

    def drain(self, cam: Any, seconds: float = 0.0) -> list[tuple[str, str]]:
        """Read every event already queued (waiting up to ``seconds`` for each); returns and
        forgets the stray files seen so far."""
        gp = self.gp
        for _ in range(MAX_DRAINED):
            try:
                kind, data = cam.wait_for_event(int(seconds * 1000))
            except gp.GPhoto2Error as exc:  # a body without events
                log.debug("wait_for_event: %s", exc)
                break
            if kind == gp.GP_EVENT_TIMEOUT:
                break
            self.note_event(kind, data)
        strays, self.strays = self.strays, []
        return strays

    def collect(
        self, cam: Any, main: tuple[str, str], quiet_s: float, files_per_shot: int = 0
    ) -> list[tuple[str, str]]:
        """The shot's other files (same name stem as ``main``), read from the camera's events
        until nothing new arrives for ``quiet_s`` (0.1 s after CAPTURE_COMPLETE), or as soon as
        ``files_per_shot`` files are in (0 = unknown). Files of other stems become strays."""
        gp = self.gp
        found: list[tuple[str, str]] = []
        if quiet_s <= 0 or files_per_shot == 1:
            return found
        wait_s = quiet_s
        last = time.monotonic()
        deadline = last + 2 * quiet_s  # gphoto2 waits at most twice its 3 s as well
        while not (files_per_shot and 1 + len(found) >= files_per_shot):
            now = time.monotonic()
            remaining = min(last + wait_s, deadline) - now
            if remaining <= 0:
                break
            try:
                kind, data = cam.wait_for_event(max(1, int(remaining * 1000)))
            except gp.GPhoto2Error as exc:  # a body without events: nothing more to learn
                log.debug("wait_for_event: %s", exc)
                break
            if kind == gp.GP_EVENT_TIMEOUT:
                break
            if kind == gp.GP_EVENT_CAPTURE_COMPLETE:
                wait_s = COMPLETE_WAIT_S
                last = time.monotonic()
            elif kind == gp.GP_EVENT_FILE_ADDED:
                where = (data.folder, data.name)
                if where == main or where in found:
                    continue
                if stem(data.name) == stem(main[1]):
                    log.info("the camera also wrote %s/%s for this shot", data.folder.rstrip("/"), data.name)
                    found.append(where)
                    last = time.monotonic()  # restart the wait: more files may follow
                else:
                    self._stray(where)
        return found
