"""Data quality of a table version, and freshness against its update cycle.

Per field, computed by DuckDB over the version's Parquet files in one query:

* completeness — share of rows where the field is not null;
* validity — share of non-null values that satisfy the field's format (e.g. cn-id),
  pattern, enum, bounds and lengths. Ingest rejects a file with any invalid value, so
  for a freshly committed version this is 1.0; it drops when a schema's constraints are
  tightened later and old data no longer fits. None when the field has no such rule;
* duplicate rate — share of non-null values that repeat another row's value
  (``1 - distinct / non-null``).

Freshness compares the last commit's age with the update cycle of the catalog entry
(更新周期): a ``monthly`` resource not refreshed for 40 days is overdue.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa

from zhili.errors import InvalidInput
from zhili.lake.schema import TableSpec, parse_table_schema
from zhili.lake.sqlgen import IncompatibleType, Plan, compile_field, lit
from zhili.lake.table import LakeTable
from zhili.lake.validate import connect, one

#: Days after the last commit when a resource of each update cycle becomes overdue.
LIMIT_DAYS: dict[str, int | None] = {
    "realtime": 1,
    "daily": 2,
    "weekly": 8,
    "monthly": 40,
    "quarterly": 100,
    "yearly": 380,
    "irregular": None,
}
CYCLE_ALIASES = {
    "实时": "realtime",
    "每日": "daily",
    "每天": "daily",
    "每周": "weekly",
    "每月": "monthly",
    "每季度": "quarterly",
    "每季": "quarterly",
    "每年": "yearly",
    "annually": "yearly",
    "annual": "yearly",
    "不定期": "irregular",
}


@dataclass(frozen=True)
class FieldQuality:
    name: str
    completeness: float | None
    validity: float | None
    duplicate_rate: float | None


@dataclass(frozen=True)
class Quality:
    """Quality of one version; overall figures are over all fields' values."""

    version: int
    rows: int
    completeness: float | None
    validity: float | None
    fields: tuple[FieldQuality, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def measure(
    table: LakeTable,
    table_schema: Mapping[str, Any] | TableSpec,
    version: int | None = None,
) -> Quality:
    """Quality of ``version`` (default latest) under ``table_schema``'s rules.

    Fields of the schema that the version does not hold (or holds with another type)
    are left out.
    """
    spec = parse_table_schema(table_schema)
    delta = table.delta(version)
    stored = pa.schema(delta.schema().to_arrow())
    columns = []
    for i, field in enumerate(spec.fields):
        if field.name not in stored.names:
            continue
        try:
            columns.append(compile_field(i, field, field.name, stored.field(field.name).type))
        except IncompatibleType:
            continue
    plan = Plan(spec, tuple(columns))
    uris = list(delta.file_uris())
    if not uris or not columns:
        return Quality(int(delta.version()), 0, None, None, ())
    parts = ["count(*)"]
    ruled = []
    for col in columns:
        i = col.index
        rules = [k.sql for k in col.checks if k.rule != "required"]
        ruled.append(bool(rules))
        bad = f"r{i} IS NOT NULL AND ({' OR '.join(rules)})" if rules else "false"
        parts += [f"count(r{i})", f"count(DISTINCT r{i})", f"count_if({bad})"]
    files = f"read_parquet([{', '.join(lit(u) for u in uris)}])"
    layers = plan.layers(files)
    con = connect()
    try:
        row = one(con, f"SELECT {', '.join(parts)} FROM {layers}")
    finally:
        con.close()
    rows = int(row[0])
    fields = []
    filled_total = checked_total = bad_total = 0
    for n, (col, has_rules) in enumerate(zip(columns, ruled, strict=True)):
        filled, distinct, bad = (int(x) for x in row[1 + 3 * n : 4 + 3 * n])
        filled_total += filled
        if has_rules:
            checked_total += filled
            bad_total += bad
        fields.append(
            FieldQuality(
                col.spec.name,
                _share(filled, rows),
                _share(filled - bad, filled) if has_rules else None,
                _share(filled - distinct, filled),
            )
        )
    return Quality(
        version=int(delta.version()),
        rows=rows,
        completeness=_share(filled_total, rows * len(columns)),
        validity=_share(checked_total - bad_total, checked_total),
        fields=tuple(fields),
    )


def freshness(
    update_cycle: str, last_commit: dt.datetime, now: dt.datetime | None = None
) -> dict[str, Any]:
    """Whether a resource is overdue: ``{"overdue", "age_days", "limit_days"}``.

    ``update_cycle`` is one of `LIMIT_DAYS` (or its Chinese name, e.g. 每月); an
    ``irregular`` resource is never overdue. Times must be timezone-aware.
    """
    cycle = CYCLE_ALIASES.get(update_cycle.strip(), update_cycle.strip().lower())
    if cycle not in LIMIT_DAYS:
        raise InvalidInput(
            "lake.bad_update_cycle",
            "Unknown update cycle {cycle}; use one of {valid}.",
            cycle=update_cycle,
            valid=", ".join(LIMIT_DAYS),
        )
    now = now or dt.datetime.now(dt.UTC)
    if last_commit.tzinfo is None or now.tzinfo is None:
        raise InvalidInput(
            "lake.naive_datetime", "A time zone is required for {value}.", value=str(last_commit)
        )
    age = (now - last_commit).total_seconds() / 86_400
    limit = LIMIT_DAYS[cycle]
    return {
        "overdue": limit is not None and age >= limit,
        "age_days": round(age, 3),
        "limit_days": limit,
    }
