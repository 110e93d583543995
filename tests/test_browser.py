"""Real-browser tests: Debian's chromium through Playwright against a real waitress server on 127.0.0.1.

The simulated rig renders 320x240 frames and moves in real time (short steps), so a stack
takes a second or two. Every wait is for a condition, with a timeout; nothing asserts on
elapsed time.

``RIG_SCREENSHOTS=docs/screenshots pytest -m browser -k screenshots`` refreshes the
screenshots in docs/.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser]
import waitress  # noqa: E402, F401 - a core dependency: missing is a failure, not a skip
from playwright import sync_api  # noqa: E402

from rig.machine import Machine  # noqa: E402
from rig.web import create_app  # noqa: E402
from tests.test_web import sim_config  # noqa: E402
from tests.web_server import serving  # noqa: E402

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
TOUCH = {"width": 800, "height": 480}
PHONE = {"width": 360, "height": 800}
T = 30_000  # ms: generous upper bound for any one condition
# expect() has its own default of 5 s, which a stack under load outlasts: every wait gets T
sync_api.expect.set_options(timeout=T)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Machine]]:
    tmp = tmp_path_factory.mktemp("browser")
    machine = Machine.build(sim_config(tmp / "stacks", time_scale=1.0), profiles_dir=tmp / "profiles")
    app = create_app(machine)
    with serving(app, threads=16) as base:
        yield base, machine
        app.extensions["rig"].shutdown()
    machine.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # part of the test install: missing, the browser tests fail (never skip)
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page_for(browser: Any) -> Iterator[Any]:
    contexts = []

    def make(viewport: dict[str, int]) -> Any:
        ctx = browser.new_context(
            viewport=viewport, device_scale_factor=1, is_mobile=viewport["width"] < 600, has_touch=True
        )
        ctx.set_default_timeout(T)
        contexts.append(ctx)
        page = ctx.new_page()
        page.errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        return page

    yield make
    for ctx in contexts:
        for page in ctx.pages:  # hand the control lock back, as a user leaving the rig would
            try:
                page.evaluate("rig.api('POST', '/api/control', {action: 'release'}, {quiet: true})")
            except Exception:  # noqa: BLE001 - the page may be gone
                pass
        ctx.close()


def expect(locator: Any) -> Any:
    return sync_api.expect(locator)


def wait_js(page: Any, expression: str, timeout_ms: int = T) -> None:
    """Poll a JS expression from Python (``wait_for_function`` would need eval, which the CSP forbids)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not _evaluate(page, expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


def _evaluate(page: Any, expression: str) -> Any:
    """The expression's value; False while the page is between two documents (a click that
    navigates: the old page may lack the element, or its context is gone mid-evaluation)."""
    try:
        return page.evaluate(expression)
    except sync_api.Error as exc:
        if "Cannot read properties of null" in exc.message or "Execution context was destroyed" in exc.message:
            return False
        raise


def wait_animations(page: Any) -> None:
    """Every finite CSS transition or animation on the page has finished."""
    wait_js(
        page,
        "document.getAnimations().every((a) => a.playState !== 'running'"
        " || a.effect.getTiming().iterations === Infinity)",
    )


def wait_idle(page: Any) -> None:
    expect(page.get_by_test_id("state")).to_have_text(re.compile(r"^idle"), timeout=T)


def fill_stack_form(page: Any, **fields: Any) -> None:
    more = {"start_um", "end_um", "exposure_s", "out"}
    if more & set(fields):
        page.locator("#more summary").click()
    for name, value in fields.items():
        page.locator(f'#stack-form [name="{name}"]').fill(str(value))


def run_stack_in_ui(page: Any, base: str, slices: int, step_um: float = 50) -> None:
    page.goto(base + "/")
    wait_idle(page)
    fill_stack_form(page, slices=slices, step_um=step_um, settle_s=0.2)
    expect(page.get_by_test_id("plan")).to_contain_text(f"{slices} slices")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("count")).to_have_text(f"{slices} / {slices}")
    expect(page.get_by_test_id("outcome")).to_contain_text("completed")
    wait_idle(page)


