"""Property-based fuzzing of the API: no input produces a 500, and every error is JSON with a message."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import flask  # noqa: F401 - a core dependency: missing is a failure, not a skip
import pytest
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rig.config import Profile  # noqa: E402
from rig.machine import Machine  # noqa: E402
from rig.web import create_app  # noqa: E402
from tests.test_web import Api, idle, sim_config  # noqa: E402

PROFILE_KEYS = [f.name for f in dataclasses.fields(Profile)]
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, 999, 1000, -1, 0.5, 1e-300, 1e308, 2**63]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    st.text(max_size=20),
    st.sampled_from(["full", "preview", "preview-images", "@GRP/@GCT4", "../x", "\x00"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)
profiles = st.dictionaries(st.sampled_from(PROFILE_KEYS) | st.text(max_size=8), values, max_size=6)
bodies = st.one_of(
    st.dictionaries(
        st.sampled_from(["name", "profile", "delta", "target", "action", "force", "align"]) | st.text(max_size=6),
        values | profiles,
        max_size=4,
    ),
    st.builds(
        lambda p, n: {"profile": p, "name": n} if n is not None else {"profile": p},
        profiles,
        st.none() | st.text(max_size=10),
    ),
    values,
)
raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"NaN",
            b'{"delta": NaN}',
            b'{"delta": -Infinity}',
            b'{"delta": 1e999}',
            b'{"profile": {"slices": 1' + b"0" * 5000 + b"}}",
            b"[" * 3000,
            b'{"a":' * 2000,
            b"\xef\xbb\xbf{}",
            b'{"delta": 5,}',
            b"null",
        ]
    ),
)
ENDPOINTS = [
    "/api/start",
    "/api/cancel",
    "/api/estop",
    "/api/reset",
    "/api/jog",
    "/api/home",
    "/api/plan",
    "/api/control",
    "/api/clock",
]
names = st.text(max_size=30).filter(lambda s: "/" not in s and s not in (".", ".."))


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Api, Machine]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    m = Machine.build(sim_config(tmp / "stacks"), profiles_dir=tmp / "profiles")
    app = create_app(m)
    api = Api(app)
    # one real stack so the gallery routes have something to refuse
    assert api.post("/api/start", {"profile": {"slices": 2, "settle_s": 0}}).status_code == 202
    idle(m)
    yield api, m
    app.extensions["rig"].shutdown()
    m.close()


def check(r: Any) -> None:
    assert r.status_code != 500, r.data[:500]
    assert r.status_code < 500 or r.status_code == 503, r.status_code
    if r.status_code >= 400 and r.mimetype != "text/html":  # pages answer with an HTML error page
        body = r.get_json(silent=True)
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], r.data[:200]


def settle(api: Api, machine: Machine) -> None:
    """Put the rig back to idle between examples."""
    s = machine.sequencer.status()
    if s.busy:
        try:
            machine.sequencer.cancel()
        except Exception:  # noqa: BLE001 - it may have ended on its own
            pass
        idle(machine)
    if machine.sequencer.status().state.value == "fault":
        machine.sequencer.reset()


FUZZ = settings(
    max_examples=int(os.environ.get("RIG_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
def test_json_commands_never_500(fuzz: tuple[Api, Machine], endpoint: str, body: Any) -> None:
    api, machine = fuzz
    try:
        raw = json.dumps(body, allow_nan=True)
    except (ValueError, OverflowError):
        return
    r = api.client.post(endpoint, data=raw, content_type="application/json", headers={"X-CSRF-Token": api.csrf})
    check(r)
    settle(api, machine)


@FUZZ
@given(
    endpoint=st.sampled_from([*ENDPOINTS, "/api/profiles/x", "/api/stacks/x/merge"]),
    raw=raw_bodies,
    ctype=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
)
def test_raw_bodies_never_500(fuzz: tuple[Api, Machine], endpoint: str, raw: bytes, ctype: str) -> None:
    api, machine = fuzz
    method = "PUT" if endpoint.startswith("/api/profiles/") else "POST"
    r = api.client.open(
        endpoint, method=method, data=raw, content_type=ctype or None, headers={"X-CSRF-Token": api.csrf}
    )
    check(r)
    settle(api, machine)


@FUZZ
@given(name=names, body=profiles | values, method=st.sampled_from(["GET", "PUT", "DELETE"]))
def test_profile_routes_never_500(fuzz: tuple[Api, Machine], name: str, body: Any, method: str) -> None:
    api, _ = fuzz
    try:
        raw = json.dumps(body, allow_nan=True)
    except (ValueError, OverflowError):
        return
    r = api.client.open(
        "/api/profiles/" + quote(name, safe=""),
        method=method,
        data=raw if method == "PUT" else None,
        content_type="application/json",
        headers={"X-CSRF-Token": api.csrf},
    )
    check(r)
    if method == "PUT" and r.status_code == 200:
        assert api.call("DELETE", "/api/profiles/" + quote(name, safe="")).status_code == 200


segments = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["..", ".", "%2e%2e", "stack.json", "0001.jpg", "", "..%2f..", "%00", "~", "merged.jpg"]),
)


@FUZZ
@given(
    parts=st.lists(segments, min_size=1, max_size=4),
    tail=st.sampled_from(
        [
            "",
            "/file/stack.json",
            "/file/../../etc/passwd",
            "/thumb",
            "/thumb/0001.jpg?w=-5",
            "/thumb/x?w=99999999999",
            "/merge",
            "/merge/cancel",
        ]
    ),
    prefix=st.sampled_from(["/api/stacks/", "/stacks/", "/gallery/"]),
    method=st.sampled_from(["GET", "POST", "DELETE"]),
)
def test_gallery_paths_never_500(
    fuzz: tuple[Api, Machine], parts: list[str], tail: str, prefix: str, method: str
) -> None:
    api, machine = fuzz
    path = prefix + "/".join(quote(p, safe="%") for p in parts) + tail
    before = {p.name for p in Path(machine.config.output.root).iterdir()}
    r = api.client.open(path, method=method, headers={"X-CSRF-Token": api.csrf})
    check(r)
    if method == "DELETE":  # nothing outside a real stack id may ever be deleted
        after = {p.name for p in Path(machine.config.output.root).iterdir()}
        assert after == before or r.status_code == 200


manifests = st.one_of(
    values,
    st.dictionaries(
        st.sampled_from(
            ["outcome", "frames", "planned_positions", "units", "profile", "started", "error", "mode", "profile_name"]
        ),
        values | st.lists(st.dictionaries(st.sampled_from(["index", "position_um", "file", "preview"]), values)),
        max_size=6,
    ),
)


@FUZZ
@given(manifest=manifests, raw=st.none() | st.binary(max_size=40))
def test_malformed_manifests_never_500(fuzz: tuple[Api, Machine], manifest: Any, raw: bytes | None) -> None:
    api, machine = fuzz
    folder = Path(machine.config.output.root) / "fuzzed"
    folder.mkdir(exist_ok=True)
    data = raw if raw is not None else json.dumps(manifest, allow_nan=True).encode()
    (folder / "stack.json").write_bytes(data)
    r = api.get("/api/stacks")
    check(r)
    assert "fuzzed" in [s["id"] for s in r.get_json()["stacks"]]
    for path in ("/api/stacks/fuzzed", "/stacks/fuzzed/thumb", "/stacks/fuzzed/file/stack.json"):
        r = api.get(path)
        check(r)
        assert r.status_code in (200, 404, 422), (path, r.status_code)
