"""Browser fixtures of the web tests: Debian's chromium through Playwright (never a
downloaded browser), opened on the test module's own ``live_server``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture()
def page(live_server: str) -> Iterator[Any]:
    """A zh-CN page in a fresh chromium context; each browser test module defines the
    ``live_server`` (the served app with its data) it runs against."""
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
        yield context.new_page()
        context.close()
        browser.close()


@pytest.fixture()
def no_job_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app without its background runner. Grid tests report on a 2025 Monday, and the
    runner's escalation sweep runs at today's time: it would escalate those events in the
    middle of a test, and the test's next action would meet a changed event (409)."""
    from zhili.settings import get_settings

    monkeypatch.setenv("ZHILI_JOB_WORKERS", "0")
    get_settings.cache_clear()
