"""Issue 15, web hardening: bodies limited by the server before buffering, strict Host and
Origin, no 500 for odd JSON or an unusable profile folder, merges that stay inside the stack's
folder, and a rate-limited ``/pair``."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rig.cli import main
from rig.cli.cmd_serve import _run_until_signalled, make_server
from rig.machine import Machine
from rig.web import create_app
from tests.test_web import Api, sim_config
from tests.test_web_security import PHONE, TOKEN


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Any]:
    m = Machine.build(sim_config(tmp_path / "stacks"), profiles_dir=tmp_path / "profiles")
    app = create_app(m)
    yield app
    app.extensions["rig"].shutdown()
    m.close()


# ------------------------------------------------------------------ the server's own body limit
def test_waitress_refuses_a_huge_body_before_reading_it(local: Any) -> None:
    server = make_server(local, "127.0.0.1", 0, 4)
    port = server.effective_port
    stop: list[int] = []
    thread = threading.Thread(target=_run_until_signalled, args=(server, stop), daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            # a 1 MiB body is announced but never sent: the answer must come without it
            sock.sendall(
                b"POST /api/plan HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1048576\r\n\r\n{"
            )
            reply = sock.recv(4096)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    finally:
        stop.append(1)
        thread.join(5)
        server.close()


# ------------------------------------------------------------------ Host and Origin
@pytest.mark.parametrize(
    "host",
    [
        "localhost:abc",
        "localhost:",
        "localhost:99999",
        "[::1]junk",
        "user@localhost",
        "evil@127.0.0.1:80",
        "local host",
    ],
)
def test_odd_host_forms_are_refused(local: Any, host: str) -> None:
    r = local.test_client().get("/api/status", headers={"Host": host})
    assert r.status_code == 403 and r.get_json()["code"] == "host"


@pytest.mark.parametrize(
    "origin", ["https://localhost", "http://localhost:8081", "null", "http://user@localhost", "ftp://localhost"]
)
def test_origin_must_match_scheme_host_and_port(local: Any, origin: str) -> None:
    api = Api(local)
    r = api.post("/api/plan", {"profile": {"slices": 3}}, headers={"Origin": origin})
    assert r.status_code == 403 and r.get_json()["code"] == "csrf"
    # the same origin, with the default port written out or not, is accepted
    assert (
        api.post("/api/plan", {"profile": {"slices": 3}}, headers={"Origin": "http://localhost:80"}).status_code == 200
    )
    assert api.post("/api/plan", {"profile": {"slices": 3}}, headers={"Origin": "http://localhost"}).status_code == 200


# ------------------------------------------------------------------ odd JSON
@pytest.mark.parametrize(
    ("method", "url", "raw"),
    [
        ("POST", "/api/plan", '{"profile": {"slices": 1%s}}' % ("0" * 400)),
        ("POST", "/api/jog", '{"distance_um": -1%s}' % ("0" * 400)),
        ("PUT", "/api/profiles/big", '{"step_um": 1%s}' % ("0" * 320)),
        ("PUT", "/api/profiles/odd", '{"description": "a\\udfffb"}'),
        ("PUT", "/api/profiles/odd", '{"out": "x-\\ud800"}'),
        ("POST", "/api/start", '{"profile": {"slices": 3, "description": "\\ud800"}}'),
    ],
)
def test_out_of_range_integers_and_lone_surrogates_get_400(local: Any, method: str, url: str, raw: str) -> None:
    api = Api(local)
    r = api.call(method, url, data=raw, content_type="application/json")
    assert r.status_code == 400, (r.status_code, r.get_json())
    assert r.get_json()["error"]


def test_an_unusable_profile_file_gets_a_4xx_not_a_500(local: Any, tmp_path: Path) -> None:
    (tmp_path / "profiles" / "stuck.toml").mkdir(parents=True)  # a folder where the file should be
    api = Api(local)
    assert api.get("/api/profiles").status_code == 200
    r = api.call("PUT", "/api/profiles/stuck", {"slices": 5})
    assert 400 <= r.status_code < 500 and "stuck.toml" in r.get_json()["error"]
    r = api.call("DELETE", "/api/profiles/stuck", {})
    assert 400 <= r.status_code < 500 and "stuck.toml" in r.get_json()["error"]
    assert 400 <= api.get("/api/profiles/stuck").status_code < 500


# ------------------------------------------------------------------ /pair
def test_pair_is_rate_limited_per_client(tmp_path: Path) -> None:
    m = Machine.build(sim_config(tmp_path / "stacks"), profiles_dir=tmp_path / "profiles")
    app = create_app(m, token=TOKEN, host="0.0.0.0", allowed_hosts=("rig.example",))
    try:
        phone = app.test_client()
        phone.environ_base.update(HTTP_HOST="rig.example", **PHONE)
        codes = [phone.get(f"/pair?token=wrong-guess-{i}").status_code for i in range(8)]
        assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
        r = phone.get(f"/pair?token={TOKEN}")  # even the right token waits out the lockout
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        other = app.test_client()  # another device is not locked out
        other.environ_base.update(HTTP_HOST="rig.example", REMOTE_ADDR="192.0.2.77")
        assert other.get(f"/pair?token={TOKEN}").status_code == 303
    finally:
        app.extensions["rig"].shutdown()
        m.close()


# ------------------------------------------------------------------ merge stays inside the stack
@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_merge_refuses_files_outside_the_stack_folder(tmp_path: Path, capsys: Any, how: str) -> None:
    import cv2
    import numpy as np

    outside = tmp_path / "secret"
    outside.mkdir()
    for i in range(2):
        cv2.imwrite(
            str(outside / f"s{i}.png"), (np.random.default_rng(9 + i).random((32, 32, 3)) * 255).astype(np.uint8)
        )
    stack = tmp_path / "root" / "stack"
    stack.mkdir(parents=True)
    if how == "dotdot":
        names = ["../../secret/s0.png", "../../secret/s1.png"]
    elif how == "absolute":
        names = [str(outside / "s0.png"), str(outside / "s1.png")]
    else:
        for i in range(2):
            (stack / f"f{i}.png").symlink_to(outside / f"s{i}.png")
        names = ["f0.png", "f1.png"]
    frames = [{"index": i, "file": n} for i, n in enumerate(names)]
    (stack / "stack.json").write_text(json.dumps({"format": "rig-stack/1", "outcome": "completed", "frames": frames}))
    rc = main(["merge", str(stack), "-o", str(stack / "merged.png")])
    err = capsys.readouterr().err
    assert rc == 2 and ("outside the stack" in err or "inside the stack" in err), err
    assert not (stack / "merged.png").exists()
