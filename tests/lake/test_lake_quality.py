"""Quality of a committed version, and freshness against the update cycle."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from lake_data import HEADER, SCHEMA, people

from zhili.errors import InvalidInput
from zhili.lake import CsvSource, LakeTable, ingest
from zhili.lake.quality import freshness, measure


def _table(tmp: Path) -> LakeTable:
    rows = people(0, 10).to_pylist()
    for i in (0, 1, 2):
        rows[i]["phone"] = ""  # 3 of 10 phones missing
    for i in (3, 4, 5, 6):
        rows[i]["district"] = "和平区"  # with the generator's own 和平区 rows: duplicates
    lines = [",".join(HEADER), *(",".join(r[h] for h in HEADER) for r in rows)]
    (tmp / "q.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = LakeTable(tmp / "t")
    ingest(CsvSource(tmp / "q.csv"), SCHEMA, table)
    return table


def test_quality_of_a_committed_version(tmp_path: Path) -> None:
    table = _table(tmp_path)
    quality = measure(table, SCHEMA)
    fields = {f.name: f for f in quality.fields}
    assert quality.version == 0 and quality.rows == 10
    assert fields["phone"].completeness == pytest.approx(0.7)
    assert fields["id_number"].completeness == 1.0
    assert fields["id_number"].validity == 1.0  # validated on the way in
    assert fields["name"].validity == 1.0  # maxLength
    assert fields["district"].validity is None  # no format, pattern, enum, bound or length
    assert fields["id_number"].duplicate_rate == 0.0
    districts = [r["district"] for r in people(0, 10).to_pylist()]
    districts[3:7] = ["和平区"] * 4
    assert fields["district"].duplicate_rate == pytest.approx(1 - len(set(districts)) / 10)
    assert quality.completeness == pytest.approx(97 / 100)
    assert quality.validity == 1.0


def test_validity_drops_when_constraints_tighten(tmp_path: Path) -> None:
    table = _table(tmp_path)
    stricter = copy.deepcopy(SCHEMA)
    for field in stricter["fields"]:
        if field["name"] == "sex":
            field["constraints"] = {"enum": ["男"]}
        if field["name"] == "age":
            field["constraints"] = {"maximum": 60}
    fields = {f.name: f for f in measure(table, stricter, version=0).fields}
    sexes = [r["sex"] for r in people(0, 10).to_pylist()]
    ages = [int(r["age"]) for r in people(0, 10).to_pylist()]
    assert fields["sex"].validity == pytest.approx(sexes.count("男") / 10)
    assert fields["age"].validity == pytest.approx(sum(a <= 60 for a in ages) / 10)


NOW = dt.datetime(2025, 3, 1, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("cycle", "age_days", "overdue", "limit"),
    [
        ("monthly", 39.9, False, 40),
        ("monthly", 40, True, 40),
        ("每月", 41, True, 40),
        ("daily", 1.5, False, 2),
        ("daily", 2.5, True, 2),
        ("weekly", 8, True, 8),
        ("quarterly", 99, False, 100),
        ("yearly", 381, True, 380),
        ("realtime", 1.01, True, 1),
        ("irregular", 5000, False, None),
        ("不定期", 5000, False, None),
    ],
)
def test_freshness(cycle: str, age_days: float, overdue: bool, limit: int | None) -> None:
    result = freshness(cycle, NOW - dt.timedelta(days=age_days), NOW)
    assert result == {"overdue": overdue, "age_days": age_days, "limit_days": limit}


@pytest.mark.parametrize(
    ("cycle", "last", "code"),
    [
        ("fortnightly", NOW, "lake.bad_update_cycle"),
        ("daily", NOW.replace(tzinfo=None), "lake.naive_datetime"),
    ],
)
def test_freshness_refuses(cycle: str, last: Any, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        freshness(cycle, last, NOW)
    assert caught.value.code == code
