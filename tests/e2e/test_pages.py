"""Every page of the navigation, in a real browser: it loads, shows no exception, draws its main chart."""

from __future__ import annotations

import pytest

from pages._labs import LABS
from tests.e2e.conftest import screenshot, wait_for_app


def test_home_has_one_navigation_and_links_every_lab(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    assert page.get_by_test_id("stSidebarNav").count() == 1, "the sidebar must show exactly one navigation"
    assert page.get_by_test_id("stException").count() == 0
    nav_text = page.get_by_test_id("stSidebarNav").inner_text()
    for lab in LABS:
        assert lab.title in nav_text
    screenshot(page, "home")


@pytest.mark.parametrize("lab", LABS, ids=[lab.key for lab in LABS])
def test_lab_page_renders(page, app_url, lab):
    page.goto(f"{app_url}/{lab.key}")
    wait_for_app(page)
    page.get_by_test_id("stPlotlyChart").first.wait_for(state="visible", timeout=60_000)
    page.wait_for_timeout(1500)  # let plotly finish drawing before the screenshot
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()
    assert page.locator(".main-svg").count() > 0, "plotly drew no SVG"
    screenshot(page, lab.key)
