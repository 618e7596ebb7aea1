"""Masking of personal items for readers who are not meant to see people: keep the first
and last character, hide the rest (张三 → 张*, 11010519491231002X → 1****************X).
The exchange's per-grant masking rules (next issue) will generalise this."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from zhili.catalog.tableschema import personal_fields


def mask(value: Any) -> Any:
    if value is None:
        return None
    text = str(value)
    if len(text) <= 2:
        return text[:1] + "*"
    return text[:1] + "*" * (len(text) - 2) + text[-1:]


def mask_personal(rows: Iterable[dict[str, Any]], table_schema: dict[str, Any]) -> None:
    """Mask, in place, every personal or sensitive personal item of ``rows``."""
    hidden = set(personal_fields(table_schema))
    for row in rows:
        for name in hidden & row.keys():
            row[name] = mask(row[name])
