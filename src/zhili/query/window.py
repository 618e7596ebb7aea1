"""Windows for keyset pages: a bound on the leading sort key taken from row-group statistics.

A page sorted by the table's key reads fast ascending (the engine scans row groups in file
order and its top-N stops early) but slowly descending: the rows wanted are in the *last*
row groups, so every earlier one is scanned before the top-N settles. Parquet footers know
each row group's min and max, so we can find a bound ``b`` such that the rows between ``b``
and the cursor are at least as many as the page needs, and add ``key >= b`` (descending)
or ``key <= b`` (ascending). Only row groups that can hold such rows are read.

Correct by construction: every row outside the window sorts after every row inside it,
so if the window yields a full page, that page is the true one; if filters thin it out,
the engine widens the window (x16 each time) and finally drops it.

Only used when the leading key cannot be NULL, has statistics in every row group, is an
integer, text or date column, and the query has no ``eq``/``in`` filter on it (those are
already as selective as a window).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyarrow.types as pat

from zhili.query.coerce import is_text
from zhili.query.model import Query
from zhili.query.snapshot import SnapshotFiles

__all__ = ["RowGroup", "row_groups", "window_bounds"]

#: Below this many rows a window costs more than it saves.
MIN_ROWS = 200_000
#: Growth of the window after a thin page, and how many windows to try before none.
GROWTH = 16
ROUNDS = 3


@dataclass(frozen=True)
class RowGroup:
    low: Any
    high: Any
    rows: int


def _windowable(type_: pa.DataType) -> bool:
    return bool(pat.is_integer(type_) or is_text(type_) or pat.is_date32(type_))


@lru_cache(maxsize=256)
def _row_groups(uris: tuple[str, ...], column: str) -> tuple[RowGroup, ...] | None:
    out: list[RowGroup] = []
    for uri in uris:
        meta = pq.ParquetFile(uri).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        if column not in names:
            return None
        index = names.index(column)
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            stats = group.column(index).statistics
            if stats is None or not stats.has_min_max:
                return None
            out.append(RowGroup(stats.min, stats.max, group.num_rows))
    return tuple(out)


def row_groups(files: SnapshotFiles, column: str) -> tuple[RowGroup, ...] | None:
    """Min, max and row count of ``column`` in every row group (None when unknown)."""
    field = files.schema.field(column) if column in files.schema.names else None
    if field is None or not _windowable(field.type):
        return None
    groups = _row_groups(files.uris, column)
    if groups and pat.is_date32(field.type) and not isinstance(groups[0].low, dt.date):
        return None
    return groups


def _interval(query: Query, column: str, after: Any, desc: bool) -> tuple[Any, Any] | None:
    """The range of the leading key still to read: from filters and the cursor."""
    low: Any = None
    high: Any = None

    def lower(v: Any) -> None:
        nonlocal low
        low = v if low is None or v > low else low

    def upper(v: Any) -> None:
        nonlocal high
        high = v if high is None or v < high else high

    for f in query.filters:
        if f.field != column:
            continue
        if f.op in ("eq", "in"):
            return None
        if f.op in ("gt", "ge"):
            lower(f.value)
        elif f.op in ("lt", "le"):
            upper(f.value)
        elif f.op == "between":
            lower(f.value[0])
            upper(f.value[1])
    if after is not None:
        (upper if desc else lower)(after)
    return low, high


def window_bounds(
    groups: Sequence[RowGroup] | None,
    query: Query,
    column: str,
    desc: bool,
    after: Any,
    needed: int,
) -> list[Any]:
    """Bounds to try in turn for the leading key (the last is always ``None``: no window)."""
    if not groups or sum(g.rows for g in groups) < MIN_ROWS:
        return [None]
    interval = _interval(query, column, after, desc)
    if interval is None:
        return [None]
    low, high = interval
    inside = [
        g for g in groups if (low is None or g.low >= low) and (high is None or g.high <= high)
    ]
    # Nearest row groups first: highest values when descending, lowest when ascending.
    inside.sort(key=lambda g: g.high if desc else g.low, reverse=desc)
    bounds: list[Any] = []
    target = needed
    for _ in range(ROUNDS):
        total, bound = 0, None
        for g in inside:
            total += g.rows
            edge = g.low if desc else g.high
            bound = edge if bound is None else (min(bound, edge) if desc else max(bound, edge))
            if total >= target:
                break
        if bound is None or total < target:
            break
        if not bounds or bound != bounds[-1]:
            bounds.append(bound)
        target *= GROWTH
    return [*bounds, None]
