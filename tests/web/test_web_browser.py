"""A person's path through the UI in Debian's chromium (Playwright, never a downloaded
browser): log in, land on home with the city map drawn, switch to English, create a token.
Screenshots go to test-artifacts/ for people to look at."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium not installed"),
]


@pytest.fixture()
def live_server(live_url: str, world) -> str:
    """The served app with two district polygons to draw and an admin to log in."""
    from zhili.identity.orgs import OrgSpec, upsert_org

    with world.db.session() as s:
        for i, (code, name) in enumerate([("D11", "和平区"), ("D12", "河西区")]):
            x = 117.0 + i * 0.1
            ring = [[x, 39.0], [x + 0.1, 39.0], [x + 0.1, 39.1], [x, 39.1], [x, 39.0]]
            upsert_org(
                s,
                OrgSpec(code, name, "district", "government", "CITY",
                        geometry={"type": "Polygon", "coordinates": [ring]}),
            )  # fmt: skip
    world.user("admin", "BUREAU", "platform_admin")
    return live_url


@pytest.fixture()
def page(live_server: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        yield pg
        context.close()
        browser.close()


def test_login_home_map_language_and_token(page, live_server: str) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(live_server + "/")
    expect(page).to_have_url(live_server + "/login?next=/")
    expect(page.locator("h1")).to_have_text("登录")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    expect(page.locator(".alert")).to_contain_text("用户名或密码错误")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("button[type=submit]")
    expect(page).to_have_url(live_server + "/")
    expect(page.locator("h1")).to_contain_text("欢迎")
    # ECharts drew the districts from /api/v1/orgs/geojson into a canvas.
    expect(page.locator("#city-map[data-rendered=true] canvas")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "home-zh.png"), full_page=True)

    page.click("a.lang")
    expect(page.locator("nav.main")).to_contain_text("Organizations")
    page.goto(live_server + "/account")
    page.fill("input[name=name]", "nightly-export")
    page.click("form.token-form button[type=submit]")
    secret = page.locator("#new-token").inner_text()
    assert secret.startswith("zhl_")
    page.screenshot(path=str(ARTIFACTS / "account-en.png"), full_page=True)
    page.goto(live_server + "/account")
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.locator("table")).to_contain_text("nightly-export")
