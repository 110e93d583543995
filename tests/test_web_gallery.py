"""Gallery: listing, files, thumbnails, path safety, delete, and merging from the UI."""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import flask  # noqa: F401 - a core dependency: missing is a failure, not a skip
import pytest

from rig.errors import MergeError  # noqa: E402
from rig.machine import Machine  # noqa: E402
from rig.web import create_app  # noqa: E402
from tests.test_web import Api, idle, sim_config, start_long, wait_for  # noqa: E402


def run_stack(api: Api, machine: Machine, **profile: Any) -> str:
    body = {"slices": 3, "settle_s": 0, "step_um": 100, **profile}
    assert api.post("/api/start", {"profile": body}).status_code == 202
    idle(machine)
    stacks = api.get("/api/stacks").get_json()["stacks"]
    return stacks[0]["id"]


@pytest.fixture(scope="session")
def shot_stack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One stack as ``run_stack`` shoots it (3 slices), shot once per test worker."""
    tmp = tmp_path_factory.mktemp("shot")
    m = Machine.build(sim_config(tmp / "stacks"), profiles_dir=tmp / "profiles")
    app = create_app(m)
    try:
        return tmp / "stacks" / run_stack(Api(app), m)
    finally:
        app.extensions["rig"].shutdown()
        m.close()


def copy_stack(machine: Machine, shot_stack: Path) -> str:
    """A copy of ``shot_stack`` in the machine's output folder (what ``run_stack`` would leave)."""
    shutil.copytree(shot_stack, Path(machine.config.output.root) / shot_stack.name, symlinks=True)
    return shot_stack.name


def test_list_detail_files_and_thumbnails(api: Api, machine: Machine, shot_stack: Path) -> None:
    sid = copy_stack(machine, shot_stack)
    listing = api.get("/api/stacks").get_json()
    (s,) = listing["stacks"]
    assert s["outcome"] == "completed" and s["frames"] == 3 and s["merged"] is False and s["thumb_file"]
    d = api.get(f"/api/stacks/{sid}").get_json()
    assert [f["file"] for f in d["frame_list"]] == ["0001.jpg", "0002.jpg", "0003.jpg"]
    assert [f["position"] for f in d["frame_list"]] == [0.0, 100.0, 200.0]
    r = api.get(f"/stacks/{sid}/file/0002.jpg")
    assert r.status_code == 200 and r.data[:2] == b"\xff\xd8"
    r = api.get(f"/stacks/{sid}/file/0002.jpg?download=1")
    assert "attachment" in r.headers["Content-Disposition"]
    r = api.get(f"/stacks/{sid}/thumb/0001.jpg?w=160")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert api.get(f"/stacks/{sid}/thumb/0001.jpg?w=big").status_code == 400
    assert api.get(f"/stacks/{sid}/thumb").status_code == 200
    assert api.get(f"/stacks/{sid}/file/stack.json").get_json()["outcome"] == "completed"
    assert api.get(f"/gallery/{sid}").status_code == 200


def test_companion_files_of_raw_jpeg_shots_are_listed_and_downloadable(api: Api, machine: Machine) -> None:
    sid = run_stack(api, machine)
    folder = Path(machine.config.output.root) / sid
    data = json.loads((folder / "stack.json").read_text())
    (folder / "0001.nef").write_bytes(b"II*\x00raw")
    data["frames"][0]["companions"] = [{"file": "0001.nef", "bytes": 7, "sha256": "x"}, {"file": 5}, "junk"]
    (folder / "stack.json").write_text(json.dumps(data))
    (folder / "0002.nef").write_bytes(b"not listed")
    frames = api.get(f"/api/stacks/{sid}").get_json()["frame_list"]
    assert [f["companions"] for f in frames] == [["0001.nef"], [], []]
    assert api.get(f"/stacks/{sid}/file/0001.nef?download=1").data == b"II*\x00raw"
    assert api.get(f"/stacks/{sid}/file/0002.nef").status_code == 404  # only what the manifest lists


