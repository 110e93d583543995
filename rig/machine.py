"""The composition root: the only place that picks backends and wires them together."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rig.camera import open_camera
from rig.camera.base import Camera
from rig.clock_sync import SystemClock
from rig.config import MachineConfig, Profile
from rig.errors import RigError, StateError
from rig.events import EventBus
from rig.manifest import UnreadableManifest, read_manifest
from rig.merge.jobs import MergeManager
from rig.motion import open_rail
from rig.motion.base import Rail
from rig.power_supply import SYSFS_POWER_SUPPLY, Battery, read_battery
from rig.profiles import ProfileStore
from rig.range_store import RangeStore
from rig.sequencer import Outcome, Sequencer, Status
from rig.specimen import Specimen

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
    merges: MergeManager
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
                # the simulated rail tells the simulated lens where the carriage really is and
                # whether it still shakes (backlash, lost steps, vibration); other rails: position
                focus = getattr(rail, "optical_position", rail.position)
                shake = getattr(rail, "vibration", None)
                camera = open_camera(config.camera, focus=focus, shake=shake, **camera_kwargs)
            except BaseException:
                rail.close()
                raise
        sequencer = Sequencer(
            rail, camera, bus, config, clock_synchronized=clock.synchronized, range_store=RangeStore.for_config(config)
        )
        return cls(
            config,
            bus,
            rail,
            camera,
            sequencer,
            ProfileStore(profiles_dir),
            MergeManager(bus),
            clock=clock,
            power_root=power_root or SYSFS_POWER_SUPPLY,
        )

    def battery(self) -> Battery | None:
        """The UPS/battery HAT's charge and time left; None without one."""
        return read_battery(self.power_root)

    def start_stack(
        self,
        profile: Profile,
        profile_name: str = "default",
        *,
        stack_id: Callable[[str], str | None] | None = None,
        specimen: Specimen | None = None,
    ) -> Status:
        """Start a stack; when its profile asks for a merge (``merge = true``, full mode), start the
        merge too, in follow mode: it merges the frames while they are captured, so the result is
        ready about a second after the last frame; a run that ends other than completed is not
        merged. The one "merge after the run" policy of ``rig stack`` and the web UI. Non-blocking;
        ``stack_id`` names the stack in merge events (default: the run folder's name). The profile's
        ``camera_settings`` are made first (a bad one stops the start before anything moves)."""
        if profile.camera_settings and not self.sequencer.status().busy:
            from rig.camera_settings import apply, parse_assignments

            self.sequencer.plan(profile.checked(f"profile {profile_name!r}"))  # a plan start refuses changes nothing
            apply(self.camera, parse_assignments(list(profile.camera_settings)))  # all checked first
        status = self.sequencer.start(profile, profile_name, specimen)
        self._merge_following(status, profile, stack_id)
        return status

    def resume_stack(
        self,
        folder: Path | str,
        *,
        position_confirmed: bool = False,
        stack_id: Callable[[str], str | None] | None = None,
    ) -> Status:
        """Go on with an interrupted, cancelled or failed stack (rig.resume): checks first
        (StateError, nothing moved or changed), then the rail re-homes, or, without a home
        switch, ``position_confirmed`` says the user has confirmed where the rail is; then the
        run continues from the first missing or unverified slice into the same folder, merged
        like a new one when its profile asks. Non-blocking; never called without a user's action."""
        from rig.errors import StateError
        from rig.motion import can_home
        from rig.resume import prepare_resume

        setup = prepare_resume(folder, self.config)
        homes = can_home(self.rail, self.config.rail)
        if not homes and not position_confirmed:
            raise StateError(
                f"cannot resume {setup.folder}: this rail has no home switch; check that it is where it says "
                f"({self.rail.position():g} {self.rail.units}), then confirm the position to resume"
            )
        status = self.sequencer.start_resumed(setup, home_first=homes)
        self._merge_following(status, setup.profile, stack_id)
        return status

    def _merge_following(self, status: Status, profile: Profile, stack_id: Callable[[str], str | None] | None) -> None:
        if profile.merge and profile.mode == "full" and status.folder:
            folder = Path(status.folder)
            run_id = status.run_id
            try:
                self.merges.start(
                    folder,
                    (stack_id(status.folder) if stack_id else None) or folder.name,
                    follow=True,
                    run_outcome=lambda: self._run_outcome(run_id, folder),
                )
            except RigError as exc:
                log.warning("automatic merge of %s not started: %s", folder, exc)

    def _run_outcome(self, run_id: int, folder: Path) -> str | None:
        """How run ``run_id`` ended (``completed``, ``cancelled``...), None while it runs."""
        status = self.sequencer.status()
        if status.run_id == run_id:
            if status.busy:
                return None
            return status.outcome.value if status.outcome else None
        try:  # a later run has started since: the manifest says how this one ended
            outcome = read_manifest(folder).outcome
        except (OSError, UnreadableManifest):
            return "failed"
        return outcome if outcome != "running" else None

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
        """Stop a running stack safely (:meth:`stop_safely`), cancel a merge, close the rail and camera.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.merges.close()
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
