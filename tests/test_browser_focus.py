# ruff: noqa: F811  (the fixtures imported from tests.test_browser are parameters here)
"""Browser tests for framing and planning a stack (issue 13): the Stack page's fields, the
focusing screen, the range finder. Debian's chromium through Playwright, as tests/test_browser.py."""

from __future__ import annotations

import re
from typing import Any

import pytest

from rig.machine import Machine
from tests.test_browser import (  # noqa: F401
    PHONE,
    TOUCH,
    browser,
    expect,
    page_for,
    server,
    wait_animations,
    wait_idle,
    wait_js,
)
from tests.test_web import wait_for

pytestmark = [pytest.mark.browser]


def test_values_typed_while_the_stack_page_loads_are_kept(server: Any, page_for: Any) -> None:
    base, _ = server
    page = page_for(TOUCH)
    held: list[Any] = []
    page.route("**/api/profiles", lambda route: held.append(route))  # the profiles answer comes late
    page.goto(base + "/", wait_until="domcontentloaded")
    slices = page.locator('#stack-form [name="slices"]')
    # the defaults are real values from the first paint, not grey placeholders
    expect(slices).to_have_value("20")
    assert slices.get_attribute("placeholder") is None
    expect(page.locator('#stack-form [name="step_um"]')).to_have_value(re.compile(r"^100(\.0)?$"))
    while not held:
        page.wait_for_timeout(20)
    slices.fill("7")
    held[0].continue_()
    wait_idle(page)
    expect(page.get_by_test_id("plan")).to_contain_text("7 slices")
    expect(slices).to_have_value("7")
    assert page.errors == []


def live_size(page: Any) -> tuple[int, int]:
    return page.evaluate(
        "[document.querySelector('#live-img').naturalWidth, document.querySelector('#live-img').naturalHeight]"
    )


def test_frame_magnify_set_start_and_end_and_use_the_plan(server: Any, page_for: Any) -> None:
    """The whole framing flow on the focusing screen, without the Jog page."""
    base, machine = server
    page = page_for(TOUCH)
    page.goto(base + "/live")
    wait_idle(page)
    wait_js(page, "document.querySelector('#live-img').naturalWidth > 0")
    assert "zoom=1" in page.locator("#live-img").get_attribute("src")
    # a tap magnifies around that point to 100 %: the rig sends the crop, not the whole frame
    box = page.locator("#live-img").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.5)
    expect(page.get_by_test_id("zoom-tag")).to_have_text("100%")
    src = page.locator("#live-img").get_attribute("src")
    assert "zoom=4" in src and float(re.search(r"x=([0-9.]+)", src).group(1)) == pytest.approx(0.25, abs=0.01)
    page.get_by_test_id("zoom-8").click()
    wait_js(page, "document.querySelector('#live-img').src.includes('zoom=8')")
    wait_js(page, "document.querySelector('#live-img').naturalWidth === 40")  # 320/8: sensor pixels of the crop
    page.get_by_test_id("peaking").click()
    expect(page.get_by_test_id("zoom-tag")).to_have_text("8× · peaking")
    assert "peaking=1" in page.locator("#live-img").get_attribute("src")
    page.get_by_test_id("zoom-1").click()
    # fine and coarse moves, Set start / Set end, and the plan shown as it changes
    start = machine.sequencer.status().position
    page.get_by_test_id("jog-coarse-far").click()
    expect(page.get_by_test_id("focus-position")).to_have_text(f"{start + 100:.1f} µm")
    page.get_by_test_id("focus-set-start").click()
    expect(page.get_by_test_id("focus-plan")).to_contain_text("Set the other end")
    for k in range(2, 5):  # each move seen to end before the next click (idle alone holds before it starts)
        page.get_by_test_id("jog-coarse-far").click()
        expect(page.get_by_test_id("focus-position")).to_have_text(f"{start + 100 * k:.1f} µm")
        wait_idle(page)
    page.get_by_test_id("jog-fine-far").click()
    expect(page.get_by_test_id("focus-position")).to_have_text(f"{start + 410:.1f} µm")
    page.get_by_test_id("focus-set-end").click()
    expect(page.get_by_test_id("focus-plan")).to_contain_text("4 slices × 100.0 µm")  # 310 um at the default step
    page.get_by_test_id("focus-use").click()
    page.wait_for_url(base + "/")
    expect(page.get_by_test_id("plan")).to_contain_text("slices")
    assert float(page.locator('[name="start_um"]').input_value()) == pytest.approx(start + 100)
    assert float(page.locator('[name="end_um"]').input_value()) == pytest.approx(start + 410)
    assert page.errors == []


