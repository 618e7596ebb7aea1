"""Trained models kept for reuse: a scheduled rerun skips u sampling and EM when nothing
the model depends on changed.

What m and u depend on: the rule set (comparisons, levels, blocking, training — its text),
the mode, the engine, and the columns compared — their names, their types (a birth date
that turns from text into a date is compared differently) and whether the ID number came
masked (then m is learnt by EM, not from shared IDs). Those make the **fingerprint**; the
rows themselves do not (a new version of a register has more deaths, not other
comparisons). Models are kept per job family — one organization's inputs and rule set —
so nothing learnt from one organization's grants serves another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.apps.verify.linker import LinkResult, Trained
from zhili.apps.verify.schedule_models import TrainedModel
from zhili.clock import utcnow

__all__ = ["find", "fingerprint", "keep"]


def fingerprint(
    rules_text: str,
    link_type: str,
    engine: str,
    inputs: Sequence[tuple[pa.Schema, Sequence[str], Sequence[str]]],
) -> str:
    """SHA-256 of what a model depends on; ``inputs``: per side (roster, then the
    reference), its schema, the columns the rule set reads of it, and the masked items.

    Example: the same rule set over ``birth_date: string`` and ``birth_date: date32``
    gives two fingerprints.
    """
    sides: list[Any] = []
    for schema, columns, masked in inputs:
        types = [[name, str(schema.field(name).type)] for name in columns]
        sides.append({"columns": types, "masked": sorted(set(masked) & set(columns))})
    key = json.dumps([rules_text, link_type, engine, sides], ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()


def _row(session: Session, family: str, label: str, key: str) -> TrainedModel | None:
    return session.scalar(
        select(TrainedModel).where(
            TrainedModel.family == family,
            TrainedModel.label == label,
            TrainedModel.fingerprint == key,
        )
    )


def find(session: Session, family: str, label: str, key: str) -> tuple[Trained, int] | None:
    """The family's model for ``label`` under fingerprint ``key`` and the job that
    trained it, or None (never trained, or trained on something else)."""
    row = _row(session, family, label, key)
    if row is None:
        return None
    return Trained(row.settings, row.m_source), row.job_id


def keep(
    session: Session, *, family: str, label: str, key: str, result: LinkResult, job_id: int
) -> None:
    """Keep (or replace) the model ``result`` was scored with as the family's model for
    ``label`` under ``key`` (in the caller's transaction: with the job's result)."""
    row = _row(session, family, label, key)
    if row is None:
        row = TrainedModel(family=family, label=label, fingerprint=key)
        session.add(row)
    row.settings, row.m_source, row.job_id = result.model, result.m_source, job_id
    row.created_at = utcnow()