def test_start_a_stack_and_watch_it_reach_n_of_n(server: Any, page_for: Any) -> None:
    base, _ = server
    page = page_for(TOUCH)
    page.goto(base + "/")
    wait_idle(page)
    # validated as typed: a bad value blocks Start
    fill_stack_form(page, slices="abc")
    expect(page.locator('[name="slices"]')).to_have_class(re.compile("bad"))
    expect(page.get_by_test_id("start")).to_be_disabled()
    fill_stack_form(page, slices=1)
    expect(page.locator('[name="slices"]')).to_have_class(re.compile("bad"))
    fill_stack_form(page, slices=5, step_um=50, settle_s=0.3)
    expect(page.get_by_test_id("plan")).to_contain_text("5 slices")
    expect(page.get_by_test_id("start")).to_be_enabled()
    expect(page.get_by_test_id("cancel")).to_be_disabled()
    page.get_by_test_id("start").click()
    # while running: controls locked, Cancel live
    expect(page.get_by_test_id("cancel")).to_be_enabled()
    expect(page.get_by_test_id("start")).to_be_disabled()
    expect(page.locator('[name="slices"]')).to_be_disabled()
    expect(page.get_by_test_id("count")).to_have_text("5 / 5")
    expect(page.get_by_test_id("outcome")).to_contain_text("completed")
    expect(page.get_by_test_id("cancel")).to_be_disabled()
    assert page.locator("#bar > div").evaluate("e => e.style.width") == "100%"
    assert page.errors == []


def test_cancel_a_stack_and_see_the_rail_return(server: Any, page_for: Any) -> None:
    base, machine = server
    page = page_for(TOUCH)
    page.goto(base + "/")
    wait_idle(page)
    fill_stack_form(page, slices=30, step_um=100, settle_s=0.4, start_um=800)
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"^[3-9] / 30$|^[12]\d / 30$"))
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("outcome")).to_contain_text("cancelled")
    expect(page.get_by_test_id("position")).to_have_text("800.0 µm")
    assert machine.sequencer.status().position == pytest.approx(800)
    assert page.errors == []


def test_open_merge_and_delete_a_result_in_the_gallery(server: Any, page_for: Any) -> None:
    base, machine = server
    page = page_for(TOUCH)
    run_stack_in_ui(page, base, slices=4)
    expect(page.get_by_test_id("outcome")).to_contain_text("completed")  # the run has ended, not just shot
    sid = Path(machine.sequencer.status().folder).relative_to(machine.config.output.root).as_posix()
    page.locator("nav.nav").get_by_role("link", name="Gallery").click()
    card = page.locator(f'.card[data-id="{sid}"]')  # this run's card, whatever else the gallery holds
    expect(card).to_contain_text("completed")
    expect(card).to_contain_text("4 frames")
    card.click()
    expect(page.get_by_test_id("frames").locator("img")).to_have_count(4)
    wait_js(page, "document.querySelector('#result-img').naturalWidth > 0")
    page.get_by_test_id("merge").click()
    expect(page.get_by_test_id("merge-msg")).to_have_text("Merged.", timeout=90_000)
    expect(page.get_by_test_id("merge")).to_have_text("Re-merge")
    expect(page.locator("#result-img")).to_have_attribute("src", re.compile(r"merged\.jpg"))
    wait_js(page, "document.querySelector('#result-img').naturalWidth > 0")
    expect(page.locator("#downloads a")).to_have_count(4)
    page.locator("#show-depth").click()
    expect(page.locator("#result-img")).to_have_attribute("src", re.compile(r"depth\.png"))
    # delete asks first; cancelling keeps the stack
    url = page.url
    page.get_by_test_id("delete").click()
    page.locator("#confirm-no").click()
    assert page.url == url
    page.get_by_test_id("delete").click()
    page.locator("#confirm-yes").click()
    page.wait_for_url(base + "/gallery")
    assert page.errors == []


def test_a_reload_mid_stack_shows_the_running_stacks_settings(server: Any, page_for: Any) -> None:
    from rig.config import Profile

    base, machine = server
    machine.profiles.save("reload-test", Profile(slices=12, step_um=80, settle_s=0.2))
    page = page_for(TOUCH)
    page.goto(base + "/")
    wait_idle(page)
    page.get_by_test_id("profile-pick").select_option("reload-test")
    expect(page.locator('[name="slices"]')).to_have_value("12")
    fill_stack_form(page, slices=25, settle_s=5)  # edited after picking: not the saved profile
    page.locator('#stack-form [name="mode"]').select_option("preview-images")
    expect(page.get_by_test_id("plan")).to_contain_text("25 slices")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("cancel")).to_be_enabled()
    other = page_for(PHONE)  # another device, and the same page reloaded
    for p in (page, other):
        if p is page:
            p.reload()
        else:
            p.goto(base + "/")
        expect(p.get_by_test_id("cancel")).to_be_enabled()
        expect(p.locator('[name="slices"]')).to_have_value("25")
        expect(p.locator('[name="step_um"]')).to_have_value("80")
        expect(p.locator('[name="settle_s"]')).to_have_value("5")
        expect(p.locator('[name="mode"]')).to_have_value("preview-images")
        expect(p.get_by_test_id("profile-pick")).to_have_value("reload-test")
        expect(p.locator('[name="slices"]')).to_be_disabled()
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("outcome")).to_contain_text("cancelled")
    wait_idle(page)
    machine.profiles.delete("reload-test")
    assert page.errors == [] and other.errors == []