def test_find_range_fills_start_and_end_then_nudge_one(server: Any, page_for: Any) -> None:
    base, machine = server
    page = page_for(TOUCH)
    page.goto(base + "/live")
    wait_idle(page)
    page.get_by_test_id("find-range").click()
    expect(page.get_by_test_id("focus-plan")).to_contain_text("Finding the range")
    wait_idle(page)
    found = machine.sequencer.last_range()
    assert found is not None and found.found, found
    plan = page.get_by_test_id("focus-plan")
    expect(plan).to_contain_text(f"{found.start:.1f} µm → {found.end:.1f} µm")
    # the user nudges the end by eye: the plan follows (the move seen to end before Set end: idle
    # alone holds before the move starts)
    at = machine.sequencer.status().position + 100
    page.get_by_test_id("jog-coarse-far").click()
    expect(page.get_by_test_id("focus-position")).to_have_text(f"{at:.1f} µm")
    wait_idle(page)
    page.get_by_test_id("focus-set-end").click()
    expect(plan).to_contain_text(f"{found.start:.1f} µm → {at:.1f} µm")
    assert page.errors == []


def test_a_profile_with_optics_proposes_the_step_and_warns_before_the_run(server: Any, page_for: Any) -> None:
    base, machine = server
    from rig.config import Profile, ProfileOptics

    machine.profiles.save(
        "objective-5x", Profile(start_um=0, end_um=1500, optics=ProfileOptics(magnification=5, na=0.14))
    )
    page = page_for(TOUCH)
    page.goto(base + "/")
    wait_idle(page)
    page.get_by_test_id("profile-pick").select_option("objective-5x")
    optics = page.get_by_test_id("optics")
    expect(optics).to_contain_text("Depth of field 39.5 µm: step 29.6 µm, 52 slices")
    # the profile's 100 um default step is wider than the depth of field: said before anything moves
    expect(page.get_by_test_id("plan-warning")).to_contain_text("exceeds the depth of field")
    page.get_by_test_id("optics-use").click()
    expect(page.locator('#stack-form [name="slices"]')).to_have_value("52")  # the whole range, steps <= 29.6 um
    expect(page.get_by_test_id("plan")).to_contain_text("52 slices, step 29.41 µm")
    # (a range swept by an earlier test may still warn about the subject; the step no longer does)
    expect(page.get_by_test_id("plan")).to_contain_text("52 slices")
    expect(page.get_by_test_id("plan-warning")).not_to_contain_text("exceeds the depth of field")
    assert page.errors == []
    machine.profiles.delete("objective-5x")


# ------------------------------------------------------------------ on the LAN: pairing, stops, control
LAN_TOKEN = "kmnp-qrst-uvwx"


