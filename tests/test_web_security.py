"""Host allow-list, pairing token (LAN), CSRF and the control lock.

Non-loopback clients are simulated with a documentation address (192.0.2.0/24) in the WSGI
environ; nothing here touches the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask  # noqa: F401 - a core dependency: missing is a failure, not a skip
import pytest

from rig.machine import Machine  # noqa: E402
from rig.web import create_app  # noqa: E402
from tests.test_web import Api, idle, sim_config, start_long, wait_for  # noqa: E402

PHONE = {"REMOTE_ADDR": "192.0.2.10", "HTTP_USER_AGENT": "Mozilla/5.0 (Linux; Android 14) Mobile"}
TOKEN = "abcd-efgh-jkmn"


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[Any]:
    m = Machine.build(sim_config(tmp_path / "stacks"), profiles_dir=tmp_path / "profiles")
    app = create_app(
        m,
        token=TOKEN,
        host="0.0.0.0",
        allowed_hosts=("rig.example",),
        pair_url=f"http://rig.example:8080/pair?token={TOKEN}",
    )
    yield app
    app.extensions["rig"].shutdown()
    m.close()


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Any]:
    m = Machine.build(sim_config(tmp_path / "stacks"), profiles_dir=tmp_path / "profiles")
    app = create_app(m)
    yield app
    app.extensions["rig"].shutdown()
    m.close()


def _phone(app: Any, host: str = "rig.example") -> Api:
    return Api(app, HTTP_HOST=host, **PHONE)


# ------------------------------------------------------------------ Host header
@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "attacker:8080", ""])
def test_foreign_host_headers_are_refused(local: Any, host: str) -> None:
    c = local.test_client()
    r = c.get("/api/status", headers={"Host": host})
    assert r.status_code == 403 and r.get_json()["code"] == "host"
    assert c.get("/", headers={"Host": host}).status_code == 403


@pytest.mark.parametrize("host", ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080"])
def test_loopback_host_names_are_accepted(local: Any, host: str) -> None:
    assert local.test_client().get("/api/status", headers={"Host": host}).status_code == 200


def test_lan_accepts_configured_host_names(lan: Any) -> None:
    assert lan.test_client().get("/api/status", headers={"Host": "rig.example:8080"}).status_code == 200
    assert lan.test_client().get("/api/status", headers={"Host": "other.example"}).status_code == 403


def test_lan_needs_a_token() -> None:
    with pytest.raises(ValueError, match="token"):
        create_app(object(), host="0.0.0.0")  # type: ignore[arg-type]


# ------------------------------------------------------------------ CSRF
def test_mutating_calls_need_the_csrf_token(local: Any) -> None:
    api = Api(local)
    c = api.client
    r = c.post("/api/jog", json={"delta": 1})
    assert r.status_code == 403 and r.get_json()["code"] == "csrf"
    r = c.post("/api/jog", json={"delta": 1}, headers={"X-CSRF-Token": "0" * 32})
    assert r.status_code == 403
    r = c.post("/api/jog", json={"delta": 1}, headers={"X-CSRF-Token": api.csrf, "Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.get_json()["error"]
    r = c.post("/api/jog", json={"delta": 1}, headers={"X-CSRF-Token": api.csrf, "Origin": "null"})
    assert r.status_code == 403
    r = c.post("/api/jog", json={"delta": 1}, headers={"X-CSRF-Token": api.csrf, "Origin": "http://localhost"})
    assert r.status_code == 202
    assert c.open("/api/profiles/x", method="PUT", json={}).status_code == 403
    assert c.delete("/api/profiles/x").status_code == 403


def test_csrf_token_is_bound_to_the_client(local: Any) -> None:
    a, b = Api(local), Api(local)
    assert a.csrf != b.csrf
    r = b.client.post("/api/jog", json={"delta": 1}, headers={"X-CSRF-Token": a.csrf})
    assert r.status_code == 403


def test_cookies_are_strict_and_http_only(local: Any) -> None:
    r = local.test_client().get("/")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Referrer-Policy"] == "no-referrer"


# ------------------------------------------------------------------ pairing (LAN)
def test_unpaired_lan_clients_may_watch_but_not_act(lan: Any) -> None:
    phone = _phone(lan)
    assert phone.get("/api/status").status_code == 200
    assert phone.get("/gallery").status_code == 200
    assert phone.get("/api/session").get_json()["paired"] is False
    for method, url, body in [
        ("POST", "/api/start", {}),
        ("POST", "/api/jog", {"delta": 1}),
        ("POST", "/api/range", {}),
        ("POST", "/api/reset", {}),
        ("POST", "/api/control", {"action": "take"}),
        ("PUT", "/api/profiles/p", {}),
        ("DELETE", "/api/profiles/p", None),
        ("DELETE", "/api/stacks/x", None),
        ("POST", "/api/stacks/x/merge", {}),
    ]:
        r = phone.call(method, url, body)
        assert r.status_code == 401, (method, url)
        assert r.get_json()["code"] == "pairing"


def test_an_unpaired_viewer_can_cancel_and_stop_the_rig_and_is_logged(
    lan: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A stop is always safe: E-STOP and Cancel work for every viewer, paired or not, lock or not."""
    machine = lan.extensions["rig"].machine
    screen = Api(lan)
    start_long(screen)  # started on the rig's own screen, which holds the control lock
    phone = _phone(lan)
    with caplog.at_level("WARNING", logger="rig.web.api"):
        assert phone.post("/api/cancel", {}).status_code == 202
    idle(machine)
    assert machine.sequencer.status().outcome.value == "cancelled"
    assert "cancel sent by a phone at 192.0.2.10" in caplog.text
    start_long(screen)
    assert phone.post("/api/estop", {}).status_code == 200
    wait_for(lambda: machine.sequencer.status().state.value == "fault", what="fault after e-stop")
    assert phone.post("/api/reset", {}).status_code == 401  # leaving the fault stays paired-only
    bad = phone.call("POST", "/api/estop", {}, headers={"X-CSRF-Token": "stale"})
    assert bad.status_code == 403  # still a same-site request with this page's token


