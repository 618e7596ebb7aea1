"""Good inputs of every kind land as the same typed table; how text becomes typed values."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lake_data import HEADER, SCHEMA, people, write_csv

from zhili.lake import (
    CsvSource,
    JsonlSource,
    JsonSource,
    LakeTable,
    ParquetSource,
    Source,
    SqlSource,
    XlsxSource,
    detect_source,
    ingest,
)

N = 50
SHANGHAI = ZoneInfo("Asia/Shanghai")


def expected(n: int = N) -> list[dict[str, Any]]:
    """The typed rows ``people(0, n)`` must become."""
    out = []
    for r in people(0, n).to_pylist():
        born = dt.date.fromisoformat(r["birth_date"])
        local = dt.datetime.fromisoformat(r["registered_at"]).replace(tzinfo=SHANGHAI)
        out.append(
            {
                **r,
                "birth_date": born,
                "age": int(r["age"]),
                "income": float(r["income"]),
                "alive": r["alive"] == "true",
                "registered_at": local.astimezone(dt.UTC),
            }
        )
    return sorted(out, key=lambda r: r["id_number"])


def typed_people(n: int = N) -> pa.Table:
    rows = expected(n)
    return pa.table(
        {
            "id_number": [r["id_number"] for r in rows],
            "name": [r["name"] for r in rows],
            "birth_date": pa.array([r["birth_date"] for r in rows], pa.date32()),
            "age": pa.array([r["age"] for r in rows], pa.int32()),  # widened on the way in
            "sex": [r["sex"] for r in rows],
            "phone": [r["phone"] for r in rows],
            "income": [r["income"] for r in rows],
            "alive": [r["alive"] for r in rows],
            "registered_at": pa.array(
                [r["registered_at"].astimezone(SHANGHAI).replace(tzinfo=None) for r in rows],
                pa.timestamp("ms"),  # naive: city-local time
            ),
            "district": [r["district"] for r in rows],
        }
    )


def csv_file(encoding: str, newline: str = "\n") -> Callable[[Path], Source]:
    def make(tmp: Path) -> Source:
        path = write_csv(tmp / "people.csv", N, encoding=encoding)
        if newline != "\n":
            path.write_bytes(path.read_bytes().replace(b"\n", newline.encode()))
        return CsvSource(path)

    return make


def csv_reordered_and_quoted(tmp: Path) -> Source:
    """Columns in another order than the schema's, every value quoted."""
    order = list(reversed(HEADER))
    lines = [",".join(f'"{h}"' for h in order)]
    lines += [",".join(f'"{r[h]}"' for h in order) for r in people(0, N).to_pylist()]
    (tmp / "reordered.csv").write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return CsvSource(tmp / "reordered.csv")


def json_file(tmp: Path) -> Source:
    rows = people(0, N).to_pylist()
    for r in rows:  # JSON numbers and booleans are fine too
        r["age"], r["alive"] = int(r["age"]), r["alive"] == "true"
    (tmp / "people.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), "utf-8")
    return JsonSource(tmp / "people.json")


def jsonl_file(tmp: Path) -> Source:
    lines = [json.dumps(r, ensure_ascii=False) for r in people(0, N).to_pylist()]
    (tmp / "people.jsonl").write_text("\n".join(lines) + "\n\n", "utf-8")
    return JsonlSource(tmp / "people.jsonl")


def parquet_text(tmp: Path) -> Source:
    pq.write_table(people(0, N), tmp / "people.parquet")
    return ParquetSource(tmp / "people.parquet")


def parquet_typed(tmp: Path) -> Source:
    pq.write_table(typed_people(), tmp / "typed.parquet", row_group_size=7)
    return ParquetSource(tmp / "typed.parquet")


def xlsx_file(tmp: Path) -> Source:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER)
    for r in typed_people().to_pylist():
        sheet.append([r[h] for h in HEADER])
    book.save(tmp / "people.xlsx")
    return XlsxSource(tmp / "people.xlsx")


def sqlite_db(tmp: Path) -> Source:
    path = tmp / "people.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE people (id_number TEXT, name TEXT, birth_date TEXT, age INTEGER,"
        " sex TEXT, phone TEXT, income REAL, alive INTEGER, registered_at TEXT, district TEXT)"
    )
    con.executemany(
        "INSERT INTO people VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (*(r[h] for h in HEADER[:3]), int(r["age"]), *(r[h] for h in HEADER[4:]))
            for r in people(0, N).to_pylist()
        ],
    )
    con.commit()
    con.close()
    return SqlSource(
        f"sqlite:///{path}", "SELECT * FROM people WHERE age >= :min_age", {"min_age": 0}
    )


