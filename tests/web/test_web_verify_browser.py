"""Verification (比对核验) in Debian's chromium (Playwright, never a downloaded browser):
the HRSS analyst starts a job on the form, watches its progress reach done and the
charts drawn; two approvers decide a review item, the second approving the action.
Screenshots go to test-artifacts/ for people to look at."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps" / "verify"))
from verify_city import DEATHS, PENSIONS, RULES, build_city

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct-horse-battery"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian chromium not installed"),
]


@pytest.fixture()
def live_server(live_url: str, world, settings, seeded_calendar, tmp_path) -> str:
    build_city(world, settings, tmp_path)
    return live_url


def test_start_a_job_follow_it_and_review(page, live_server: str) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)

    def login(username: str, target: str) -> None:
        page.context.clear_cookies()
        page.goto(f"{live_server}/login?next={target}")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        expect(page).to_have_url(live_server + target)

    login("hrss.analyst", "/verify/scenarios")
    expect(page.locator("article.scenario")).to_have_count(3)
    page.screenshot(path=str(ARTIFACTS / "verify-scenarios-zh.png"), full_page=True)
    page.click("article[data-scenario=pension] a.button")
    expect(page.locator("#scenario-form select[name=roster]")).to_have_value(PENSIONS)
    page.screenshot(path=str(ARTIFACTS / "verify-scenario-zh.png"), full_page=True)
    page.goto(live_server + "/verify")
    expect(page.locator("nav.main a[href='/verify']")).to_have_text("比对核验")
    page.click("#new-job")
    form = page.locator("#verify-form")
    # the file input shows only for an uploaded roster, the text only for a pasted rule set
    expect(form.locator("input[type=file]")).to_be_hidden()
    expect(form.locator("textarea[name=rules_text]")).to_be_hidden()
    form.locator("select[name=roster]").select_option(PENSIONS)
    form.locator(f"input[name=references][value='{DEATHS}']").check()
    form.locator("select[name=rules]").select_option("custom")
    form.locator("textarea[name=rules_text]").fill(RULES)
    form.locator("input[name=money_column]").fill("monthly_pension")
    page.screenshot(path=str(ARTIFACTS / "verify-new-zh.png"), full_page=True)
    page.click("#start-job")
    expect(page).to_have_url(re.compile(r"/verify/jobs/\d+$"))
    job_path = page.url.removeprefix(live_server)
    # htmx polls the progress until the job is done, then the page reloads with the summary
    expect(page.locator('#verify-progress[data-state="done"]')).to_be_visible(timeout=90_000)
    expect(page.locator("#chart-tiers[data-rendered=true] canvas")).to_have_count(1)
    expect(page.locator("#chart-passes[data-rendered=true] canvas")).to_have_count(1)
    expect(page.locator("#download-csv")).to_have_attribute("href", re.compile("format=csv"))
    expect(page.locator("#id-problems")).to_contain_text("校验码错误")
    page.screenshot(path=str(ARTIFACTS / "verify-job-zh.png"), full_page=True)

    login("hrss.approver", job_path)
    page.click("#review-link")
    expect(page).to_have_url(re.compile(r"/review$"))
    page.screenshot(path=str(ARTIFACTS / "verify-review-zh.png"), full_page=True)
    page.locator("table.review-queue tbody a").first.click()
    expect(page.locator("#side-by-side")).to_be_visible()
    item_path = page.url.removeprefix(live_server)
    decision = page.locator("#decision-form")
    decision.locator("input[name=decision][value=confirm]").check()
    decision.locator("select[name=action]").select_option("stop_payment")
    page.screenshot(path=str(ARTIFACTS / "verify-item-zh.png"), full_page=True)
    page.click("#decide")
    expect(page.locator("#decided")).to_be_visible()
    expect(page.locator("#waiting")).to_contain_text("停发待遇")
    expect(page.locator("#decision-form")).to_have_count(0)

    login("hrss.approver2", item_path)
    expect(page.locator("#decision-form select[name=action]")).to_have_value("stop_payment")
    page.click("#decide")
    expect(page.locator("#item-state")).to_have_text("处置已批准")
    expect(page.locator("#decisions")).to_contain_text("hrss.approver2")
    page.screenshot(path=str(ARTIFACTS / "verify-item-approved-zh.png"), full_page=True)


@pytest.fixture()
def scenario_server(live_url: str, world, settings, seeded_calendar, tmp_path) -> str:
    from scenario_city import build_scenario_city

    build_scenario_city(world, settings, tmp_path)
    return live_url


@pytest.mark.slow
def test_a_pension_scenario_from_its_card(scenario_server: str) -> None:
    """The pension template with its inputs chosen for the user: outcomes charted."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_context(
            locale="zh-CN", viewport={"width": 1280, "height": 900}
        ).new_page()
        page.goto(f"{scenario_server}/login?next=/verify/scenarios")
        page.fill("input[name=username]", "hrss.analyst")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.click("article[data-scenario=pension] a.button")
        page.click("#start-scenario")
        expect(page).to_have_url(re.compile(r"/verify/jobs/\d+$"))
        expect(page.locator('#verify-progress[data-state="done"]')).to_be_visible(timeout=120_000)
        expect(page.locator("#chart-outcomes[data-rendered=true] canvas")).to_have_count(1)
        expect(page.locator("#outcomes-table")).to_contain_text("已死亡")
        page.screenshot(path=str(ARTIFACTS / "verify-scenario-job-zh.png"), full_page=True)
        browser.close()