@pytest.fixture(scope="module")
def lan(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from rig.web import create_app
    from tests.test_browser_field_kit import AsPhone, serving
    from tests.test_web import sim_config

    tmp = tmp_path_factory.mktemp("lan")
    machine = Machine.build(sim_config(tmp / "stacks", time_scale=1.0), profiles_dir=tmp / "profiles")
    app = create_app(machine, token=LAN_TOKEN, host="0.0.0.0", addresses=lambda: ["10.42.0.1"])
    with serving(app, AsPhone(app)) as (kiosk, phone):
        yield {"kiosk": kiosk, "phone": phone, "machine": machine}
        app.extensions["rig"].shutdown()
    machine.close()


def long_stack(machine: Any) -> None:
    from rig.config import Profile

    machine.sequencer.start(Profile(slices=3, settle_s=60, step_um=10))
    wait_for(lambda: machine.sequencer.status().state.value == "settling", what="the stack settling")


def test_an_unpaired_phone_can_stop_the_rig_but_its_moves_are_inert(lan: Any, page_for: Any) -> None:
    machine = lan["machine"]
    phone = page_for(PHONE)
    phone.goto(lan["phone"] + "/")
    wait_idle(phone)
    assert phone.locator("body").get_attribute("class") == "unpaired"
    for test_id in ("start",):
        assert phone.get_by_test_id(test_id).evaluate("e => getComputedStyle(e).pointerEvents") == "none"
    long_stack(machine)
    expect(phone.get_by_test_id("cancel")).to_be_enabled()
    phone.get_by_test_id("cancel").click()
    wait_for(lambda: machine.sequencer.status().state.value == "idle", what="cancelled")
    assert machine.sequencer.status().outcome.value == "cancelled"
    long_stack(machine)
    phone.get_by_test_id("estop").click()
    wait_for(lambda: machine.sequencer.status().state.value == "fault", what="e-stop")
    machine.sequencer.reset()
    phone.goto(lan["phone"] + "/live")
    assert phone.get_by_test_id("jog-fine-far").evaluate("e => getComputedStyle(e).pointerEvents") == "none"
    assert phone.errors == []


def test_a_typed_pairing_token_ignores_case_spaces_and_dashes(lan: Any, page_for: Any) -> None:
    phone = page_for(PHONE)
    phone.goto(lan["phone"] + "/pair")
    phone.locator('input[name="token"]').fill("KMNP QRST-UVWX ")
    phone.get_by_role("button", name="Pair").click()
    phone.wait_for_url(lan["phone"] + "/")
    assert phone.locator("body").get_attribute("data-paired") == "1"


def test_taking_control_is_one_tap_and_the_other_screen_is_told(lan: Any, page_for: Any) -> None:
    machine = lan["machine"]
    kiosk = page_for(TOUCH)
    kiosk.goto(lan["kiosk"] + "/jog")
    wait_idle(kiosk)
    kiosk.get_by_role("button", name="+10", exact=True).click()  # the rig's screen takes the control lock
    expect(kiosk.locator("#control")).to_contain_text("In control")
    wait_idle(kiosk)
    phone = page_for(PHONE)
    phone.goto(lan["phone"] + f"/pair?token={LAN_TOKEN}")
    wait_idle(phone)
    phone.get_by_test_id("start").click()
    expect(phone.locator("#confirm")).to_be_visible()
    phone.locator("#confirm-yes").click()  # "Take over"
    expect(phone.locator("#control")).to_contain_text("In control")
    expect(phone.locator("#toasts")).to_contain_text("Press the button again")
    assert machine.sequencer.status().state.value == "idle"  # the tap that took control started nothing
    expect(kiosk.locator("#toasts")).to_contain_text("took control of the rig")
    assert phone.errors == [] and kiosk.errors == []


SMALL = """(() => {
  const out = [];
  for (const e of document.querySelectorAll('body *')) {
    const cs = getComputedStyle(e), r = e.getBoundingClientRect();
    if (!r.width || !r.height || cs.visibility === 'hidden') continue;
    if (e.closest('.hidden, dialog:not([open]), [hidden]')) continue;
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (own && parseFloat(cs.fontSize) < 14) out.push('text ' + cs.fontSize + ': ' + e.textContent.trim().slice(0, 24));
    if (!e.matches('button, a, input, select, summary')) continue;
    const target = e.matches('input[type=checkbox]') && e.closest('label') ? e.closest('label') : e;
    const t = target.getBoundingClientRect();
    const what = (e.textContent || e.name || e.id).trim().slice(0, 24);
    if (t.height < 40 || (t.width < 40 && !e.matches('a'))) out.push('target ' + t.width + 'x' + t.height + what);
  }
  return out;
})()"""


@pytest.mark.parametrize("path", ["/", "/jog", "/live", "/gallery", "/profiles", "/system"])
def test_no_label_under_14px_or_touch_target_under_40px_on_the_touchscreen(
    server: Any,
    page_for: Any,
    path: str,
) -> None:
    base, _ = server
    page = page_for(TOUCH)
    page.goto(base + path)
    wait_idle(page)
    if path == "/":
        page.locator("#more summary").click()
    assert page.evaluate(SMALL) == []


def test_the_runs_count_and_progress_stay_in_view_on_the_touchscreen(server: Any, page_for: Any) -> None:
    base, machine = server
    page = page_for(TOUCH)
    page.goto(base + "/")
    wait_idle(page)
    page.locator("#more summary").click()
    page.locator('#stack-form [name="settle_s"]').fill("60")
    expect(page.get_by_test_id("plan")).to_contain_text("20 slices")
    page.get_by_test_id("start").click()
    if page.locator("#confirm[open]").count():  # a warning from an earlier test's range sweep
        page.locator("#confirm-yes").click()
    expect(page.get_by_test_id("count")).to_have_text("1 / 20")
    page.locator('#stack-form [name="out"]').scroll_into_view_if_needed()
    page.mouse.wheel(0, 2000)
    wait_js(page, "document.scrollingElement.scrollTop > 0")  # the page did scroll
    for sel in ("#count", "#bar"):
        box = page.locator(sel).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= TOUCH["height"], (sel, box)
    page.get_by_test_id("cancel").click()
    wait_idle(page)


# ------------------------------------------------------------------ the gallery at 100 %
@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import dataclasses

    from rig.config import Profile
    from rig.web import create_app
    from tests.test_browser_field_kit import serving
    from tests.test_web import sim_config

    tmp = tmp_path_factory.mktemp("big")
    cfg = sim_config(tmp / "stacks")
    cfg = dataclasses.replace(
        cfg, camera=dataclasses.replace(cfg.camera, sim=dataclasses.replace(cfg.camera.sim, width=1600, height=1200))
    )
    machine = Machine.build(cfg, profiles_dir=tmp / "profiles")
    machine.sequencer.start(Profile(slices=3, step_um=400, settle_s=0))
    machine.sequencer.wait(60)
    app = create_app(machine)
    with serving(app) as (url,):
        yield {"url": url, "machine": machine}
        app.extensions["rig"].shutdown()
    machine.close()


def test_a_frame_at_100_percent_on_a_phone_is_a_crop_and_pans(big: Any, page_for: Any) -> None:
    page = page_for(PHONE)
    page.goto(big["url"] + "/gallery")
    page.locator(".card").first.click()
    wait_js(page, "document.querySelectorAll('#frames a img').length === 3")
    page.locator("#frames a").nth(1).click()
    inspect = page.get_by_test_id("inspect")
    expect(inspect).to_be_visible()
    expect(page.locator("#inspect-name")).to_contain_text("1600×1200")
    wait_js(page, "document.querySelector('#inspect-img').naturalWidth > 0")
    shown = page.evaluate(
        "[document.querySelector('#inspect-img').naturalWidth, document.querySelector('#inspect-img').naturalHeight]"
    )
    assert shown[0] <= PHONE["width"] and shown[1] <= PHONE["height"]  # 100 %: a phone-sized crop, not the file
    first = page.locator("#inspect-img").get_attribute("src")
    box = page.locator("#inspect-stage").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx - 150, cy, steps=5)
    page.mouse.up()
    wait_js(page, f"document.querySelector('#inspect-img').src !== {first!r}")
    x = float(re.search(r"x=([0-9.]+)", page.locator("#inspect-img").get_attribute("src")).group(1))
    assert x == pytest.approx(0.5 + 150 / 1600, abs=0.01)  # dragged left: looking further right
    page.get_by_test_id("inspect-200").click()
    wait_js(page, "document.querySelector('#inspect-img').naturalWidth <= 180")
    page.get_by_test_id("inspect-close").click()
    expect(inspect).to_be_hidden()
    assert page.errors == []


