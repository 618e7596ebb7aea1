"""Locale negotiation and message lookup."""

from __future__ import annotations

import pytest

from zhili.errors import NotFound
from zhili.i18n import negotiate, translate


@pytest.mark.parametrize(
    ("accept", "cookie", "expected"),
    [
        (None, None, "zh-CN"),
        ("en-US,en;q=0.9", None, "en"),
        ("zh-TW,zh;q=0.9,en;q=0.5", None, "zh-CN"),
        ("fr-FR,en;q=0.5", None, "en"),
        ("en", "zh-CN", "zh-CN"),
        ("zh", "en", "en"),
        ("de", "xx", "zh-CN"),
    ],
)
def test_negotiate(accept: str | None, cookie: str | None, expected: str) -> None:
    assert negotiate(accept, cookie) == expected


def test_translate_fills_placeholders_and_falls_back() -> None:
    assert translate("home.welcome", "en", name="Li") == "Welcome, Li"
    assert translate("home.welcome", "zh-CN", name="李") == "欢迎，李"
    assert translate("no.such.key", "en") == "no.such.key"


def test_error_messages_in_both_languages() -> None:
    exc = NotFound("identity.user_not_found", "no user named {username}", username="wang")
    assert exc.message("en") == "No user named wang."
    assert exc.message("zh-CN") == "用户 wang 不存在。"
    raw = NotFound("not.catalogued", "missing {thing}", thing="x")
    assert raw.message("en") == "missing x"
