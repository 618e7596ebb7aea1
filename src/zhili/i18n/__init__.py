"""Message catalogs (zh-CN first, English second) and the translate function.

Catalogs are flat JSON files ``<locale>.json`` mapping a message id to text with
``{placeholder}`` fields. A test checks that both catalogs hold the same ids and that
every id used by templates and errors exists.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"
_DIR = Path(__file__).parent


@lru_cache(maxsize=len(LOCALES))
def catalog(locale: str) -> dict[str, str]:
    """The messages of ``locale`` (an unknown locale falls back to the default)."""
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    data: dict[str, str] = json.loads((_DIR / f"{locale}.json").read_text(encoding="utf-8"))
    return data


def translate(key: str, locale: str | None = None, /, **params: Any) -> str:
    """Text for ``key`` in ``locale``; the key itself when no catalog has it."""
    text = catalog(locale or DEFAULT_LOCALE).get(key)
    if text is None:
        text = catalog("en").get(key, key)
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def negotiate(accept_language: str | None, cookie: str | None) -> str:
    """Pick the UI locale: an explicit cookie wins, then Accept-Language, then zh-CN."""
    if cookie in LOCALES:
        return cookie
    if accept_language:
        for part in accept_language.split(","):
            tag = part.split(";")[0].strip().lower()
            if tag.startswith("zh"):
                return "zh-CN"
            if tag.startswith("en"):
                return "en"
    return DEFAULT_LOCALE
