"""Full-text search of the catalog in Chinese and English without a search server.

Text is cut into terms (jieba's search mode for Chinese — it also emits the shorter words
inside long ones, so 老年人 finds 老年 — and lower-cased words for Latin script); each
resource's terms are stored with a weight per field. A query matches resources that
contain every query term, ranked by the summed weights.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from zhili.catalog.models import Resource, ResourceTerm

WEIGHTS = {"code": 8, "name": 6, "name_en": 5, "tags": 4, "items": 2, "summary": 1}
_LATIN = re.compile(r"[0-9]+(?:-[0-9]+)+|[a-z0-9]+")  # resource codes stay whole
_CJK = re.compile(r"[\u3400-\u9fff]+")
STOP = {"的", "和", "与", "及", "信息", "数据", "the", "of", "and", "data", "a", "an"}


@lru_cache(maxsize=1)
def _jieba() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def terms(text: str | None) -> list[str]:
    """Search terms of ``text`` in order of appearance, without duplicates."""
    if not text:
        return []
    out: list[str] = []
    lowered = text.lower()
    for word in _LATIN.findall(lowered):
        out.append(word)
    for run in _CJK.findall(text):
        out.extend(w for w in _jieba().cut_for_search(run) if w.strip())
    seen: set[str] = set()
    result = []
    for t in out:
        if t in seen or (t in STOP and len(out) > 1):
            continue
        seen.add(t)
        result.append(t[:64])
    return result


def resource_terms(resource: Resource) -> dict[str, int]:
    """Each term of a resource with its highest field weight."""
    fields: dict[str, str | None] = {
        "code": resource.code,
        "name": resource.name,
        "name_en": resource.name_en,
        "tags": " ".join(resource.tags or []),
        "items": " ".join(
            f"{f.get('title', '')} {f['name'].replace('_', ' ')}"
            for f in resource.table_schema.get("fields", [])
        ),
        "summary": resource.summary,
    }
    weights: dict[str, int] = {}
    for name, text in fields.items():
        found = [text.lower()] if name == "code" and text else terms(text)
        for term in found:
            weights[term] = max(weights.get(term, 0), WEIGHTS[name])
    return weights


def index_resource(session: Session, resource: Resource) -> None:
    """(Re)write a resource's terms; called whenever its metadata changes."""
    session.execute(delete(ResourceTerm).where(ResourceTerm.resource_id == resource.id))
    session.add_all(
        ResourceTerm(resource_id=resource.id, term=t, weight=w)
        for t, w in resource_terms(resource).items()
    )


def matching(query: str) -> Select[Any] | None:
    """A (resource_id, score) selection for ``query``; None when it has no terms."""
    wanted = terms(query)
    if not wanted:
        return None
    return (
        select(ResourceTerm.resource_id, func.sum(ResourceTerm.weight).label("score"))
        .where(ResourceTerm.term.in_(wanted))
        .group_by(ResourceTerm.resource_id)
        .having(func.count(func.distinct(ResourceTerm.term)) == len(wanted))
    )
