"""The field kit in Chromium: the touchscreen's Wi-Fi and pairing QR codes decoded from a
screenshot, the clock offer on a paired phone, the battery in the status bar and the Stack page's
warning, the live view stopping while not shown, and the blanked screen that a touch wakes.

One app serves two ports: the kiosk's (loopback, as on the rig) and a phone's, whose requests a
WSGI wrapper marks as coming from 10.42.0.23 (a phone on the kit's hotspot)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

import tests.test_browser as tb
from rig.clock_sync import SystemClock
from rig.hotspot import Hotspot, hotspot_toml
from rig.machine import Machine
from rig.web import create_app
from tests import web_server
from tests.test_browser import PHONE, TOUCH, expect, wait_idle
from tests.test_field_kit_parts import FakeTimedatectl, supply
from tests.test_web import sim_config, wait_for

pytestmark = tb.pytestmark
browser, page_for = tb.browser, tb.page_for  # the same Chromium set-up as test_browser.py

TOKEN = "kmnp-qrst-uvwx"
PAIR_URL = f"http://10.42.0.1:8080/pair?token={TOKEN}"
HOTSPOT = Hotspot(ssid="rig-kit 7", passphrase='tp;k:x"y,z8w')  # every character the QR form escapes


class AsPhone:
    """WSGI middleware: requests arrive from a phone's address on the hotspot, as waitress would
    set REMOTE_ADDR for them (waitress/task.py, WSGITask.get_environment)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["REMOTE_ADDR"] = "10.42.0.23"
        return self.app(environ, start_response)


@contextlib.contextmanager
def serving(*apps: Any) -> Iterator[list[str]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(web_server.serving(a, threads=8)) for a in apps]


def kit_machine(tmp: Path, timedated: FakeTimedatectl, **system: Any) -> Machine:
    power = tmp / "power_supply"
    supply(power, "BAT0", type="Battery", present=1, status="Discharging", capacity=73, time_to_empty_now=1800)
    cfg = sim_config(tmp / "stacks")
    cfg = dataclasses.replace(cfg, system=dataclasses.replace(cfg.system, field_kit=True, **system))
    clock = SystemClock(root=tmp / "no-rtc", run=timedated)
    return Machine.build(cfg, profiles_dir=tmp / "profiles", clock=clock, power_root=power)


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("kit")
    (tmp / "hotspot.toml").write_text(hotspot_toml(HOTSPOT))
    timedated = FakeTimedatectl(synchronized="no")
    machine = kit_machine(tmp, timedated, screen_blank_s=3600)
    app = create_app(
        machine,
        token=TOKEN,
        host="0.0.0.0",
        pair_url=PAIR_URL,
        addresses=lambda: ["10.42.0.1"],
        hotspot_file=tmp / "hotspot.toml",
    )
    with serving(app, AsPhone(app)) as (kiosk, phone):
        yield {"kiosk": kiosk, "phone": phone, "machine": machine, "app": app, "timedated": timedated}
        app.extensions["rig"].shutdown()  # end the streams before the servers close
    machine.close()


