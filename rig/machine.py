"""The composition root: the only place that picks backends and wires them together."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.camera import open_camera
from rig.camera.base import Camera
from rig.config import MachineConfig
from rig.errors import StateError
from rig.events import EventBus
from rig.motion import open_rail
from rig.motion.base import Rail
from rig.profiles import ProfileStore
from rig.sequencer import Outcome, Sequencer, Status

log = logging.getLogger(__name__)
ESTOP_SETTLE_S = 10.0  # how long stop_safely waits for the worker after an e-stop


@dataclass
class Machine:
    config: MachineConfig
    bus: EventBus
    rail: Rail
    camera: Camera
    sequencer: Sequencer
    profiles: ProfileStore
    extras: dict[str, Any] = field(default_factory=dict)
    _closed: bool = False

    @classmethod
    def build(
        cls,
        config: MachineConfig,
        *,
        profiles_dir: Path | None = None,
        rail_kwargs: dict[str, Any] | None = None,
        camera_kwargs: dict[str, Any] | None = None,
    ) -> Machine:
        bus = EventBus()
        rail_kwargs, camera_kwargs = rail_kwargs or {}, camera_kwargs or {}
        if config.rail.backend == "lens":  # the lens rail drives the camera's own focus motor
            camera = open_camera(config.camera, **camera_kwargs)
            try:
                rail = open_rail(config.rail, camera=camera, **rail_kwargs)
            except BaseException:
                camera.close()
                raise
        else:
            rail = open_rail(config.rail, **rail_kwargs)
            try:
                camera = open_camera(config.camera, focus=rail.position, **camera_kwargs)
            except BaseException:
                rail.close()
                raise
        sequencer = Sequencer(rail, camera, bus, config)
        return cls(config, bus, rail, camera, sequencer, ProfileStore(profiles_dir))

    def stop_safely(
        self,
        outcome: Outcome = Outcome.INTERRUPTED,
        timeout_s: float | None = 30.0,
        *,
        wait: Callable[[float | None], Status] | None = None,
    ) -> str:
        """The one shutdown path (``rig serve`` and ``rig stack`` on a signal, the shutdown button,
        :meth:`close`): cancel a running stack or move with ``outcome`` (the rail decelerates and
        returns as the profile says; frames and manifest are kept), wait for it to settle, and e-stop
        if it has not settled within ``timeout_s`` or the wait is interrupted (a second Ctrl-C).
        When nothing runs it just stops the rail. ``wait`` (default ``sequencer.wait``) lets a caller
        show progress while it waits. Returns what it did: ``"idle"``, ``"cancelled"`` or ``"estop"``."""
        seq = self.sequencer
        if not seq.status().busy:
            self.rail.stop()
            return "idle"
        try:
            seq.cancel(outcome)
        except StateError:  # it finished in the meantime
            pass
        try:
            settled = not (wait or seq.wait)(timeout_s).busy
        except KeyboardInterrupt:
            log.warning("interrupted while stopping: e-stop")
            settled = False
        else:
            if not settled:
                log.error("the rail did not stop within %.0f s: e-stop", timeout_s)
        if settled:
            return "cancelled"
        seq.estop()
        seq.wait(ESTOP_SETTLE_S)
        return "estop"

    def close(self) -> None:
        """Stop a running stack safely (:meth:`stop_safely`), close the rail and the camera. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.sequencer.status().busy:
            try:
                self.stop_safely(Outcome.CANCELLED, timeout_s=10)
            except Exception:
                log.exception("close: stopping the rail failed")
        for part in (self.rail, self.camera):
            try:
                part.close()
            except Exception:
                log.exception("close: %s failed", type(part).__name__)

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
