"""The grid report form on a phone in Debian's chromium (Playwright, never a downloaded
browser): a resident without an account picks the category (its questions swap in),
uses their location, then taps the spot on the map, sends the report and lands on the
confirmation with the follow code; the street's commander finds it on the board.
Screenshots go to test-artifacts/ for people to look at."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from tests.apps.grid.event_city import CATEGORY, build
from tests.apps.grid.grid_city import PASSWORD, piece

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.usefixtures("no_job_runner"),
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium not installed"),
]


@pytest.fixture()
def live_server(live_url: str, db) -> str:
    build(db)
    return live_url


def test_report_on_a_phone_then_the_board_shows_it(page, live_server: str) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    p = piece()
    lon, lat = p.grids[0].centroid
    page.set_viewport_size(PHONE)
    page.context.grant_permissions(["geolocation"], origin=live_server)
    page.context.set_geolocation({"longitude": p.grids[1].centroid[0], "latitude": lat})

    page.goto(live_server + "/grid/report")
    page.select_option("#category", CATEGORY)
    lanes = page.locator("#attr-fields input[name='attribute[lanes]']")  # swapped in by htmx
    expect(lanes).to_be_visible()
    lanes.fill("1")
    page.fill("#description", "路口堆满了砂石")
    page.click("#use-location")
    expect(page.locator("#lon")).to_have_value(re.compile(r"^\d+\.\d{6}$"))
    expect(page.locator("#report-map[data-rendered=true] canvas")).to_have_count(1)

    # tap the first grid's centre on the map: where ECharts draws that coordinate
    x, y = page.evaluate(
        "([lon, lat]) => echarts.getInstanceByDom(document.getElementById('report-map'))"
        ".convertToPixel({geoIndex: 0}, [lon, lat])",
        [lon, lat],
    )
    box = page.locator("#report-map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    expect(page.locator("#lon")).to_have_value(re.compile(rf"^{int(lon)}\."))
    assert abs(float(page.locator("#lon").input_value()) - lon) < 0.002
    assert abs(float(page.locator("#lat").input_value()) - lat) < 0.002
    expect(page.locator("#spot-chain")).to_contain_text(p.street.name)
    page.screenshot(path=str(ARTIFACTS / "grid-report-phone-zh.png"), full_page=True)

    page.click("#report-submit")
    expect(page.locator("#reported")).to_be_visible()
    expect(page.locator("#follow-token")).to_have_text(re.compile(r"^\S{20,}$"))
    event_id = re.search(r"#(\d+)", page.locator("p.notice").inner_text()).group(1)
    page.screenshot(path=str(ARTIFACTS / "grid-reported-phone-zh.png"), full_page=True)

    page.goto(f"{live_server}/login?next=/grid/board")
    page.fill("input[name=username]", "cmd")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(live_server + "/grid/board")
    row = page.locator(f"article[data-event='{event_id}']")
    expect(row).to_contain_text("路口堆满了砂石")
    expect(row.locator("form[data-action=register] button")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "grid-board-phone-zh.png"), full_page=True)

    # register it from the board; then the event's point, the map with its heat toggle
    # and the statistics charts all draw (desktop size)
    row.locator("form[data-action=register] button").click()
    expect(page).to_have_url(live_server + "/grid/board")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server}/grid/events/{event_id}")
    expect(page.locator("#event-state")).to_have_attribute("data-state", "registered")
    expect(page.locator("#event-map[data-rendered=true] canvas")).to_have_count(1)
    expect(page.locator("form[data-action=dispatch] input[value=CGW]")).to_be_checked()
    page.goto(f"{live_server}/grid/map")
    expect(page.locator("#events-map[data-rendered=true]")).to_have_attribute("data-points", "1")
    page.check("#heat-toggle")
    page.screenshot(path=str(ARTIFACTS / "grid-map-heat-zh.png"), full_page=True)
    page.goto(f"{live_server}/grid/stats")
    for chart in ("chart-day", "chart-stage", "chart-level", "chart-area", "stats-heat"):
        expect(page.locator(f"#{chart}[data-rendered=true] canvas")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "grid-stats-zh.png"), full_page=True)
