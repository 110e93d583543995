"""Issue 14 on the simulated rig: every shot is checked, bad ones are re-shot, gaps are filled,
and stack.json says what was caught. Assertions are on the files a run leaves."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from rig.camera.base import Frame
from rig.config import CameraConfig, MachineConfig, OutputConfig, Profile, RailConfig, SimCameraConfig, SimRailConfig
from rig.errors import ConfigError, UsageError
from rig.machine import Machine
from rig.sequencer import Outcome, State
from tests.cli_helpers import check_frames_intact, rig


def build(tmp_path: Path, rail: dict | None = None, camera: dict | None = None) -> Machine:
    cfg = MachineConfig(
        rail=RailConfig(sim=SimRailConfig(**{"start_um": 200.0, **(rail or {})})),
        camera=CameraConfig(sim=SimCameraConfig(**{"width": 160, "height": 120, **(camera or {})})),
        output=OutputConfig(root=str(tmp_path / "out"), min_free_mb=0),
    )
    return Machine.build(cfg, profiles_dir=tmp_path / "profiles")


def run(machine: Machine, **profile) -> tuple[dict, Path]:
    status = machine.sequencer.start(Profile(**{"settle_s": 0, **profile}), "checks")
    status = machine.sequencer.wait(60)
    folder = Path(status.folder)
    return check_frames_intact(folder), folder


def gray(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float32)


def detail(img: np.ndarray) -> float:
    return float(np.abs(cv2.Sobel(img, cv2.CV_32F, 2, 0)).mean())  # across: what a sideways shake smears


def test_dark_blurred_and_dropped_shots_are_reshot_and_the_kept_frames_match(tmp_path):
    # shots 1, 2 good; 3 dark (slice 3, retaken by shot 4); 5 blurred (slice 4, shot 6);
    # 9 dropped (slice 7: shots 7, 8 were slices 5, 6; shot 10 retakes it)
    with build(tmp_path, camera={"dark_captures": (3,), "blur_captures": (5,), "drop_captures": (9,)}) as m:
        data, folder = run(m, slices=10, step_um=60)
        assert m.sequencer.status().outcome == Outcome.COMPLETED
    frames = data["frames"]
    assert [f["index"] for f in frames] == list(range(1, 11))
    reshot = {f["index"]: f for f in frames if f["verdict"] != "good"}
    assert sorted(reshot) == [3, 4, 7] and all(f["verdict"] == "reshot" and f["shots"] == 2 for f in reshot.values())
    assert "brightness" in reshot[3]["checks"]["rejected"][0]["reasons"][0]
    assert any("sharpness" in r for r in reshot[4]["checks"]["rejected"][0]["reasons"])
    assert reshot[7]["checks"]["rejected"][0] == {"file": None, "reasons": ["missing: the camera delivered no file"]}
    for k in (3, 4):  # the turned-down shots are kept aside, never listed as frames
        assert (folder / reshot[k]["checks"]["rejected"][0]["file"]).is_file()
    images = {f["index"]: gray(folder / f["file"]) for f in frames}
    for k in (3, 4, 7):
        before, this, after = images[k - 1], images[k], images[k + 1]
        assert this.mean() == pytest.approx((before.mean() + after.mean()) / 2, rel=0.05)
        assert detail(this) > 0.7 * min(detail(before), detail(after))
    assert data["coverage"]["caught"] == 3


def test_no_good_frame_is_reshot_more_than_once_in_100_slices(tmp_path):
    # from before the subject's nearest point (300) to beyond its far side (1800)
    with build(tmp_path, rail={"start_um": 0.0}, camera={"near_um": 300.0}) as m:
        data, _ = run(m, slices=100, step_um=19)
    assert len(data["frames"]) == 100
    retaken = [f["index"] for f in data["frames"] if f["shots"] > 1]
    assert len(retaken) <= 1, retaken


def test_a_skipped_move_leaves_no_gap_after_gap_fill(tmp_path):
    step = 80.0
    with build(tmp_path, rail={"skip_moves": (7,)}) as m:
        data, folder = run(m, slices=12, step_um=step)
        assert m.rail.position() == 200.0  # gap fill happens before the rail returns
    planned = [200.0 + i * step for i in range(12)]
    frames = data["frames"]
    # where each frame was really shot: slice 7's move did not happen, so it shows slice 6's depth
    shot_at = [planned[5] if f["index"] == 7 else f["position_um"] for f in frames]
    assert [f["position_um"] for f in frames if f.get("gap_fill")] == [planned[6]]
    for depth in np.arange(planned[0], planned[-1], step / 4):
        assert min(abs(depth - p) for p in shot_at) <= step / 2, depth
    coverage = data["coverage"]
    assert coverage["gaps"] == [planned[6]] and coverage["filled"] == [planned[6]]
    png = cv2.imread(str(folder / coverage["image"]))
    assert png is not None and png.shape[1] == 40 * coverage["tiles"][0]
    assert len(coverage["best_slice"]) == coverage["tiles"][1] and coverage["detail_fraction"] > 0.5


def test_without_faults_nothing_is_filled(tmp_path):
    with build(tmp_path) as m:
        data, _ = run(m, slices=12, step_um=80)
    assert data["coverage"]["gaps"] == [] and len(data["frames"]) == 12
    assert all(f["verdict"] == "good" and f["shots"] == 1 for f in data["frames"])


def test_a_run_past_the_subject_without_faults_gets_no_extra_slice(tmp_path):
    # the coin is 1500 um deep: the slices either side of its far end are both blurred there, a
    # shape a repeated slice also has; without a skipped move nothing may be filled
    with build(tmp_path, rail={"start_um": 1000.0}, camera={"width": 320, "height": 240}) as m:
        data, _ = run(m, slices=12, step_um=100)
    assert data["coverage"]["gaps"] == [] and data["coverage"]["filled"] == []
    assert len(data["frames"]) == 12 and not any(f.get("gap_fill") for f in data["frames"])


def test_fail_policy_ends_the_run_with_the_reason_and_keeps_the_shot(tmp_path):
    with build(tmp_path, camera={"dark_captures": (3, 4)}) as m:
        data, folder = run(m, slices=6, step_um=60, retries=1, on_failed_check="fail")
        status = m.sequencer.status()
    assert status.state == State.FAULT and "slice 3: no good shot in 2" in status.error
    assert data["outcome"] == "failed" and "brightness" in data["error"]
    last = data["frames"][-1]
    assert last["index"] == 3 and last["verdict"] == "failed" and last["shots"] == 2
    assert (folder / last["file"]).is_file()


def test_pause_policy_waits_for_resume_then_retakes_the_slice(tmp_path):
    with build(tmp_path, camera={"dark_captures": (3, 4)}) as m:
        sub = m.bus.subscribe(maxsize=10_000)
        status = m.sequencer.start(Profile(slices=5, step_um=60, settle_s=0, retries=1), "checks")
        while (event := sub.get(10)) is not None and event.payload.get("state") != "paused":
            pass
        paused = m.sequencer.status()
        assert paused.state == State.PAUSED and "slice 3" in paused.error
        assert m.rail.position() == 320.0  # nothing moves while paused
        m.sequencer.resume()
        status = m.sequencer.wait(30)
        assert status.outcome == Outcome.COMPLETED
    data = check_frames_intact(Path(status.folder))
    third = data["frames"][2]
    assert third["verdict"] == "reshot" and third["shots"] == 3 and len(third["checks"]["rejected"]) == 2
    assert [f["index"] for f in data["frames"]] == [1, 2, 3, 4, 5]


def test_a_check_that_cannot_run_keeps_the_frame_and_marks_it(tmp_path):
    with build(tmp_path) as m:
        real = m.camera.capture
        shots = iter(range(1, 100))

        def capture() -> Frame:  # the third shot is a JPEG that does not decode
            frame = real()
            broken = b"\xff\xd8 not really a jpeg \xff\xd9"
            return dataclasses.replace(frame, data=broken) if next(shots) == 3 else frame

        m.camera.capture = capture  # type: ignore[method-assign]
        data, folder = run(m, slices=5, step_um=60)
    third = data["frames"][2]
    assert third["verdict"] == "unchecked" and third["shots"] == 1 and third["checks"]["reasons"]
    assert (folder / third["file"]).read_bytes().startswith(b"\xff\xd8 not really")
    assert data["outcome"] == "completed"


@pytest.mark.parametrize(
    "profile, option",
    [({"retries": -1}, "retries"), ({"retries": 11}, "retries"), ({"brightness_tolerance": 2.0}, "brightness")],
)
def test_bad_check_options_are_refused_before_anything_moves(tmp_path, profile, option):
    with build(tmp_path) as m:
        with pytest.raises(ConfigError, match=option):
            m.sequencer.start(Profile(slices=3, **profile), "bad")
        assert m.rail.position() == 200.0
    assert not (tmp_path / "out").exists()


def test_cli_refuses_retries_out_of_range_in_one_line(tmp_path):
    config = tmp_path / "sim.toml"
    config.write_text(f'[camera.sim]\nwidth = 96\nheight = 72\n[output]\nroot = "{tmp_path / "out"}"\n')
    result = rig("stack", "--config", str(config), "--retries", "11")
    assert result.returncode == 2 and "'--retries' = 11: out of range" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_auto_settle_waits_out_the_vibration_and_records_it(tmp_path):
    with build(tmp_path, rail={"vibration_s": 0.4}) as m:
        data, _ = run(m, slices=3, step_um=60, settle_s="auto")
    assert data["profile"]["settle_s"] == "auto"
    first, *moved = data["frames"]
    assert first["settle_s"] < 0.1  # the stack starts where the rail is: no move, nothing shakes
    for frame in moved:
        assert frame["verdict"] == "good"  # no shaken shot was taken
        assert frame["settle_s"] == pytest.approx(0.4, rel=0.2)


def test_auto_settle_is_refused_on_a_camera_without_live_view(tmp_path):
    with build(tmp_path) as m:
        m.camera.has_live_view = False  # as the shutter-release camera says (rig/camera/shutter.py)
        with pytest.raises(UsageError, match="settle_s = 'auto'.*live view"):
            m.sequencer.start(Profile(slices=3, settle_s="auto"), "auto")
        assert m.rail.position() == 200.0
    assert not (tmp_path / "out").exists()


def test_settle_takes_seconds_or_auto_only(tmp_path):
    path = tmp_path / "p.toml"
    from rig.config import profile_from_toml

    assert profile_from_toml('settle_s = "auto"', "p.toml").settle_auto
    with pytest.raises(ConfigError, match=r"'settle_s' = 'soon'.*or 'auto'"):
        profile_from_toml('settle_s = "soon"', str(path))


def test_rig_stack_says_what_it_caught_and_retook(tmp_path):
    config = tmp_path / "sim.toml"
    config.write_text(
        "[rail.sim]\nstart_um = 200\nskip_moves = [6]\n"
        "[camera.sim]\nwidth = 160\nheight = 120\ndark_captures = [3]\n"
        f'[output]\nroot = "{tmp_path / "out"}"\nmin_free_mb = 0\n'
    )
    result = rig("stack", "--config", str(config), "--slices", "10", "--step-um", "80", "--settle-s", "0")
    assert result.returncode == 0, result.stderr
    assert "rig: checks: 1 shot(s) turned down and re-taken (slice 3: brightness)" in result.stderr
    assert "rig: coverage: 1 gap(s) filled at 600 um" in result.stderr


def test_rig_stack_paused_without_a_terminal_cancels(tmp_path):
    config = tmp_path / "sim.toml"
    config.write_text(
        "[rail.sim]\nstart_um = 200\n[camera.sim]\nwidth = 160\nheight = 120\ndark_captures = [3, 4, 5]\n"
        f'[output]\nroot = "{tmp_path / "out"}"\nmin_free_mb = 0\n'
    )
    result = rig("stack", "--config", str(config), "--slices", "5", "--step-um", "80", "--settle-s", "0")
    assert result.returncode == 130
    assert "rig: paused: slice 3: no good shot in 3" in result.stderr and "cancelling the run" in result.stderr
    data = check_frames_intact(Path(result.stdout.strip()))
    assert data["outcome"] == "cancelled" and [f["index"] for f in data["frames"]] == [1, 2, 3]
    assert data["frames"][2]["verdict"] == "failed"  # the last shot of the paused slice is kept, marked


@pytest.mark.parametrize("closed_loop", [True, False])
def test_closed_loop_return_finds_the_start_a_lost_return_missed(tmp_path, closed_loop):
    # 4 slices are moves 1-4; the return (move 5) is lost: the drive counts itself at the start
    with build(tmp_path, rail={"skip_moves": (5,)}, camera={"width": 320, "height": 240}) as m:
        m.rail.closed_loop_return = closed_loop  # as a lens drive (no position readout) says
        data, _ = run(m, slices=4, step_um=40)
        assert m.rail.position() == 200.0
        back_at_start = m.rail.optical_position() == 200.0
    if closed_loop:
        assert back_at_start and data["return_check"] == {"confirmed": True, "correction": 0.0, "searched": True}
    else:
        assert not back_at_start and "return_check" not in data


def test_a_raw_plus_jpeg_shot_is_checked_on_its_jpeg_and_the_jpeg_header_sets_the_decode_scale():
    from rig.checked_capture import checked_file
    from rig.frame_checks import MIN_WIDTH, decode_small, jpeg_width

    img = np.random.default_rng(1).integers(0, 255, (300, 2000, 3), dtype=np.uint8)
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    assert jpeg_width(jpeg) == 2000 and jpeg_width(b"II*\x00 raw") is None
    assert decode_small(jpeg).shape[1] == 1000 >= MIN_WIDTH  # 1/2: the largest reduction at least 640 wide
    small = cv2.imencode(".jpg", img[:, :700])[1].tobytes()
    shot = Frame(data=b"II*\x00 raw sensor data", ext="nef", companions=[Frame(jpeg, "jpg"), Frame(small, "JPG")])
    assert checked_file(shot) == small and checked_file(Frame(b"raw", "nef")) == b"raw"
