"""Real browser (issue 17): three specimens shot from the Stack page, found by name in the gallery,
and a crop drawn on one stack's merged preview."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.test_browser import (  # noqa: F401 - the module's fixtures
    TOUCH,
    browser,
    expect,
    fill_stack_form,
    page_for,
    pytestmark,
    server,
    wait_idle,
    wait_js,
)


def _shoot(page: Any, base: str, name: str) -> None:
    page.goto(base + "/")
    wait_idle(page)
    fill_stack_form(page, slices=3, step_um=50, settle_s=0.1)
    page.locator('[data-specimen="name"]').fill(name)
    page.locator('[data-specimen="session"]').fill("Browser drawer")
    expect(page.get_by_test_id("plan")).to_contain_text("3 slices")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("outcome")).to_contain_text("completed")
    wait_idle(page)


def test_three_specimens_found_by_name_and_one_cropped(server: Any, page_for: Any) -> None:  # noqa: F811
    base, machine = server
    page = page_for(TOUCH)
    for name in ("Lucanus cervus", "Cetonia aurata", "Lucanus tetraodon"):
        _shoot(page, base, name)
    page.goto(base + "/gallery")
    page.get_by_test_id("search").fill("cetonia")
    cards = page.locator(".card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Cetonia aurata")
    page.get_by_test_id("search").fill("lucanus")
    expect(cards).to_have_count(2)
    page.get_by_test_id("search").fill("")
    page.get_by_test_id("group").select_option("specimen")
    expect(page.locator("h3.group").first).to_have_text("Cetonia aurata")
    page.get_by_test_id("search").fill("cetonia")
    expect(cards).to_have_count(1)
    cards.first.click()
    wait_js(page, "document.querySelector('#result-img').naturalWidth > 0")
    page.get_by_test_id("crop").click()
    box = page.get_by_test_id("result-img").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.25)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.75, steps=5)
    page.mouse.up()
    page.get_by_test_id("crop-apply").click()
    expect(page.get_by_test_id("crop-note")).to_contain_text("crop 160×120")
    manifests = [json.loads(p.read_text()) for p in Path(machine.config.output.root).rglob("stack.json")]
    cetonia = [m for m in manifests if (m.get("specimen") or {}).get("name") == "Cetonia aurata"]
    assert [m["crop"] for m in cetonia] == [[80, 60, 160, 120]]
    assert cetonia[0]["specimen"]["session"] == "Browser drawer"
    expect(page.get_by_test_id("detail-specimen-name")).to_have_value("Cetonia aurata")
    page.locator('#specimen-form [data-specimen="catalogue_number"]').fill("NHM-COL 7")
    page.get_by_test_id("specimen-save").click()
    page.goto(base + "/gallery")
    page.get_by_test_id("search").fill("NHM-COL 7")
    expect(cards).to_have_count(1)
    expect(cards.first).to_contain_text("Cetonia aurata")
    assert page.errors == []
