"""The composition root: the only place that picks backends and wires them together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.camera import open_camera
from rig.camera.base import Camera
from rig.clock_sync import SystemClock
from rig.config import MachineConfig
from rig.events import EventBus
from rig.motion import open_rail
from rig.motion.base import Rail
from rig.power_supply import SYSFS_POWER_SUPPLY, Battery, read_battery
from rig.profiles import ProfileStore
from rig.sequencer import Sequencer

log = logging.getLogger(__name__)


@dataclass
class Machine:
    config: MachineConfig
    bus: EventBus
    rail: Rail
    camera: Camera
    sequencer: Sequencer
    profiles: ProfileStore
    clock: SystemClock = field(default_factory=SystemClock)
    power_root: Path = SYSFS_POWER_SUPPLY  # /sys/class/power_supply (a fake tree in tests)
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
        clock: SystemClock | None = None,
        power_root: Path | None = None,
    ) -> Machine:
        """``clock`` and ``power_root`` are for tests: a clock with a fake timedatectl (an
        unsynchronised one), a fake /sys/class/power_supply tree."""
        config = config.resolved()
        if clock is None:  # the simulated rig never sets the computer's clock: it reports it as synchronised
            simulated = config.rail.backend == "sim" and config.camera.backend == "sim"
            clock = SystemClock(fixed_state=True) if simulated else SystemClock()
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
        sequencer = Sequencer(rail, camera, bus, config, clock_synchronized=clock.synchronized)
        return cls(
            config,
            bus,
            rail,
            camera,
            sequencer,
            ProfileStore(profiles_dir),
            clock=clock,
            power_root=power_root or SYSFS_POWER_SUPPLY,
        )

    def battery(self) -> Battery | None:
        """The UPS/battery HAT's charge and time left; None without one."""
        return read_battery(self.power_root)

    def close(self) -> None:
        """Stop the rail, release the camera. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.sequencer.status().busy:
            try:
                self.sequencer.cancel()
                self.sequencer.wait(10)
            except Exception:
                log.exception("close: cancel failed")
        for part in (self.rail, self.camera):
            try:
                part.close()
            except Exception:
                log.exception("close: %s failed", type(part).__name__)

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