def test_interrupted_and_unreadable_stacks_are_listed(tmp_path: Path) -> None:
    from rig.manifest import mark_interrupted

    root = tmp_path / "stacks"
    (root / "old").mkdir(parents=True)
    (root / "old" / "stack.json").write_text(json.dumps({"outcome": "running", "frames": [], "started": "2020"}))
    (root / "junk").mkdir()
    (root / "junk" / "stack.json").write_text("{not json")
    marked = [str(p) for p in mark_interrupted(root)]
    m = Machine.build(sim_config(root), profiles_dir=tmp_path / "p")
    app = create_app(m, interrupted=marked)
    try:
        data = Api(app).get("/api/stacks").get_json()
        outcomes = {s["id"]: s["outcome"] for s in data["stacks"]}
        assert outcomes == {"old": "interrupted", "junk": "unreadable"}
        assert data["interrupted"] == marked
    finally:
        app.extensions["rig"].shutdown()
        m.close()


@pytest.mark.parametrize(
    "path",
    [
        "/api/stacks/..",
        "/api/stacks/../..",
        "/api/stacks/%2e%2e/%2e%2e/etc",
        "/api/stacks/.hidden",
        "/api/stacks//etc",
        "/api/stacks/a%00b",
        "/api/stacks/nope",
        "/stacks/../stack.json/file/stack.json",
        "/stacks/%2e%2e/file/stack.json",
        "/stacks/nope/thumb",
        "/gallery/..%2f..%2fetc",
    ],
)
def test_traversal_is_404(api: Api, machine: Machine, shot_stack: Path, path: str) -> None:
    copy_stack(machine, shot_stack)
    r = api.get(path, follow_redirects=True)
    assert r.status_code in (404, 405), (path, r.status_code)
    assert r.status_code != 500


def test_symlinks_are_never_followed(api: Api, machine: Machine, tmp_path: Path, shot_stack: Path) -> None:
    sid = copy_stack(machine, shot_stack)
    root = Path(machine.config.output.root)
    folder = root / sid
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(b"\xff\xd8secret\xff\xd9")
    # a frame listed in the manifest replaced by a symlink
    os.unlink(folder / "0001.jpg")
    os.symlink(secret, folder / "0001.jpg")
    assert api.get(f"/stacks/{sid}/file/0001.jpg").status_code == 404
    assert api.get(f"/stacks/{sid}/thumb/0001.jpg").status_code == 404
    # a file the manifest does not list
    (folder / "notes.txt").write_text("x")
    assert api.get(f"/stacks/{sid}/file/notes.txt").status_code == 404
    # a symlinked stack folder (pointing at a real stack elsewhere)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "stack.json").write_text(json.dumps({"outcome": "completed", "frames": [{"file": "x.jpg"}]}))
    (outside / "x.jpg").write_bytes(secret.read_bytes())
    os.symlink(outside, root / "linked")
    assert api.get("/api/stacks/linked").status_code == 404
    assert api.get("/stacks/linked/file/x.jpg").status_code == 404
    assert "linked" not in [s["id"] for s in api.get("/api/stacks").get_json()["stacks"]]
    assert api.call("DELETE", "/api/stacks/linked").status_code == 404
    assert outside.exists()


def test_delete_stack(api: Api, machine: Machine, shot_stack: Path) -> None:
    sid = copy_stack(machine, shot_stack)
    folder = Path(machine.config.output.root) / sid
    assert api.call("DELETE", f"/api/stacks/{sid}").status_code == 200
    assert not folder.exists()
    assert api.call("DELETE", f"/api/stacks/{sid}").status_code == 404
    start_long(api)
    running = api.get("/api/stacks").get_json()["stacks"][0]["id"]
    r = api.call("DELETE", f"/api/stacks/{running}")
    assert r.status_code == 409 and "cancel it first" in r.get_json()["error"]
    r = api.post(f"/api/stacks/{running}/merge")
    assert r.status_code == 409
    api.post("/api/cancel")
    idle(machine)


