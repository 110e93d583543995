"""Pairing a phone on the LAN: which addresses the pairing URLs (QR codes) use, the System
page listing all of them, and the Host check accepting an address that came up later (the
field kit's hotspot). Addresses are injected: nothing here touches the network."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask  # noqa: F401 - a core dependency: missing is a failure, not a skip
import pytest

from rig import lan
from rig.lan import HOTSPOT_ADDRESS, order_addresses
from rig.machine import Machine  # noqa: E402
from rig.web import create_app  # noqa: E402
from tests.test_web import sim_config  # noqa: E402

TOKEN = "abcd-efgh-jkmn"
PHONE = {"REMOTE_ADDR": "192.0.2.10", "HTTP_USER_AGENT": "Mozilla/5.0 (Linux; Android 14) Mobile"}


def test_the_hotspot_comes_first_then_the_default_route_then_the_rest() -> None:
    found = ["192.168.1.20", "127.0.0.1", "169.254.3.4", "10.42.0.1", "172.17.0.1", "192.168.1.20"]
    assert order_addresses(found, route="172.17.0.1") == ["10.42.0.1", "172.17.0.1", "192.168.1.20", "169.254.3.4"]


def test_without_a_hotspot_the_default_route_leads() -> None:
    assert order_addresses(["10.0.0.5", "192.168.1.20"], route="192.168.1.20") == ["192.168.1.20", "10.0.0.5"]
    assert order_addresses(["10.0.0.5", "192.168.1.20"], route=None) == ["10.0.0.5", "192.168.1.20"]


def test_loopback_ipv6_and_junk_are_left_out() -> None:
    assert order_addresses(["127.0.1.1", "::1", "fe80::1%wlan0", "0.0.0.0", "224.0.0.1", "nonsense", ""]) == []
    assert order_addresses([]) == []


def test_lan_addresses_lists_every_interface_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lan, "interface_addresses", lambda: ["127.0.0.1", "192.168.1.20", HOTSPOT_ADDRESS])
    monkeypatch.setattr(lan, "route_address", lambda: "192.168.1.20")
    assert lan.lan_addresses() == [HOTSPOT_ADDRESS, "192.168.1.20"]


def test_the_real_lookup_finds_no_loopback() -> None:
    assert all(not a.startswith("127.") for a in lan.lan_addresses())


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Any]:
    made = []

    def make(addresses: list[str], **kw: Any) -> Any:
        m = Machine.build(sim_config(tmp_path / f"stacks{len(made)}"), profiles_dir=tmp_path / "profiles")
        app = create_app(m, token=TOKEN, port=8080, addresses=lambda: list(addresses), **kw)
        made.append((app, m))
        return app

    yield make
    for app, m in made:
        app.extensions["rig"].shutdown()
        m.close()


def test_the_system_page_shows_every_address_with_the_hotspot_first(make_app: Any) -> None:
    app = make_app(order_addresses(["192.168.1.20", HOTSPOT_ADDRESS], route="192.168.1.20"), host="0.0.0.0")
    html = app.test_client().get("/system").get_data(as_text=True)
    urls = re.findall(r'data-url="([^"]+)"', html)
    assert urls == [f"http://10.42.0.1:8080/pair?token={TOKEN}", f"http://192.168.1.20:8080/pair?token={TOKEN}"]
    assert html.count("<svg") == 2  # a QR code per address, the first one shown
    assert re.search(r'data-testid="pair-url">http://10\.42\.0\.1:8080/pair\?token=', html)
    assert "10.42.0.1:8080 (hotspot)" in html and ">192.168.1.20:8080<" in html


def test_the_system_page_says_when_there_is_no_address(make_app: Any) -> None:
    app = make_app([], host="0.0.0.0")
    r = app.test_client().get("/system")
    assert r.status_code == 200 and b'data-testid="pair-none"' in r.data and TOKEN.encode() in r.data


def test_a_specific_bind_address_is_the_only_pairing_address(make_app: Any) -> None:
    app = make_app(["192.168.1.20", HOTSPOT_ADDRESS], host="192.168.1.20")
    urls = re.findall(r'data-url="([^"]+)"', app.test_client().get("/system").get_data(as_text=True))
    assert urls == [f"http://192.168.1.20:8080/pair?token={TOKEN}"]


def test_an_address_that_comes_up_later_is_a_valid_host(make_app: Any) -> None:
    addresses: list[str] = ["192.168.1.20"]
    app = make_app(addresses, host="0.0.0.0")
    phone = app.test_client()
    phone.environ_base.update(PHONE)

    def status(host: str) -> int:
        return phone.get("/api/status", headers={"Host": host}).status_code

    assert status("192.168.1.20:8080") == 200 and status("10.42.0.1:8080") == 403
    addresses.append(HOTSPOT_ADDRESS)  # the hotspot came up after the start
    app.extensions["rig"].guard._local = (0.0, frozenset())  # as if 5 s had passed
    assert status("10.42.0.1:8080") == 200
    assert status("203.0.113.9:8080") == 403  # an address that is not this rig's
    assert status("evil.example") == 403