SOURCES = {
    "csv utf-8": csv_file("utf-8"),
    "csv utf-8 with BOM": csv_file("utf-8-sig"),
    "csv gbk": csv_file("gbk"),
    "csv gb18030 crlf": csv_file("gb18030", "\r\n"),
    "csv reordered and quoted": csv_reordered_and_quoted,
    "json": json_file,
    "jsonl": jsonl_file,
    "parquet text": parquet_text,
    "parquet typed": parquet_typed,
    "xlsx": xlsx_file,
    "sql": sqlite_db,
}


@pytest.mark.parametrize("make", SOURCES.values(), ids=SOURCES.keys())
def test_every_source_kind_lands_as_the_same_typed_table(
    tmp_path: Path, make: Callable[[Path], Source]
) -> None:
    table = LakeTable(tmp_path / "table")
    seen: list[int] = []
    result = ingest(make(tmp_path), SCHEMA, table, batch_size=16, progress=seen.append)
    assert (result.version, result.rows, result.report["valid"]) == (0, N, True)
    assert seen[-1] == N and seen == sorted(seen)
    got = table.to_arrow().sort_by("id_number").to_pylist()
    assert got == expected()
    assert table.row_count() == N


def test_rows_are_sorted_by_primary_key_in_row_groups(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", 250_000)
    table = LakeTable(tmp_path / "t")
    ingest(CsvSource(path), SCHEMA, table)
    (uri,) = table.file_uris()
    meta = pq.read_metadata(uri)
    assert meta.num_row_groups >= 3
    column = meta.schema.to_arrow_schema().names.index("id_number")
    bounds = [
        (
            meta.row_group(g).column(column).statistics.min,
            meta.row_group(g).column(column).statistics.max,
        )
        for g in range(meta.num_row_groups)
    ]
    assert all(a[1] < b[0] for a, b in itertools.pairwise(bounds))  # lookups can skip groups
    ids = table.to_arrow(columns=["id_number"]).column(0).to_pylist()
    assert ids == sorted(ids)


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        (
            {"type": "datetime"},
            "2024-01-05T08:30:00",
            dt.datetime(2024, 1, 5, 0, 30, tzinfo=dt.UTC),
        ),
        (
            {"type": "datetime"},
            "2024-01-05T08:30:00Z",
            dt.datetime(2024, 1, 5, 8, 30, tzinfo=dt.UTC),
        ),
        (
            {"type": "datetime"},
            "2024-01-05T08:30:00+09:00",
            dt.datetime(2024, 1, 4, 23, 30, tzinfo=dt.UTC),
        ),
        (
            {"type": "datetime", "format": "%Y/%m/%d %H:%M"},
            "2024/01/05 08:30",
            dt.datetime(2024, 1, 5, 0, 30, tzinfo=dt.UTC),
        ),
        ({"type": "date", "format": "any"}, "2024年1月5日", dt.date(2024, 1, 5)),
        ({"type": "date", "format": "%d/%m/%Y"}, "05/01/2024", dt.date(2024, 1, 5)),
        ({"type": "time"}, "8:05", "08:05:00"),
        ({"type": "year"}, "2024", 2024),
        ({"type": "integer", "groupChar": ","}, "1,234", 1234),
        ({"type": "integer", "bareNumber": False}, "共12人", 12),
        ({"type": "number", "decimalChar": ",", "groupChar": "."}, "1.234,5", 1234.5),
        ({"type": "number", "bareNumber": False}, "15%", 15.0),
        ({"type": "boolean", "trueValues": ["是"], "falseValues": ["否"]}, "是", True),
        ({"type": "string", "format": "cn-id"}, "11010519491231002x", "11010519491231002X"),
        ({"type": "string", "missingValues": ["-", "NA"]}, "NA", None),
        ({"type": "string", "missingValues": ["-"]}, "", ""),
        ({"type": "string", "format": "email"}, "a@b.cn", "a@b.cn"),
    ],
)
def test_text_becomes_typed_values(
    tmp_path: Path, field: dict[str, Any], text: str, value: Any
) -> None:
    path = tmp_path / "one.csv"
    path.write_text(f'k,v\n1,"{text}"\n', encoding="utf-8")
    schema = {"fields": [{"name": "k", "type": "integer"}, {"name": "v", **field}]}
    table = LakeTable(tmp_path / "t")
    ingest(CsvSource(path), schema, table)
    assert table.to_arrow().column("v").to_pylist() == [value]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.csv", "csv"),
        ("a.TXT", "csv"),
        ("a.json", "json"),
        ("a.jsonl", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.parquet", "parquet"),
        ("a.xlsx", "xlsx"),
    ],
)
def test_detect_source_by_extension(tmp_path: Path, name: str, kind: str) -> None:
    assert detect_source(tmp_path / "upload-123", name).kind == kind


def test_detect_source_refuses_unknown_extension(tmp_path: Path) -> None:
    from zhili.errors import InvalidInput

    with pytest.raises(InvalidInput) as caught:
        detect_source(tmp_path / "x", "report.doc")
    assert caught.value.code == "lake.unknown_format"