# ------------------------------------------------------------------ merging
class FakeJob:
    """A merge job the test drives by hand."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.fraction = 0.0
        self.finished = threading.Event()
        self.error: str | None = None
        self.cancelled = False

    def progress(self) -> float:
        return self.fraction

    def stage(self) -> str:
        return "focus"

    def done(self) -> bool:
        return self.finished.is_set()

    def result(self) -> Path:
        if self.error:
            raise MergeError(self.error)
        return self.out

    def cancel(self) -> None:
        self.cancelled = True
        self.finished.set()


@pytest.fixture
def fake_merge(monkeypatch: pytest.MonkeyPatch) -> list[FakeJob]:
    from rig.merge import child

    jobs: list[FakeJob] = []

    def start_merge(input_dir: Any, out_path: Any, **kw: Any) -> FakeJob:
        assert kw["overwrite"] is True and Path(kw["depthmap"]).name == "depth.png"
        jobs.append(FakeJob(Path(out_path)))
        return jobs[-1]

    monkeypatch.setattr(child, "start_merge", start_merge)
    return jobs


def test_merge_progress_conflict_cancel_and_failure(api: Api, machine: Machine, fake_merge: list[FakeJob]) -> None:
    sid = run_stack(api, machine)
    sub = machine.bus.subscribe()
    r = api.post(f"/api/stacks/{sid}/merge", {"align": False})
    assert r.status_code == 202 and r.get_json()["state"] == "running"
    assert api.post(f"/api/stacks/{sid}/merge").status_code == 409
    assert api.call("DELETE", f"/api/stacks/{sid}").status_code == 409
    job = fake_merge[0]
    job.fraction = 0.5

    def merge_event(pred: Any) -> Any:
        def check() -> Any:
            ev = sub.get(timeout=0.1)
            return ev if ev is not None and ev.kind == "merge" and pred(ev.payload) else None

        return wait_for(check, what="merge event")

    merge_event(lambda p: p["progress"] == 0.5 and p["stage"] == "focus")
    assert api.get(f"/api/stacks/{sid}").get_json()["merge"]["progress"] == 0.5
    assert api.post(f"/api/stacks/{sid}/merge/cancel").get_json()["state"] == "cancelled"
    assert job.cancelled
    assert api.post(f"/api/stacks/{sid}/merge/cancel").status_code == 409
    # a failing merge reports its message
    assert api.post(f"/api/stacks/{sid}", {}).status_code == 405
    assert api.post(f"/api/stacks/{sid}/merge").status_code == 202
    fake_merge[1].error = "slice 2 is corrupt"
    fake_merge[1].finished.set()
    ev = merge_event(lambda p: p["state"] == "failed")
    assert ev.payload["error"] == "slice 2 is corrupt"
    sub.close()


def test_merge_needs_two_full_frames(api: Api, machine: Machine, fake_merge: list[FakeJob]) -> None:
    sid = run_stack(api, machine, mode="preview-images")
    r = api.post(f"/api/stacks/{sid}/merge")
    assert r.status_code == 409 and "at least 2" in r.get_json()["error"]
    assert api.post(f"/api/stacks/{sid}/merge", {"align": "yes"}).status_code == 400
    assert api.post("/api/stacks/nope/merge").status_code == 404


def test_profile_merge_flag_merges_after_a_completed_run(api: Api, machine: Machine, fake_merge: list[FakeJob]) -> None:
    run_stack(api, machine, merge=True)
    wait_for(lambda: fake_merge, what="the automatic merge")
    assert api.get("/api/status").get_json()["merge"]["state"] == "running"
    fake_merge[0].finished.set()
    wait_for(lambda: api.get("/api/status").get_json()["merge"]["state"] == "done", what="merge done")


def test_real_merge_in_a_child_process(api: Api, machine: Machine) -> None:
    sid = run_stack(api, machine, slices=4, step_um=400)
    assert api.post(f"/api/stacks/{sid}/merge").status_code == 202
    # status stays responsive while the child merges
    assert api.get("/api/status").status_code == 200
    merge = wait_for(
        lambda: (m := api.get(f"/api/stacks/{sid}").get_json()["merge"]) and m["state"] != "running" and m,
        timeout=90,
        what="the merge to finish",
    )
    assert merge["state"] == "done", merge
    d = api.get(f"/api/stacks/{sid}").get_json()
    assert d["results"] == {"merged.tif": True, "merged.jpg": True, "depth.png": True} and d["merged"]
    assert api.get(f"/stacks/{sid}/file/merged.jpg").data[:2] == b"\xff\xd8"
    assert api.get(f"/stacks/{sid}/thumb/depth.png").status_code == 200
    assert api.get("/api/stacks").get_json()["stacks"][0]["thumb_file"] == "merged.jpg"


MALFORMED_MANIFESTS = {
    "frames-number": b'{"outcome": "running", "frames": 5}',
    "frames-string": b'{"outcome": "completed", "frames": "0001.jpg"}',
    "frames-object": b'{"outcome": "completed", "frames": {"file": "0001.jpg"}}',
    "frame-not-objects": b'{"outcome": "completed", "frames": [1, "0001.jpg", null, [2]]}',
    "planned-number": b'{"outcome": "completed", "frames": [], "planned_positions": 7}',
    "json-list": b"[1, 2, 3]",
    "json-string": b'"stack"',
    "json-null": b"null",
    "empty": b"",
    "truncated": b'{"outcome": "completed", "frames": [{"index": 1',
    "not-utf8": b'{"outcome": "completed", "error": "\xff\xfe"}',
    "deep": b"[" * 100_000 + b"]" * 100_000,
}
ODD_BUT_READABLE = {
    "wrong-field-types": json.dumps(
        {
            "outcome": 5,
            "started": [1],
            "ended": {},
            "error": 3.5,
            "profile_name": True,
            "mode": None,
            "units": {"x": 1},
            "profile": [1, 2],
            "frames": [
                {"index": {"a": 1}, "position_um": "x", "file": 7, "preview": "yes"},
                {"index": True, "position_um": [], "file": "", "sha256": 5},
                {},
            ],
        }
    ).encode(),
    "non-finite": b'{"outcome": "completed", "profile": {"step_um": NaN, "end_um": 1e999},'
    b' "frames": [{"index": 1, "position_um": Infinity, "file": "0001.jpg"}]}',
}


def test_malformed_manifests_never_500(tmp_path: Path) -> None:
    """A folder whose stack.json is not a rig manifest (wrong types, not an object, not
    UTF-8, not JSON, nested too deep) is listed as unreadable; its detail is a 422 with
    the reason; nothing about it answers 500, and the good stacks are still listed."""
    root = tmp_path / "stacks"
    for name, raw in {**MALFORMED_MANIFESTS, **ODD_BUT_READABLE}.items():
        (root / name).mkdir(parents=True)
        (root / name / "stack.json").write_bytes(raw)
        (root / name / "0001.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    m = Machine.build(sim_config(root), profiles_dir=tmp_path / "p")
    app = create_app(m)
    api = Api(app)
    try:
        good = run_stack(api, m)
        r = api.get("/api/stacks")
        assert r.status_code == 200, r.data[:300]
        listed = {s["id"]: s for s in r.get_json()["stacks"]}
        assert set(listed) == {good, *MALFORMED_MANIFESTS, *ODD_BUT_READABLE}
        assert listed[good]["outcome"] == "completed" and listed[good]["frames"] == 3
        for name in MALFORMED_MANIFESTS:
            s = listed[name]
            assert s["outcome"] == "unreadable", name
            assert s["error"].startswith("unreadable manifest"), (name, s["error"])
            assert s["frames"] == 0 and s["planned"] == 0 and s["thumb_file"] is None, name
            r = api.get(f"/api/stacks/{name}")
            assert r.status_code == 422, (name, r.status_code, r.data[:300])
            assert "unreadable manifest" in r.get_json()["error"], name
            assert api.call("POST", f"/api/stacks/{name}/merge", {}).status_code == 422, name
        for name in ODD_BUT_READABLE:
            r = api.get(f"/api/stacks/{name}")
            assert r.status_code == 200, (name, r.data[:300])
            json.loads(r.data)  # strict JSON: no NaN/Infinity leaks into the answer
            for f in r.get_json()["frame_list"]:
                assert f["index"] is None or type(f["index"]) is int
                assert f["position"] is None or isinstance(f["position"], float | int)
                assert f["file"] is None or isinstance(f["file"], str)
                assert isinstance(f["preview"], bool)
        assert listed["wrong-field-types"]["outcome"] == "unreadable"
        assert api.get("/stacks/non-finite/file/0001.jpg").status_code == 200
        for name in {**MALFORMED_MANIFESTS, **ODD_BUT_READABLE}:
            for path in (f"/stacks/{name}/thumb", f"/stacks/{name}/file/0001.jpg", f"/gallery/{name}"):
                r = api.get(path)
                assert r.status_code != 500 and r.status_code in (200, 404), (path, r.status_code)
        # a malformed stack can still be deleted from the gallery
        assert api.call("DELETE", "/api/stacks/frames-number").status_code == 200
        assert not (root / "frames-number").exists()
    finally:
        app.extensions["rig"].shutdown()
        m.close()


def test_a_malformed_manifest_does_not_stop_marking_interrupted_runs(tmp_path: Path) -> None:
    """`rig serve` marks runs left running as interrupted at start-up; a stack.json nested too
    deep for the JSON parser (or not UTF-8) is skipped instead of stopping the server's start."""
    from rig.manifest import mark_interrupted

    root = tmp_path / "stacks"
    for name, raw in MALFORMED_MANIFESTS.items():
        (root / name).mkdir(parents=True)
        (root / name / "stack.json").write_bytes(raw)
    (root / "zz-running").mkdir()
    (root / "zz-running" / "stack.json").write_text(json.dumps({"outcome": "running", "frames": []}))
    assert mark_interrupted(root) == [root / "zz-running"]
    assert json.loads((root / "zz-running" / "stack.json").read_text())["outcome"] == "interrupted"
    assert (root / "deep" / "stack.json").read_bytes() == MALFORMED_MANIFESTS["deep"]  # left alone