def test_focus_and_inspect_screenshots(server: Any, big: Any, page_for: Any, tmp_path: Any) -> None:
    """The focusing screen magnified with peaking (touchscreen) and a frame at 100 % (phone); written
    to $RIG_SCREENSHOTS (docs/screenshots) when set."""
    import os
    from pathlib import Path

    out = Path(os.environ.get("RIG_SCREENSHOTS") or tmp_path)
    base, machine = server
    page = page_for(TOUCH)
    page.goto(base + "/live")
    wait_idle(page)
    machine.sequencer.jog(target=700)
    wait_idle(page)
    page.get_by_test_id("zoom-2").click()
    page.get_by_test_id("peaking").click()
    wait_js(page, "document.querySelector('#live-img').src.includes('peaking=1')")
    wait_js(page, "document.querySelector('#live-img').naturalWidth > 0")
    wait_animations(page)
    page.screenshot(path=str(out / "touch-800x480-focus-magnified.png"))
    phone = page_for(PHONE)
    phone.goto(big["url"] + "/gallery")
    phone.locator(".card").first.click()
    wait_js(phone, "document.querySelectorAll('#frames a img').length === 3")
    phone.locator("#frames a").nth(1).click()
    wait_js(phone, "document.querySelector('#inspect-img').naturalWidth > 0")
    wait_animations(phone)
    phone.screenshot(path=str(out / "phone-360x800-inspect-100.png"))
    assert page.errors == [] and phone.errors == []


