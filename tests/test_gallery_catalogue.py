"""The gallery's catalogue (issue 17): stacks found by specimen, catalogue number, session,
profile and date through ``GET /api/stacks``, paged and grouped; the SQLite index is a cache
(deleted or damaged, it is rebuilt from the stack.json files); a stack's specimen and crop set
from the gallery; the Stack page's specimen reaching stack.json."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from rig.machine import Machine
from rig.manifest import read_manifest
from rig.specimen import Specimen
from tests.stack_factory import make_stack_folder
from tests.test_web import Api, idle


def _stacks(machine: Machine) -> Path:
    root = Path(machine.config.output.root)
    specimens = [
        ("Drawer_1/a", Specimen("Carabus auratus", "NHM-0001", "left antenna missing", "Drawer 1"), "insects"),
        ("Drawer_1/b", Specimen("Carabus violaceus", "NHM-0002", None, "Drawer 1"), "insects"),
        ("Drawer_2/c", Specimen("Papilio machaon", "NHM-0103", None, "Drawer 2"), "butterflies"),
        ("loose", None, "default"),
    ]
    for day, (rel, specimen, profile) in enumerate(specimens, 1):
        make_stack_folder(
            root / rel, slices=2, specimen=specimen, profile_name=profile, started=datetime(2026, 5, day, 10, 0)
        )
    return root


def _ids(api: Api, query: str = "") -> list[str]:
    r = api.get("/api/stacks?" + query)
    assert r.status_code == 200, r.get_json()
    return [s["id"] for s in r.get_json()["stacks"]]


def test_search_filter_group_and_pages(api: Api, machine: Machine) -> None:
    _stacks(machine)
    assert _ids(api) == ["loose", "Drawer_2/c", "Drawer_1/b", "Drawer_1/a"]  # newest first
    assert _ids(api, "q=carabus") == ["Drawer_1/b", "Drawer_1/a"]
    assert _ids(api, "q=NHM-0103") == ["Drawer_2/c"]
    assert _ids(api, "q=antenna") == ["Drawer_1/a"]  # the notes are searched too
    assert _ids(api, "q=carabus+violaceus") == ["Drawer_1/b"]  # every word must match
    assert _ids(api, "q=100%25") == []  # LIKE wildcards are plain text
    assert _ids(api, "session=Drawer+1") == ["Drawer_1/b", "Drawer_1/a"]
    assert _ids(api, "profile=butterflies") == ["Drawer_2/c"]
    assert _ids(api, "from=2026-05-02&to=2026-05-03") == ["Drawer_2/c", "Drawer_1/b"]
    assert _ids(api, "group=specimen") == ["Drawer_1/a", "Drawer_1/b", "Drawer_2/c", "loose"]
    page = api.get("/api/stacks?per_page=3&page=2").get_json()
    assert page["total"] == 4 and [s["id"] for s in page["stacks"]] == ["Drawer_1/a"]
    assert page["sessions"] == ["Drawer 1", "Drawer 2"]
    assert page["stacks"][0]["specimen"]["catalogue_number"] == "NHM-0001"
    for bad, needle in (
        ("page=0", "page"),
        ("group=colour", "group"),
        ("from=May", "from"),
        ("per_page=501", "per_page"),
    ):
        r = api.get("/api/stacks?" + bad)
        assert r.status_code == 400 and needle in r.get_json()["error"]


def test_the_index_is_only_a_cache(api: Api, machine: Machine) -> None:
    root = _stacks(machine)
    gallery = api.client.application.extensions["rig"].gallery
    assert len(_ids(api)) == 4
    db = gallery.catalogue.path
    gallery.catalogue.close()
    db.write_bytes(b"this is not a database" * 100)  # damaged: rebuilt from the stack.json files
    for extra in db.parent.glob(db.name + "-*"):
        extra.unlink()
    gallery.catalogue.forget()
    assert _ids(api, "q=papilio") == ["Drawer_2/c"]
    assert gallery.catalogue.path.read_bytes().startswith(b"SQLite format 3")  # made again on disk
    make_stack_folder(
        root / "Drawer_2" / "d", slices=2, specimen=Specimen("Papilio demoleus"), started=datetime(2026, 5, 9, 10, 0)
    )
    gallery.catalogue.forget()
    assert _ids(api, "q=papilio") == ["Drawer_2/d", "Drawer_2/c"]


def test_specimen_and_crop_set_from_the_gallery(api: Api, machine: Machine) -> None:
    root = _stacks(machine)
    r = api.call("PUT", "/api/stacks/loose/specimen", {"specimen": {"name": "Brooch 17", "catalogue_number": "J-17"}})
    assert r.status_code == 200, r.get_json()
    assert read_manifest(root / "loose").specimen == Specimen("Brooch 17", "J-17")
    assert _ids(api, "q=brooch") == ["loose"]
    bad = api.call("PUT", "/api/stacks/loose/specimen", {"specimen": {"name": "..."}})
    assert bad.status_code == 400 and "only dots" in bad.get_json()["error"]
    assert read_manifest(root / "loose").specimen == Specimen("Brooch 17", "J-17")  # unchanged
    ok = api.call("PUT", "/api/stacks/loose/crop", {"crop": [4, 4, 60, 40]})
    assert ok.status_code == 200 and read_manifest(root / "loose").crop == (4, 4, 60, 40)
    outside = api.call("PUT", "/api/stacks/loose/crop", {"crop": [50, 4, 60, 40]})
    assert outside.status_code == 400 and "outside the 96x72 image" in outside.get_json()["error"]
    assert read_manifest(root / "loose").crop == (4, 4, 60, 40)
    assert api.call("PUT", "/api/stacks/loose/crop", {"crop": None}).status_code == 200
    assert read_manifest(root / "loose").crop is None


def test_the_stack_page_specimen_reaches_stack_json(api: Api, machine: Machine) -> None:
    profile: dict[str, Any] = {"slices": 2, "out": "@SESSION/@NAME/@GCT4"}
    bad = api.post("/api/start", {"profile": profile, "specimen": {"name": "***", "session": "Day 1"}})
    assert bad.status_code == 400 and "empty once made safe" in bad.get_json()["error"]
    assert not any(Path(machine.config.output.root).rglob("stack.json"))
    r = api.post("/api/start", {"profile": profile, "specimen": {"name": "Quercus robur", "session": "Day 1"}})
    assert r.status_code == 202, r.get_json()
    status = idle(machine)
    folder = Path(status.folder)
    assert folder.relative_to(machine.config.output.root).as_posix() == "Day_1/Quercus_robur"
    assert read_manifest(folder).specimen == Specimen("Quercus robur", session="Day 1")
    assert _ids(api, "q=quercus") == ["Day_1/Quercus_robur"]