# ------------------------------------------------------------------ the merge's outcome in stack.json
def _merge_field(machine: Machine, sid: str) -> Any:
    return json.loads((Path(machine.config.output.root) / sid / "stack.json").read_text())["merge"]


def test_a_web_merge_records_its_outcome_in_stack_json(api: Api, machine: Machine, fake_merge: list[FakeJob]) -> None:
    sid = run_stack(api, machine)
    assert _merge_field(machine, sid) is None
    assert api.post(f"/api/stacks/{sid}/merge").status_code == 202
    assert _merge_field(machine, sid)["state"] == "running"
    fake_merge[0].error = "slice 2 is corrupt"
    fake_merge[0].finished.set()
    failed = wait_for(lambda: (m := _merge_field(machine, sid))["state"] != "running" and m, what="merge recorded")
    assert failed["state"] == "failed" and failed["error"] == "slice 2 is corrupt" and failed["outputs"] == []
    assert failed["finished"]
    d = api.get(f"/api/stacks/{sid}").get_json()
    assert d["last_merge"] == failed
    assert d["result_names"] == {"image": "merged.tif", "jpeg": "merged.jpg", "depth": "depth.png"}
    assert set(d["results"]) == set(d["result_names"].values())


def test_a_profile_merge_follows_the_run_and_a_cancelled_run_is_not_merged(
    api: Api, machine: Machine, fake_merge: list[FakeJob], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rig.merge import child

    follows: list[bool] = []
    fake = child.start_merge

    def start_merge(input_dir: Any, out_path: Any, **kw: Any) -> FakeJob:
        follows.append(kw.get("follow", False))
        return fake(input_dir, out_path, **kw)

    monkeypatch.setattr(child, "start_merge", start_merge)
    body = {"slices": 5, "settle_s": 60, "start_um": 1000, "step_um": 100, "merge": True}
    assert api.post("/api/start", {"profile": body}).status_code == 202  # stays in its first settle
    wait_for(lambda: fake_merge, what="the merge to start with the run")
    assert follows == [True] and machine.sequencer.status().busy  # merging while the frames arrive
    assert api.post("/api/cancel").status_code == 202
    merge = wait_for(
        lambda: (m := api.get("/api/status").get_json()["merge"])["state"] != "running" and m, what="merge dropped"
    )
    assert merge["state"] == "cancelled" and fake_merge[0].cancelled
    sid = api.get("/api/stacks").get_json()["stacks"][0]["id"]
    assert api.get(f"/api/stacks/{sid}").get_json()["outcome"] == "cancelled"
    assert _merge_field(machine, sid)["state"] == "cancelled"