def test_camera_settings_from_the_focus_page(server: Any, page_for: Any) -> None:
    base, machine = server
    page = page_for(TOUCH)
    page.goto(base + "/live")
    wait_idle(page)
    page.locator("#camera-settings summary").click()
    exposure = page.locator('#cam-fields [name="exposure_ev"]')
    expect(exposure).to_have_value("0")
    exposure.fill("-1")
    page.get_by_test_id("cam-apply").click()
    expect(page.locator("#toasts")).to_contain_text("Camera settings applied")
    assert machine.camera._exposure_ev == -1.0
    exposure.fill("9")
    page.get_by_test_id("cam-apply").click()
    expect(page.locator("#toasts")).to_contain_text("must be from -3 to 3")
    assert machine.camera._exposure_ev == -1.0  # a bad value changes nothing
    machine.camera.set_setting("exposure_ev", "0")
    assert page.errors == []


def test_a_profiles_camera_settings_are_shown_checked_and_saved(server: Any, page_for: Any) -> None:
    base, machine = server
    from rig.config import Profile

    machine.profiles.save("night", Profile(slices=5, camera_settings=("exposure_ev=-1", "iso=800")))
    page = page_for(TOUCH)
    page.goto(base + "/profiles")
    page.get_by_test_id("plist").get_by_role("button", name="night").click()
    fields = page.locator("#p-cam-fields")
    expect(fields.locator('[name="exposure_ev"]')).to_have_value("-1")
    expect(fields.locator('[name="format"]')).to_have_value("")  # blank: not set by the profile
    expect(fields.locator('[name="iso"]')).to_have_value("800")  # another body's setting: shown, kept
    expect(page.get_by_test_id("p-camera")).to_have_attribute("open", "")
    fields.locator('[name="exposure_ev"]').fill("9")
    page.get_by_test_id("p-save").click()
    expect(fields.locator("label", has_text="exposure ev").locator(".err")).to_have_text("from -3 to 3")
    assert machine.profiles.load("night").camera_settings == ("exposure_ev=-1", "iso=800")  # not saved
    fields.locator('[name="exposure_ev"]').fill("")
    fields.locator('[name="format"]').select_option("png")
    page.get_by_test_id("p-save").click()
    expect(page.locator("#toasts")).to_contain_text("Saved night")
    assert machine.profiles.load("night").camera_settings == ("format=png", "iso=800")
    assert page.errors == []
