"""The stack loop on the simulated rig: states, cancel in every phase, faults, storage."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from pathlib import Path

import pytest

from rig.config import CameraConfig, MachineConfig, OutputConfig, Profile, RailConfig, SimCameraConfig, SimRailConfig
from rig.errors import StateError, UsageError
from rig.events import EventKind
from rig.machine import Machine
from rig.sequencer import TRANSITIONS, Outcome, State

SMALL = SimCameraConfig(width=96, height=72, noise=0.0)


def make_machine(tmp_path: Path, *, time_scale: float = 0.0, start_um: float = 1000.0, **cam) -> Machine:
    cfg = MachineConfig(
        rail=RailConfig(
            sim=SimRailConfig(time_scale=time_scale, start_um=start_um), max_speed_mm_s=2.0, accel_mm_s2=10.0
        ),
        camera=CameraConfig(sim=dataclasses.replace(SMALL, **cam)),
        output=OutputConfig(root=str(tmp_path / "out"), min_free_mb=0),
    )
    return Machine.build(cfg, profiles_dir=tmp_path / "profiles")


@pytest.fixture
def machine(tmp_path):
    m = make_machine(tmp_path)
    yield m
    m.close()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.002)
    raise AssertionError("condition not reached")


def manifest(folder) -> dict:
    return json.loads((Path(folder) / "stack.json").read_text())


def test_full_run_saves_every_frame_and_returns(machine):
    sub = machine.bus.subscribe(maxsize=10_000)
    status = machine.sequencer.start(Profile(slices=6, step_um=50, settle_s=0), "coin")
    status = machine.sequencer.wait(10)
    assert status.state == State.IDLE and status.outcome == Outcome.COMPLETED
    assert status.frames_saved == 6 and machine.rail.position() == 1000.0
    data = manifest(status.folder)
    assert data["outcome"] == "completed" and data["profile_name"] == "coin"
    assert [f["position_um"] for f in data["frames"]] == [1000, 1050, 1100, 1150, 1200, 1250]
    for frame in data["frames"]:
        blob = (Path(status.folder) / frame["file"]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == frame["sha256"] and len(blob) == frame["bytes"]
    assert sorted(p.name for p in Path(status.folder).iterdir()) == [
        "0001.jpg",
        "0002.jpg",
        "0003.jpg",
        "0004.jpg",
        "0005.jpg",
        "0006.jpg",
        "composite.jpg",  # the per-frame checks' growing result and coverage map (issue 14)
        "coverage.png",
        "stack.json",
    ]
    states = []
    while (event := sub.get(0)) is not None:
        if event.kind == EventKind.STATUS and (not states or states[-1] != event.payload["state"]):
            states.append(event.payload["state"])
    assert states[:5] == ["starting", "moving", "settling", "capturing", "moving"]
    assert states[-2:] == ["returning", "idle"]


def test_transition_table_is_enforced(machine):
    seq = machine.sequencer
    for src, allowed in TRANSITIONS.items():
        for dst in State:
            if dst == src:
                continue
            seq._status = dataclasses.replace(seq._status, state=src)
            if dst in allowed:
                seq._set(state=dst)
            else:
                with pytest.raises(StateError, match=f"{src.value} -> {dst.value}"):
                    seq._set(state=dst)
    seq._status = dataclasses.replace(seq._status, state=State.IDLE)


def test_second_start_and_idle_cancel_are_refused(tmp_path):
    m = make_machine(tmp_path, time_scale=1.0)
    try:
        with pytest.raises(StateError, match="nothing to cancel"):
            m.sequencer.cancel()
        m.sequencer.start(Profile(slices=3, step_um=100, settle_s=5))
        with pytest.raises(StateError, match="in progress"):
            m.sequencer.start(Profile(slices=3, step_um=100))
        with pytest.raises(StateError):
            m.sequencer.jog(delta=10)
        m.sequencer.cancel()
        assert m.sequencer.wait(5).outcome == Outcome.CANCELLED
    finally:
        m.close()


@pytest.mark.parametrize("phase", [State.MOVING, State.SETTLING, State.CAPTURING])
def test_cancel_in_every_phase_returns_by_the_distance_moved(tmp_path, phase):
    m = make_machine(tmp_path, time_scale=1.0, capture_s=0.3)
    try:
        seq = m.sequencer
        # 3rd slice so some distance has been moved; a slow move so MOVING lasts long enough
        seq.start(Profile(slices=5, step_um=400, settle_s=0.5))
        wait_for(lambda: seq.status().slice == 3 and seq.status().state == phase)
        if phase == State.MOVING:
            wait_for(lambda: m.rail.position() > 1810)  # mid-move
        moved_at_cancel = m.rail.position() - 1000.0
        at_cancel = seq.cancel().slice
        status = seq.wait(30)
        assert status.slice == at_cancel  # no later slice was started after the cancel
        assert status.outcome == Outcome.CANCELLED and status.state == State.IDLE
        assert m.rail.position() == pytest.approx(1000.0)
        assert moved_at_cancel > 0
        data = manifest(status.folder)
        assert data["outcome"] == "cancelled"
        saved = len(data["frames"])
        assert saved in (2, 3)  # a capture in flight completes and is kept
        for frame in data["frames"]:
            assert (Path(status.folder) / frame["file"]).stat().st_size == frame["bytes"]
    finally:
        m.close()


def test_cancel_interrupts_a_long_settle_at_once(tmp_path):
    m = make_machine(tmp_path)
    try:
        m.sequencer.start(Profile(slices=3, step_um=10, settle_s=60))
        wait_for(lambda: m.sequencer.status().state == State.SETTLING)
        m.sequencer.cancel()
        assert not m.sequencer.wait(30).busy  # the 60 s settle was cut short
    finally:
        m.close()


def test_cancel_while_returning_is_refused_gracefully_then_completes(tmp_path):
    m = make_machine(tmp_path, time_scale=1.0)
    try:
        m.sequencer.start(Profile(slices=2, step_um=2000, settle_s=0, mode="preview"))
        wait_for(lambda: m.sequencer.status().state == State.RETURNING)
        m.sequencer.cancel()  # already returning: the return finishes
        status = m.sequencer.wait(10)
        assert m.rail.position() == pytest.approx(1000.0) and status.state == State.IDLE
    finally:
        m.close()


def test_no_return_leaves_rail_at_the_end(machine):
    machine.sequencer.start(Profile(slices=4, step_um=10, settle_s=0, return_to_start=False))
    machine.sequencer.wait(10)
    assert machine.rail.position() == 1030.0


def test_start_end_positions(machine):
    seq = machine.sequencer
    plan = seq.plan(Profile(start_um=500, end_um=100, slices=5))
    assert plan.targets == (500.0, 400.0, 300.0, 200.0, 100.0)
    plan = seq.plan(Profile(start_um=0, end_um=1000, step_um=300))
    assert plan.targets == (0.0, 300.0, 600.0, 900.0)
    seq.start(Profile(start_um=500, end_um=100, slices=5, settle_s=0))
    status = seq.wait(10)
    assert machine.rail.position() == 500.0  # "start" is the stack's first position
    assert [f["position_um"] for f in manifest(status.folder)["frames"]] == [500, 400, 300, 200, 100]


def test_travel_beyond_limits_is_refused_before_anything_moves(machine, tmp_path):
    with pytest.raises(UsageError, match="beyond the soft limits"):
        machine.sequencer.start(Profile(slices=999, step_um=1000))
    assert machine.rail.position() == 1000.0 and machine.rail.travelled == 0
    assert not (tmp_path / "out").exists()


def test_preview_modes(machine, tmp_path):
    machine.sequencer.start(Profile(slices=3, step_um=10, settle_s=0, mode="preview"))
    status = machine.sequencer.wait(10)
    assert status.outcome == Outcome.COMPLETED and status.folder is None
    assert not (tmp_path / "out").exists()
    machine.sequencer.start(Profile(slices=3, step_um=10, settle_s=0, mode="preview-images"))
    status = machine.sequencer.wait(10)
    files = [f["file"] for f in manifest(status.folder)["frames"]]
    assert files == ["preview/0001.jpg", "preview/0002.jpg", "preview/0003.jpg"]
    assert all(f["preview"] for f in manifest(status.folder)["frames"])


def test_camera_fault_takes_the_safe_path_and_keeps_frames(tmp_path):
    m = make_machine(tmp_path, fail_after_captures=3)
    try:
        m.sequencer.start(Profile(slices=6, step_um=10, settle_s=0))
        status = m.sequencer.wait(10)
        assert status.state == State.FAULT and "capture 3" in status.error
        assert not m.rail.enabled  # driver disabled on a fault
        data = manifest(status.folder)
        assert data["outcome"] == "failed" and "capture 3" in data["error"]
        assert len(data["frames"]) == 2
        assert m.rail.position() == 1020.0  # motion never resumes by itself
        with pytest.raises(StateError, match="reset first"):
            m.sequencer.start(Profile(slices=2, step_um=10))
        m.sequencer.reset()
        assert m.sequencer.status().state == State.IDLE and m.rail.position() == 1020.0
    finally:
        m.close()


def test_rail_fault_mid_move(tmp_path):
    m = make_machine(tmp_path, time_scale=1.0)
    try:
        m.sequencer.start(Profile(slices=4, step_um=500, settle_s=0))
        wait_for(lambda: m.sequencer.status().slice == 2 and m.rail.moving)
        m.rail.inject_fault("stall detected")
        status = m.sequencer.wait(10)
        assert status.state == State.FAULT and status.error == "stall detected"
        assert manifest(status.folder)["outcome"] == "failed"
    finally:
        m.close()


def test_estop_during_move(tmp_path):
    m = make_machine(tmp_path, time_scale=1.0)
    try:
        m.sequencer.start(Profile(slices=4, step_um=1000, settle_s=0))
        wait_for(lambda: m.rail.moving and m.rail.position() > 1100)
        m.sequencer.estop()
        status = m.sequencer.wait(5)
        stopped_at = m.rail.position()
        time.sleep(0.1)
        assert m.rail.position() == stopped_at and 1000 < stopped_at < 2000
        assert status.state == State.FAULT and "e-stop" in status.error and not m.rail.enabled
        assert manifest(status.folder)["outcome"] == "failed"
    finally:
        m.close()


def test_estop_when_idle_faults_until_reset(machine):
    machine.sequencer.estop()
    assert machine.sequencer.status().state == State.FAULT
    machine.sequencer.reset()
    machine.sequencer.jog(delta=25)
    assert machine.sequencer.wait(5).state == State.IDLE and machine.rail.position() == 1025.0


def test_counter_advances_only_after_a_saved_frame(tmp_path, monkeypatch):
    import rig.frame_store as frame_store

    m = make_machine(tmp_path)
    real = frame_store.write_new
    calls = []

    def flaky(path, data):
        calls.append(Path(path).name)
        if len(calls) == 3:
            from rig.errors import StorageError

            raise StorageError(f"cannot write {path}: No space left on device")
        real(path, data)

    monkeypatch.setattr(frame_store, "write_new", flaky)
    try:
        m.sequencer.start(Profile(slices=5, step_um=10, settle_s=0))
        status = m.sequencer.wait(10)
        assert calls == ["0001.jpg", "0002.jpg", "0003.jpg"]
        assert status.state == State.FAULT and "No space left" in status.error
        assert [f["file"] for f in manifest(status.folder)["frames"]] == ["0001.jpg", "0002.jpg"]
    finally:
        m.close()


def test_slow_subscriber_never_blocks_the_sequencer(machine):
    stuck = machine.bus.subscribe(maxsize=1)  # never read
    machine.sequencer.start(Profile(slices=20, step_um=10, settle_s=0))
    assert machine.sequencer.wait(20).outcome == Outcome.COMPLETED
    assert stuck.dropped > 0


def test_status_is_an_immutable_snapshot(machine):
    status = machine.sequencer.status()
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.state = State.FAULT
    d = status.to_dict()
    assert d["state"] == "idle" and d["phase"] is None and json.dumps(d)


def test_every_status_change_has_a_higher_rev(machine):
    """Clients order the statuses they get from the stream and from command answers by ``rev``."""
    sub = machine.bus.subscribe(maxsize=10_000)
    before = machine.sequencer.status().rev
    machine.sequencer.start(Profile(slices=4, step_um=50, settle_s=0), "coin")
    machine.sequencer.wait(10)
    revs = [e.payload["rev"] for e in iter(lambda: sub.get(timeout=0), None) if e.kind == EventKind.STATUS]
    assert revs and revs[0] > before and revs == sorted(set(revs))
    assert machine.sequencer.status().rev == revs[-1]  # reading the status (or the position) changes nothing


def test_concurrent_starts_only_one_wins(tmp_path):
    m = make_machine(tmp_path, time_scale=1.0)
    results = []

    def go():
        try:
            m.sequencer.start(Profile(slices=2, step_um=10, settle_s=0.3))
            results.append("ok")
        except StateError:
            results.append("refused")

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m.sequencer.wait(10)
    m.close()
    assert results.count("ok") == 1 and results.count("refused") == 7


def test_counter_too_narrow_for_the_stack_is_refused(machine, tmp_path):
    with pytest.raises(UsageError, match="a 1-digit counter cannot number 12 frames"):
        machine.sequencer.start(Profile(slices=12, step_um=10, out="@GRP/@GCT1"))
    assert not (tmp_path / "out").exists() and machine.rail.travelled == 0


def test_the_camera_is_told_a_stack_starts_before_its_first_shot_and_only_when_it_shoots(machine):
    calls: list[int] = []
    shots = machine.camera.capture
    machine.camera.stack_started = lambda: calls.append(machine.sequencer.status().frames_saved)  # type: ignore[attr-defined]
    machine.camera.capture = lambda: (calls.append(-1), shots())[1]  # type: ignore[method-assign]
    machine.sequencer.start(Profile(slices=2, step_um=50, settle_s=0), "a")
    assert machine.sequencer.wait(10).outcome == Outcome.COMPLETED
    assert calls == [0, -1, -1]  # once, before the first capture: the Pi camera meters then locks
    machine.sequencer.start(Profile(slices=2, step_um=50, settle_s=0, mode="preview"), "b")
    assert machine.sequencer.wait(10).outcome == Outcome.COMPLETED
    assert calls == [0, -1, -1]  # a preview-only run shoots nothing and locks nothing
