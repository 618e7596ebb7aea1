"""A person's path through the UI in Debian's chromium (Playwright, never a downloaded
browser): log in, land on home with the city map drawn, switch to English, create a token.
Screenshots go to test-artifacts/ for people to look at."""

from __future__ import annotations

import re
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


def test_steward_uploads_and_follows_the_job(page, live_server: str, world, tmp_path) -> None:
    """The upload form queues a job; the page follows it, then shows the new version."""
    from playwright.sync_api import expect

    from zhili.access import system_actor
    from zhili.catalog.service import ResourceSpec, create_resource

    schema = {
        "fields": [{"name": "id", "type": "integer"}, {"name": "name", "type": "string"}],
        "primaryKey": ["id"],
    }
    with world.db.session() as s:
        create_resource(s, system_actor(), ResourceSpec(
            code="2-09-001-000001", name="测试资源", provider_code="PSB",
            classification="theme", table_schema=schema, sharing_type="unconditional",
            open_type="closed", update_cycle="daily", grade="general",
        ))  # fmt: skip
    world.user("steward", "PSB", "data_steward")
    data = tmp_path / "rows.csv"
    data.write_text("id,name\n" + "".join(f"{i},名{i}\n" for i in range(50_000)), "utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n1,a\nx,b\n", "utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(live_server + "/login?next=/catalog/2-09-001-000001")
    page.fill("input[name=username]", "steward")
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("button[type=submit]")
    page.set_input_files("#upload-form input[type=file]", str(data))
    page.click("#upload-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"\?job="))
    expect(page.locator('#job-panel[data-status="succeeded"]')).to_be_visible(timeout=60_000)
    expect(page.locator("#job-panel .notice")).to_contain_text("50000")
    page.screenshot(path=str(ARTIFACTS / "upload-job-zh.png"), full_page=True)
    page.set_input_files("#upload-form input[type=file]", str(bad))
    page.click("#upload-form button[type=submit]")
    expect(page.locator('#job-panel[data-status="failed"]')).to_be_visible(timeout=60_000)
    expect(page.locator("#job-panel table.report")).to_contain_text("第 3 行")
    page.screenshot(path=str(ARTIFACTS / "upload-report-zh.png"), full_page=True)


def test_analyst_applies_and_approver_approves(
    page, live_server: str, world, settings, seeded_calendar, tmp_path
) -> None:
    """The exchange in a browser: the CAB analyst applies from the resource page, the PSB
    approver approves on the request page, and the grant shows today's usage gauges."""
    from playwright.sync_api import expect

    from zhili.access import system_actor
    from zhili.catalog.loading import load_file
    from zhili.catalog.service import ResourceSpec, create_resource

    code = "3-03-001-000001"
    schema = {
        "fields": [
            {"name": "id_number", "title": "公民身份号码", "type": "string", "format": "cn-id",
             "x-sensitivity": "sensitive_personal"},
            {"name": "name", "title": "姓名", "type": "string", "x-sensitivity": "personal"},
            {"name": "death_date", "title": "死亡日期", "type": "date"},
        ],
        "primaryKey": ["id_number"],
    }  # fmt: skip
    rows = tmp_path / "deaths.csv"
    rows.write_text(
        "id_number,name,death_date\n11010519491231002X,张三,2026-10-01\n"
        "120101199001010113,李四,2026-10-02\n120101195001010019,王五,2026-10-03\n",
        "utf-8",
    )
    world.org("CAB", "民政局", "city", "department", "CITY")
    world.user("cab.analyst", "CAB", "analyst")
    world.user("psb.approver", "PSB", "approver")
    with world.db.session() as s:
        create_resource(s, system_actor(), ResourceSpec(
            code=code, name="死亡医学证明信息", provider_code="PSB",
            classification="department", table_schema=schema, sharing_type="conditional",
            sharing_conditions="社保待遇核查", open_type="closed", update_cycle="monthly",
            grade="important",
        ))  # fmt: skip
        load_file(s, system_actor(), home=settings.home, code=code, path=rows, filename="d.csv")
    ARTIFACTS.mkdir(exist_ok=True)

    def login(username: str, target: str) -> None:
        page.context.clear_cookies()
        page.goto(f"{live_server}/login?next={target}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "correct-horse-battery")
        page.click("button[type=submit]")
        expect(page).to_have_url(live_server + target)

    login("cab.analyst", f"/catalog/{code}")
    page.click("#apply-button")
    expect(page.locator("h1")).to_contain_text("申请使用数据")
    form = page.locator("#apply-form")
    form.locator("input[name=system]").fill("养老金发放系统")
    form.locator("textarea[name=purpose]").fill("停发已故人员养老金")
    form.locator("textarea[name=legal_basis]").fill("《社会保险法》")
    form.locator("input[name=fields][value=id_number]").check()
    form.locator("input[name=fields][value=death_date]").check()
    form.locator("input[name=row_filter]").fill("death_date <= '2026-10-02'")
    page.screenshot(path=str(ARTIFACTS / "exchange-apply-zh.png"), full_page=True)
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/exchange/requests/\d+$"))
    expect(page.locator("h1 .tag")).to_have_text("审核中")
    request_path = page.url.removeprefix(live_server)

    login("psb.approver", request_path)
    approve = page.locator("#approve-form")
    expect(approve.locator("select[name=mask_rule]").first).to_have_value("id_number")
    approve.locator("input[name=calls_per_day]").fill("100")
    approve.locator("textarea[name=reason]").fill("同意，按最小必要提供")
    page.screenshot(path=str(ARTIFACTS / "exchange-review-zh.png"), full_page=True)
    page.click("#approve")
    expect(page.locator("h1 .tag")).to_have_text("生效中")
    expect(page.locator("ol.timeline")).to_contain_text("psb.approver")
    page.screenshot(path=str(ARTIFACTS / "exchange-request-zh.png"), full_page=True)
    page.goto(live_server + "/exchange/requests?side=provider&state=active")
    expect(page.locator("table.requests")).to_contain_text("民政局")
    page.screenshot(path=str(ARTIFACTS / "exchange-requests-zh.png"), full_page=True)
    page.go_back()

    page.locator("a[href^='/exchange/grants/']").first.click()
    expect(page.locator("#usage-chart[data-rendered=true] canvas")).to_have_count(1)
    page.screenshot(path=str(ARTIFACTS / "exchange-grant-zh.png"), full_page=True)