def test_a_command_answer_older_than_the_stream_does_not_undo_it(server: Any, page_for: Any) -> None:
    """POST /api/cancel can answer "settling" after the stream has said "idle" (the worker ends
    the run in between): the page keeps the newer status, by its ``rev``."""
    base, _ = server
    page = page_for(TOUCH)
    page.goto(base + "/")
    wait_idle(page)
    stale = "Object.assign({}, rig.status, {state: 'settling', phase: 'settling', busy: true, outcome: null, rev: %s})"
    for call in ("rig.apply({status: %s, run: null})", "rig.setStatus(%s)"):
        page.evaluate(call % (stale % "rig.status.rev - 1"))
        assert page.evaluate("rig.status.state") == "idle"
        assert page.get_by_test_id("state").text_content().startswith("idle")
        assert page.get_by_test_id("cancel").is_disabled()
    page.evaluate(f"rig.setStatus({stale % 'rig.status.rev + 1'})")  # a newer one is taken
    expect(page.get_by_test_id("state")).to_have_text("settling")
    assert page.errors == []


def test_main_flow_on_a_phone(server: Any, page_for: Any) -> None:
    base, _ = server
    page = page_for(PHONE)
    run_stack_in_ui(page, base, slices=3)
    nav = page.locator("nav.nav")
    box = nav.bounding_box()
    assert box and box["y"] > 700 and box["width"] == PHONE["width"]  # the bottom bar
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    nav.get_by_role("link", name="Gallery").click()
    page.locator(".card").first.click()
    expect(page.get_by_test_id("frames").locator("img")).to_have_count(3)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.errors == []


def test_live_view_and_jog(server: Any, page_for: Any) -> None:
    base, machine = server
    page = page_for(TOUCH)
    page.goto(base + "/live")
    wait_js(page, "document.querySelector('#live-img').naturalWidth > 0")
    page.goto(base + "/jog")
    wait_idle(page)
    expect(page.get_by_test_id("home")).to_have_count(0)  # the simulated rail has no home switch
    start = machine.sequencer.status().position
    page.get_by_role("button", name="+100", exact=True).click()
    expect(page.get_by_test_id("jog-position")).to_have_text(f"{start + 100:.1f} µm")
    page.get_by_test_id("set-start").click()
    page.get_by_role("button", name="+1 mm").click()
    expect(page.get_by_test_id("jog-position")).to_have_text(f"{start + 1100:.1f} µm")
    page.get_by_test_id("set-end").click()
    expect(page.get_by_test_id("jog-plan")).to_contain_text("11 slices")
    page.get_by_test_id("to-stack").click()
    page.wait_for_url(base + "/")
    expect(page.get_by_test_id("plan")).to_contain_text("slices")
    assert float(page.locator('[name="start_um"]').input_value()) == pytest.approx(start + 100)
    expect(page.get_by_test_id("plan")).to_contain_text("11 slices")
    assert page.errors == []


def test_profiles_page_saves_and_deletes(server: Any, page_for: Any) -> None:
    base, _ = server
    page = page_for(TOUCH)
    held: list[Any] = []  # the page's request for the list, held until a name has been typed
    page.route("**/api/profiles", lambda route: held.append(route))
    page.goto(base + "/profiles")
    while not held:  # the page has asked for the list
        page.wait_for_timeout(20)
    page.get_by_test_id("p-name").fill("coin 5x")  # typed while the page is still loading: kept
    held[0].continue_()
    page.unroute("**/api/profiles")
    wait_js(page, "document.querySelector('#plist').children.length > 0")  # the list is shown: loaded
    expect(page.get_by_test_id("p-name")).to_have_value("coin 5x")
    page.locator("#p-new").click()
    page.get_by_test_id("p-name").fill("coin 5x")
    page.locator('#p-form [data-field="slices"]').fill("12")
    page.get_by_test_id("p-save").click()
    expect(page.get_by_test_id("plist").get_by_role("button", name="coin 5x")).to_be_visible()
    page.goto(base + "/")
    page.get_by_test_id("profile-pick").select_option("coin 5x")
    expect(page.locator('[name="slices"]')).to_have_value("12")
    page.goto(base + "/profiles")
    page.get_by_test_id("plist").get_by_role("button", name="coin 5x").click()
    page.get_by_test_id("p-delete").click()
    page.locator("#confirm-yes").click()
    expect(page.get_by_test_id("plist").get_by_role("button", name="coin 5x")).to_have_count(0)
    assert page.errors == []


