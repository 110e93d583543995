"""Browser tests for framing and planning a stack (issue 13): the Stack page's fields, the
focusing screen, the range finder. Debian's chromium through Playwright, as tests/test_browser.py."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.test_browser import TOUCH, browser, expect, page_for, server, wait_idle  # noqa: F401

pytestmark = [pytest.mark.browser]


def test_values_typed_while_the_stack_page_loads_are_kept(server: Any, page_for: Any) -> None:  # noqa: F811
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