def test_a_typed_token_ignores_case_spaces_and_dashes(lan: Any) -> None:
    phone = _phone(lan)
    typed = " " + TOKEN.upper().replace("-", " ") + " "
    r = phone.get("/pair", query_string={"token": typed})
    assert r.status_code == 303
    assert phone.get("/api/session").get_json()["paired"] is True
    assert _phone(lan).get("/pair", query_string={"token": TOKEN.replace("-", "")[:-1]}).status_code == 401


def test_pairing_by_qr_url_sets_a_cookie(lan: Any) -> None:
    phone = _phone(lan)
    r = phone.get("/pair?token=wrong-token")
    assert r.status_code == 401 and b"does not match" in r.data
    r = phone.get(f"/pair?token={TOKEN}")
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert "rig_pair=" in r.headers["Set-Cookie"] and "HttpOnly" in r.headers["Set-Cookie"]
    assert phone.get("/api/session").get_json()["paired"] is True
    assert phone.post("/api/jog", {"delta": 1}).status_code == 202
    r = phone.client.post("/api/jog", json={"delta": 1})  # paired, but no CSRF token
    assert r.status_code == 403


def test_bearer_token_for_scripts(lan: Any) -> None:
    c = lan.test_client()
    c.environ_base.update(HTTP_HOST="rig.example", **PHONE)
    r = c.post("/api/jog", json={"delta": 1}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 202
    r = c.post("/api/jog", json={"delta": 1}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_the_token_is_shown_only_on_the_rig_itself(lan: Any) -> None:
    local = lan.test_client().get("/system")
    assert TOKEN.encode() in local.data and b"<svg" in local.data
    remote = _phone(lan).get("/system")
    assert remote.status_code == 200 and TOKEN.encode() not in remote.data
    assert TOKEN.encode() not in _phone(lan).get("/api/session").data


def test_loopback_is_paired_automatically_on_lan(lan: Any) -> None:
    api = Api(lan)
    assert api.get("/api/session").get_json()["paired"] is True
    assert api.post("/api/jog", {"delta": 1}).status_code == 202


# ------------------------------------------------------------------ control lock
def test_one_controller_at_a_time_with_explicit_take_over(local: Any) -> None:
    a, b = Api(local), Api(local)
    machine = local.extensions["rig"].machine
    start_long(a)
    assert a.get("/api/session").get_json()["control"]["mine"] is True
    r = b.post("/api/jog", {"delta": 5})
    assert r.status_code == 409 and r.get_json()["code"] == "control"
    assert b.get("/api/session").get_json()["control"]["holder"] == "a browser on the rig"
    r = b.post("/api/control", {"action": "take"})
    assert r.status_code == 409 and "force" in r.get_json()["error"]
    r = b.post("/api/control", {"action": "take", "force": True})
    assert r.status_code == 200 and r.get_json()["mine"] is True
    assert a.post("/api/reset").get_json()["code"] == "control"
    assert b.post("/api/cancel").status_code == 202
    idle(machine)
    assert b.post("/api/control", {"action": "release"}).get_json()["held"] is False
    assert a.post("/api/jog", {"delta": 5}).status_code == 202  # a free lock is taken implicitly


def test_estop_ignores_the_control_lock(local: Any) -> None:
    a, b = Api(local), Api(local)
    start_long(a)
    assert b.post("/api/estop").status_code == 200
    seq = local.extensions["rig"].machine.sequencer
    wait_for(lambda: seq.status().state.value == "fault", what="fault after e-stop")


def test_a_silent_controller_loses_the_lock(local: Any) -> None:
    import time

    local.extensions["rig"].lock.timeout_s = 0.3
    a, b = Api(local), Api(local)
    assert a.post("/api/control", {"action": "take"}).status_code == 200
    assert b.post("/api/control", {"action": "take"}).status_code == 409
    time.sleep(0.4)  # longer than the lock timeout: lapsing is the point of the test
    assert b.post("/api/control", {"action": "take"}).status_code == 200


@pytest.mark.parametrize("body", [{}, {"action": "grab"}, {"action": "take", "force": "yes"}, {"action": 1}])
def test_control_bad_input(local: Any, body: dict) -> None:
    assert Api(local).post("/api/control", body).status_code == 400
