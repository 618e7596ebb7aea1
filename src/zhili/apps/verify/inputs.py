"""Checking a verification job's inputs before anything is queued.

A job that fails after an hour because the roster lacks a column wastes the hour and a
reference's daily quota; so everything that can be known up front is checked when the
job is created, each with its own code: the rule set parses; every column it reads exists
in the roster's and each reference's catalog items (`verify.missing_column`) and is
delivered to the job's organization (the door's 403 — no grant, a suspended grant, an item
outside the grant); no input is empty (`verify.empty_resource`); keys are present and
unique (`verify.missing_ids`, `verify.duplicate_ids`, counted by an aggregate query through
the door); a grant's row quota leaves room to read each input whole
(`exchange.read_over_quota`); a money column exists and holds numbers.

The door is opened here only to *decide*; rows are read by the job itself, through
`zhili.exchange.table_reads.read_table`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.apps.verify.files import read_table
from zhili.apps.verify.prepare import check_input
from zhili.apps.verify.rules import check_columns
from zhili.apps.verify.spec import SIDES, RuleSet
from zhili.catalog.models import LakeVersion, Resource
from zhili.errors import InvalidInput
from zhili.exchange import door, table_reads
from zhili.query.sql import quote_ident

__all__ = [
    "READ_ACTION",
    "Input",
    "check_file_roster",
    "check_resource",
    "distinct",
    "side_columns",
]

#: The audit action of a verification job's reads through the door.
READ_ACTION = "exchange.verify_read"
#: Table Schema types a money column may have.
MONEY_TYPES = ("number", "integer")
#: Repeated keys listed at most (the error names the first).
MAX_REPEATED = 1000


@dataclass(frozen=True)
class Input:
    """One input as checked: its resource code, the columns the job will read, and the
    items the reader's grant masks (the job never unmasks them)."""

    code: str
    columns: tuple[str, ...]
    masked: tuple[str, ...] = ()


def side_columns(rules: RuleSet, side: str) -> tuple[str, ...]:
    """The columns of one input (``left`` roster, ``right`` reference) the rule set reads,
    key first, each once."""
    pick = (lambda c: c.left) if side == "left" else (lambda c: c.right)
    names = [pick(rules.unique_id)]
    if rules.id_number:
        names.append(pick(rules.id_number))
    names += [pick(f) for f in rules.fields]
    return tuple(dict.fromkeys(names))


def _side_params(side: str) -> dict[str, str]:
    return {"side": "roster" if side == "left" else "reference", "side_zh": SIDES[side]}


def _money_check(schema_types: dict[str, str], money: str) -> None:
    if schema_types.get(money) not in MONEY_TYPES:
        raise InvalidInput(
            "verify.bad_money_column",
            "The roster has no numeric column {column} to total.",
            field="money_column",
            column=money,
        )


def check_resource(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    code: str,
    rules: RuleSet,
    side: str,
    money: str | None = None,
) -> Input:
    """Decide that ``actor`` may read what the job needs of resource ``code`` as the
    roster (``side`` ``left``) or a reference (``right``), and that it is usable."""
    access = door.open_access(session, actor, code, READ_ACTION)
    resource = access.resource
    items = {f["name"]: f.get("type", "string") for f in resource.table_schema["fields"]}
    check_columns(rules, list(items), side)
    columns = side_columns(rules, side)
    if money is not None:
        _money_check(items, money)
        columns = (*columns, money) if money not in columns else columns
    for name in columns:
        if name not in access.fields:
            raise door.outside_scope(access, name)
    _check_not_empty(session, resource, side)
    key = rules.unique_id.left if side == "left" else rules.unique_id.right
    records = _check_keys(session, actor, home, code, key, side)
    table_reads.refuse_over_quota(
        session, actor, access, records, access.rows_left(session), READ_ACTION
    )
    masked = tuple(n for n, _ in access.scope.masks) if access.scope else ()
    return Input(code, columns, tuple(n for n in masked if n in columns))


def _check_not_empty(session: Session, resource: Resource, side: str) -> None:
    rows = None
    if resource.current_version is not None:
        rows = session.scalar(
            select(LakeVersion.total_rows).where(
                LakeVersion.resource_id == resource.id,
                LakeVersion.version == resource.current_version,
            )
        )
    if not rows:
        raise InvalidInput(
            "verify.empty_resource",
            "The {side} {code} has no records.",
            code=resource.code,
            **_side_params(side),
        )


def _check_keys(session: Session, actor: Actor, home: Path, code: str, key: str, side: str) -> int:
    """Missing and repeated keys, counted through the door (guarded SQL, scoped to what the
    actor may read and audited as ``exchange.sql``): one row comes back, not the roster.
    Returns how many records the actor may read."""
    table, column = quote_ident(code), quote_ident(key)
    counts = door.run_sql(
        session,
        actor,
        home=home,
        sql=f"SELECT count(*) AS records, count({column}) AS keyed, "
        f"count(DISTINCT {column}) AS distinct_keys FROM {table}",
    ).rows[0]
    if counts["records"] == 0:
        raise InvalidInput(
            "verify.empty_resource", "The {side} {code} has no records.", code=code,
            **_side_params(side),
        )  # fmt: skip
    if counts["keyed"] < counts["records"]:
        raise InvalidInput(
            "verify.missing_ids",
            "The {side} has {count} records without a value in its key column {column}.",
            count=counts["records"] - counts["keyed"],
            column=key,
            **_side_params(side),
        )
    if counts["distinct_keys"] == counts["keyed"]:
        return int(counts["records"])
    repeated = door.run_sql(
        session,
        actor,
        home=home,
        sql=f"SELECT CAST({column} AS VARCHAR) AS value, count(*) AS n FROM {table} "
        f"GROUP BY {column} HAVING count(*) > 1 ORDER BY n DESC, value",
        max_rows=MAX_REPEATED,
    ).rows
    raise _duplicates(key, str(repeated[0]["value"]), repeated[0]["n"], len(repeated), side)


def _duplicates(column: str, value: str, count: int, duplicates: int, side: str) -> InvalidInput:
    return InvalidInput(
        "verify.duplicate_ids",
        "The {side}'s key column {column} repeats {value} ({count} times); "
        "{duplicates} keys are not unique.",
        column=column,
        value=value,
        count=count,
        duplicates=duplicates,
        **_side_params(side),
    )


def check_file_roster(
    path: Path, rules: RuleSet, money: str | None = None
) -> tuple[pa.Table, tuple[str, ...]]:
    """An uploaded roster, read and checked whole (it is the job organization's own file,
    not a lake resource): columns, empty, keys, the money column."""
    table = read_table(path)
    check_input(table, rules, "left")
    columns = side_columns(rules, "left")
    if money is not None:
        field = table.schema.field(money) if money in table.column_names else None
        numeric = field is not None and (
            pa.types.is_integer(field.type)
            or pa.types.is_floating(field.type)
            or pa.types.is_decimal(field.type)
            or _numeric_text(table.column(money))
        )
        if not numeric:
            raise InvalidInput(
                "verify.bad_money_column",
                "The roster has no numeric column {column} to total.",
                field="money_column",
                column=money,
            )
        columns = (*columns, money)
    return table, columns


def _numeric_text(values: pa.ChunkedArray) -> bool:
    """Text that reads as numbers (a CSV's columns are all text)."""
    try:
        values.cast(pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def distinct(codes: Sequence[str]) -> tuple[str, ...]:
    """Codes in the order given, each once."""
    return tuple(dict.fromkeys(c.strip() for c in codes if c.strip()))