def _rig_serve(port: int, home: Path) -> Any:
    """`rig serve --sim` as its own process, as systemd runs it; returns once it listens."""
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "xdg"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rig.cli", "serve", "--sim", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    while "serving on" not in (lines[-1] if lines else ""):
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line, "rig serve exited early:\n" + "".join(lines)
        lines.append(line)
    return proc


def test_the_reconnect_overlay_while_rig_serve_restarts(page_for: Any, tmp_path: Path) -> None:
    """rig.service restarting: every page says so, then comes back by itself (a reload, as the
    new server has new code and a new CSRF secret)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    proc = _rig_serve(port, tmp_path)
    try:
        page = page_for(TOUCH)
        page.goto(base + "/jog")
        wait_idle(page)
        overlay = page.get_by_test_id("offline")
        expect(overlay).to_be_hidden()
        page.evaluate("window.servedByTheFirstServer = true")
        proc.terminate()  # SIGTERM, as systemctl restart sends
        assert proc.wait(60) == 0
        proc.communicate()  # close its pipe
        expect(overlay).to_be_visible()
        expect(overlay).to_contain_text("rig not running – reconnecting…")
        expect(page.get_by_test_id("state")).to_have_text("offline")
        proc = _rig_serve(port, tmp_path)  # the same port, a new process
        expect(overlay).to_be_hidden()
        wait_idle(page)
        assert page.evaluate("window.servedByTheFirstServer === undefined")  # reloaded
        page.get_by_role("button", name="+100", exact=True).click()  # commands work again (new CSRF token)
        expect(page.get_by_test_id("jog-position")).to_have_text(re.compile(r"^100\.0 µm$"))
        assert page.errors == []
    finally:
        proc.kill()
        proc.communicate(timeout=30)


PAGES = [
    ("stack", "/"),
    ("jog", "/jog"),
    ("live", "/live"),
    ("gallery", "/gallery"),
    ("profiles", "/profiles"),
    ("system", "/system"),
]


def test_screenshots(server: Any, page_for: Any, tmp_path: Path) -> None:
    """Every page at both sizes; written to $RIG_SCREENSHOTS (docs/screenshots) when set."""
    base, _ = server
    out = Path(os.environ.get("RIG_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    page = page_for(TOUCH)
    run_stack_in_ui(page, base, slices=8, step_um=200)
    page.goto(base + "/gallery")
    page.locator(".card").first.click()
    wait_idle(page)
    # an earlier test's merge may still be running: the server takes one merge at a time
    wait_js(page, "!rig.merge || rig.merge.state !== 'running'")
    page.get_by_test_id("merge").click()
    expect(page.get_by_test_id("merge-msg")).to_have_text("Merged.", timeout=90_000)
    page.evaluate("rig.api('POST', '/api/control', {action: 'release'})")
    for label, viewport in (("touch-800x480", TOUCH), ("phone-360x800", PHONE)):
        page = page_for(viewport)
        for name, path in PAGES:
            page.goto(base + path)
            wait_idle(page)
            if name == "live":
                wait_js(page, "document.querySelector('#live-img').naturalWidth > 0")
            if name == "gallery":
                wait_js(page, "[...document.querySelectorAll('.card img')].every((i) => i.naturalWidth > 0)")
            wait_animations(page)  # the progress-bar transition has finished before the picture
            page.screenshot(path=str(out / f"{label}-{name}.png"))
        page.goto(base + "/gallery")
        page.locator(".card").first.click()
        wait_js(page, "document.querySelector('#result-img').naturalWidth > 0")
        wait_animations(page)
        page.screenshot(path=str(out / f"{label}-stack-detail.png"))
        assert page.errors == []
    assert len(list(out.glob("*.png"))) >= 14