def decode(png: bytes, box: dict[str, float]) -> str:
    """The QR code inside ``box`` (page pixels) of a screenshot, as a stock reader decodes it."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    x0, y0 = int(box["x"]) - 4, int(box["y"]) - 4
    crop = image[max(0, y0) : int(box["y"] + box["height"]) + 4, max(0, x0) : int(box["x"] + box["width"]) + 4]
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(crop)
    return text


def test_the_touchscreen_shows_the_wifi_code_then_the_pairing_code(kit: dict[str, Any], page_for: Any) -> None:
    page = page_for(TOUCH)
    page.goto(kit["kiosk"] + "/system")
    wait_idle(page)
    wifi, pair = page.get_by_test_id("wifi-qr"), page.locator("#pair-qr [data-qr='0']")
    expect(wifi).to_be_visible()
    expect(pair).to_be_visible()
    png = page.screenshot()  # the 800x480 screen as it is: both codes must be on it, whole
    boxes = [wifi.bounding_box(), pair.bounding_box()]
    for box in boxes:
        assert box is not None and box["width"] >= 120, box  # big enough to scan from a phone
        assert box["x"] >= 0 and box["y"] >= 0, box
        assert box["x"] + box["width"] <= TOUCH["width"] and box["y"] + box["height"] <= TOUCH["height"], box
    assert decode(png, boxes[0]) == 'WIFI:T:WPA;S:rig-kit 7;P:tp\\;k\\:x\\"y\\,z8w;;' == HOTSPOT.wifi_qr_payload()
    assert decode(png, boxes[1]) == PAIR_URL
    assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"] or boxes[0]["y"] + boxes[0]["height"] <= boxes[1]["y"]
    expect(page.get_by_test_id("wifi-ssid")).to_have_text("rig-kit 7")
    assert page.errors == []


def test_a_phone_sees_no_wifi_passphrase(kit: dict[str, Any], page_for: Any) -> None:
    page = page_for(PHONE)
    page.goto(kit["phone"] + "/system")
    expect(page.get_by_test_id("sys-host")).to_contain_text("Battery")
    assert page.get_by_test_id("wifi").count() == 0 and HOTSPOT.passphrase not in page.content()


def test_the_first_paired_phone_sets_the_clock_from_its_time(kit: dict[str, Any], page_for: Any) -> None:
    timedated, root = kit["timedated"], Path(kit["machine"].config.output.root)
    old = root / "20261203-101500"  # the rig's newest stack, 3 days before the phone's time
    old.mkdir(parents=True)
    (old / "stack.json").write_text('{"outcome": "completed", "frames": []}')
    three_days_ago = time.time() - 3 * 86400
    os.utime(old / "stack.json", (three_days_ago, three_days_ago))

    kiosk = page_for(TOUCH)  # the rig's own screen is never offered its own time
    kiosk.goto(kit["kiosk"] + "/")
    wait_idle(kiosk)
    expect(kiosk.get_by_test_id("clock-offer")).to_be_hidden()

    phone = page_for(PHONE)
    phone.goto(kit["phone"] + f"/pair?token={TOKEN}")  # the pairing QR code's link
    wait_idle(phone)
    offer = phone.get_by_test_id("clock-offer")
    expect(offer).to_be_visible()
    expect(offer).to_contain_text("The rig's clock is not set")
    phone.get_by_test_id("clock-set").click()
    dialog = phone.locator("#confirm")
    expect(dialog).to_contain_text("3.0 days from the newest stack's time")
    phone.locator("#confirm-no").click()
    expect(offer).to_be_visible()
    assert timedated.time_set is None  # not confirmed: nothing changed

    phone.get_by_test_id("clock-set").click()
    expect(dialog).to_contain_text("days from the newest stack")
    phone.locator("#confirm-yes").click()
    expect(offer).to_be_hidden()
    set_to = time.mktime(time.strptime(timedated.time_set, "%Y-%m-%d %H:%M:%S UTC")) - time.timezone
    assert abs(set_to - time.time()) < 120 and timedated.ntp is True
    assert kit["machine"].clock.current().synchronized
    phone.goto(kit["phone"] + "/system")
    expect(phone.get_by_test_id("sys-host")).to_contain_text("synchronised (browser)")
    assert phone.errors == [] and kiosk.errors == []


def test_battery_in_the_status_bar_and_the_warning_before_a_long_stack(kit: dict[str, Any], page_for: Any) -> None:
    page = page_for(TOUCH)
    page.goto(kit["kiosk"] + "/")
    wait_idle(page)
    expect(page.get_by_test_id("battery")).to_have_text("73% · 30 min left")
    page.locator('#stack-form [name="slices"]').fill("100")
    page.locator('#stack-form [name="settle_s"]').fill("30")
    warning = page.get_by_test_id("plan-warning")
    expect(warning).to_have_text("Warning: the stack takes about 50 min; the battery has about 30 min left.")
    stacks_before = sorted(Path(kit["machine"].config.output.root).rglob("stack.json"))
    page.get_by_test_id("start").click()
    expect(page.locator("#confirm")).to_contain_text("Start anyway?")
    page.locator("#confirm-no").click()
    assert sorted(Path(kit["machine"].config.output.root).rglob("stack.json")) == stacks_before
    page.locator('#stack-form [name="slices"]').fill("3")
    page.locator('#stack-form [name="settle_s"]').fill("0")
    expect(warning).to_be_hidden()
    page.goto(kit["kiosk"] + "/jog")
    expect(page.get_by_test_id("battery")).to_have_text("73% · 30 min left")  # every page
    assert page.errors == []


def test_live_view_streams_only_while_the_page_is_shown(kit: dict[str, Any], page_for: Any) -> None:
    hub = kit["app"].extensions["rig"].preview
    page = page_for(PHONE)
    page.goto(kit["kiosk"] + "/live")
    wait_for(lambda: hub.viewers == 1, what="one live viewer")
    visibility = (
        "(state) => { Object.defineProperty(document, 'visibilityState', {value: state, configurable: true});"
        " document.dispatchEvent(new Event('visibilitychange')); }"
    )
    page.evaluate(visibility, "hidden")  # another app in front, or the tab in the background
    wait_for(lambda: hub.viewers == 0, what="the stream closed")
    page.evaluate(visibility, "visible")
    wait_for(lambda: hub.viewers == 1, what="the stream back")
    assert page.errors == []


def test_the_touchscreen_blanks_when_idle_and_the_first_touch_only_wakes_it(tmp_path: Path, page_for: Any) -> None:
    machine = kit_machine(tmp_path, FakeTimedatectl(), screen_blank_s=1)
    app = create_app(machine)
    try:
        with serving(app) as (base,):
            page = page_for(TOUCH)
            page.goto(base + "/jog")
            wait_idle(page)
            posted: list[str] = []
            page.on("request", lambda r: posted.append(r.url) if r.method == "POST" else None)
            blank = page.get_by_test_id("screen-blank")
            expect(blank).to_be_visible()  # after 1 s without input
            button = page.get_by_role("button", name="+100", exact=True).bounding_box()
            assert button is not None
            page.touchscreen.tap(button["x"] + button["width"] / 2, button["y"] + button["height"] / 2)
            expect(blank).to_be_hidden()
            page.evaluate("1")  # a round trip: a jog the tap had started would be requested by now
            assert posted == [] and machine.sequencer.status().position == 0  # the waking touch pressed nothing
            assert page.errors == []
            app.extensions["rig"].shutdown()
    finally:
        app.extensions["rig"].shutdown()
        machine.close()
