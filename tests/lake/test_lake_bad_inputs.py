"""Every bad input commits nothing and yields a report naming the row, field or offset."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lake_data import HEADER, SCHEMA, cn_id, people

from zhili.lake import (
    CsvSource,
    JsonlSource,
    JsonSource,
    LakeTable,
    ParquetSource,
    Source,
    ValidationFailed,
    XlsxSource,
    ingest,
)

GOOD = people(0, 3).to_pylist()


def row(i: int = 0, **changes: str) -> str:
    values = {**GOOD[i], **changes}
    return ",".join(values[h] for h in HEADER)


def csv(tmp: Path, *lines: str, header: list[str] = HEADER, encoding: str = "utf-8") -> Source:
    path = tmp / "input.csv"
    path.write_bytes(("\n".join([",".join(header), *lines]) + "\n").encode(encoding))
    return CsvSource(path)


def mixed_encoding(tmp: Path, padding: int) -> Source:
    """UTF-8 rows (``padding`` of them), then a row whose name is GBK bytes."""
    rows = people(0, padding + 1).to_pylist()
    utf8 = [",".join(HEADER), *(",".join(r[h] for h in HEADER) for r in rows[:padding])]
    bad = {**rows[padding], "name": "王伟"}
    path = tmp / "mixed.csv"
    path.write_bytes(
        "\n".join(utf8).encode() + b"\n" + ",".join(bad[h] for h in HEADER).encode("gb18030")
    )
    return CsvSource(path)


def parquet(tmp: Path, table: pa.Table) -> Source:
    pq.write_table(table, tmp / "input.parquet")
    return ParquetSource(tmp / "input.parquet")


def zip_bomb(tmp: Path) -> Source:
    """A small .xlsx whose sheet XML inflates to 32 MiB of zeros."""
    path = tmp / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("xl/worksheets/sheet1.xml", "w") as sheet:
            for _ in range(32):
                sheet.write(b"0" * 2**20)
    assert path.stat().st_size < 200_000
    return XlsxSource(path)


def jsonl(tmp: Path) -> Source:
    lines = [json.dumps(GOOD[0], ensure_ascii=False), "{not json", json.dumps(GOOD[1])]
    (tmp / "input.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return JsonlSource(tmp / "input.jsonl")


def utf8_then_gbk_offset(padding: int) -> int:
    """Where the GBK bytes of `mixed_encoding` start."""
    rows = people(0, padding + 1).to_pylist()
    before = [",".join(HEADER), *(",".join(r[h] for h in HEADER) for r in rows[:padding])]
    bad_line = ",".join({**rows[padding], "name": "王伟"}[h] for h in HEADER)
    return len(("\n".join(before) + "\n").encode()) + bad_line.encode().index("王".encode())


# (name, source builder, code, [(type, rowNumber, fieldName)] expected among the errors)
CASES: list[tuple[str, Callable[[Path], Source], str, list[tuple[str, int | None, str | None]]]] = [
    (
        "ragged rows",
        lambda t: csv(t, row(0), row(1) + ",extra", row(2).rsplit(",", 1)[0]),
        "lake.validation_failed",
        [("extra-cell", 3, None), ("missing-cell", 4, None)],
    ),
    (
        "invalid ID numbers",
        lambda t: csv(
            t,
            row(0, id_number=GOOD[0]["id_number"][:17] + "0"),  # wrong check digit
            row(1, id_number=cn_id("11010519990230001")),  # 30 February
            row(2, id_number=GOOD[2]["id_number"][:17]),  # 17 characters
        ),
        "lake.validation_failed",
        [("type-error", n, "id_number") for n in (2, 3, 4)],
    ),
    (
        "empty file",
        lambda t: CsvSource((t / "empty.csv", (t / "empty.csv").write_bytes(b""))[0]),
        "lake.empty_file",
        [("source-error", None, None)],
    ),
    ("header only", lambda t: csv(t), "lake.no_rows", [("source-error", None, None)]),
    (
        "missing column",
        lambda t: csv(t, *(r.rsplit(",", 1)[0] for r in map(row, range(3))), header=HEADER[:-1]),
        "lake.validation_failed",
        [("missing-label", None, "district")],
    ),
    (
        "extra column",
        lambda t: csv(t, row(0) + ",1", header=[*HEADER, "x"]),
        "lake.validation_failed",
        [("extra-label", None, "x")],
    ),
    (
        "blank and duplicate header",
        lambda t: csv(t, row(0) + ",,1", header=[*HEADER, "", "name"]),
        "lake.validation_failed",
        [("blank-header", None, None), ("duplicate-label", None, "name")],
    ),
    (
        "constraints",
        lambda t: csv(
            t,
            row(0, sex="未知", name=""),  # enum, required
            row(1, phone="03636961687", age="-1"),  # pattern, minimum
            row(2, age="200", name="长" * 51),  # maximum, maxLength
        ),
        "lake.validation_failed",
        [
            ("constraint-error", 2, "sex"),
            ("constraint-error", 2, "name"),
            ("constraint-error", 3, "phone"),
            ("constraint-error", 3, "age"),
            ("constraint-error", 4, "age"),
            ("constraint-error", 4, "name"),
        ],
    ),
    (
        "types",
        lambda t: csv(
            t,
            row(0, age="abc", birth_date="2024-02-30"),
            row(1, alive="maybe", income="12..5"),
            row(2, registered_at="yesterday", age="1.5"),
        ),
        "lake.validation_failed",
        [
            ("type-error", 2, "age"),
            ("type-error", 2, "birth_date"),
            ("type-error", 3, "alive"),
            ("type-error", 3, "income"),
            ("type-error", 4, "registered_at"),
            ("type-error", 4, "age"),
        ],
    ),
    (
        "duplicate primary key in the file",
        lambda t: csv(t, row(0), row(1), row(0), row(2)),
        "lake.validation_failed",
        [("primary-key-error", 4, "id_number")],
    ),
    (
        "mixed encodings within the detection sample",
        lambda t: mixed_encoding(t, 3),
        "lake.validation_failed",
        [("encoding-error", None, None)],
    ),
    (
        "mixed encodings after the detection sample",
        lambda t: mixed_encoding(t, 2_000),
        "lake.validation_failed",
        [("encoding-error", None, None)],
    ),
    (
        "parquet missing column",
        lambda t: parquet(t, people(0, 3).drop_columns(["phone"])),
        "lake.validation_failed",
        [("missing-label", None, "phone")],
    ),
    (
        "parquet incompatible type",
        lambda t: parquet(
            t, people(0, 3).set_column(2, "birth_date", pa.array([1, 2, 3], pa.int64()))
        ),
        "lake.validation_failed",
        [("schema-error", None, "birth_date")],
    ),
    ("xlsx zip bomb", zip_bomb, "lake.xlsx_bomb", [("source-error", None, None)]),
    ("bad JSONL line", jsonl, "lake.validation_failed", [("source-error", 3, None)]),
    (
        "JSON that is not an array",
        lambda t: JsonSource((t / "x.json", (t / "x.json").write_text('{"a": 1}'))[0]),
        "lake.validation_failed",
        [("source-error", None, None)],
    ),
]


@pytest.mark.parametrize(
    ("make", "code", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_commits_nothing_and_reports_where(
    tmp_path: Path,
    make: Callable[[Path], Source],
    code: str,
    expected: list[tuple[str, int | None, str | None]],
) -> None:
    table = LakeTable(tmp_path / "table")
    with pytest.raises(ValidationFailed) as caught:
        ingest(make(tmp_path), SCHEMA, table)
    report = caught.value.report
    assert caught.value.code == code
    assert caught.value.status == 422
    found = [(e["type"], e["rowNumber"], e["fieldName"]) for e in report["errors"]]
    assert sorted(found, key=str) == sorted(expected, key=str), report["errors"]
    assert report["valid"] is False and report["stats"]["errors"] == len(expected)
    for error in report["errors"]:
        assert error["message"] and error["message_zh"] and error["note"]
    assert not table.exists()
    assert list((tmp_path / "table" / "_staging").iterdir()) == []


def test_messages_name_row_field_and_value_in_both_languages(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as caught:
        ingest(
            csv(tmp_path, row(0), row(1), row(2), row(0, age="abc")),
            SCHEMA,
            LakeTable(tmp_path / "t"),
        )
    errors = caught.value.report["errors"]
    age = next(e for e in errors if e["fieldName"] == "age")
    assert age["message_zh"] == "第 5 行字段“age”的值“abc”不是整数"
    assert age["message"] == 'Row 5, field "age": value "abc" is not an integer.'
    assert age["note"] == 'type is "integer"'
    assert age["cell"] == "abc"


def test_mixed_encoding_names_byte_offset_and_line(tmp_path: Path) -> None:
    for padding in (3, 2_000):
        with pytest.raises(ValidationFailed) as caught:
            ingest(mixed_encoding(tmp_path, padding), SCHEMA, LakeTable(tmp_path / "t"))
        (error,) = caught.value.report["errors"]
        offset = utf8_then_gbk_offset(padding)
        assert error["note"] == f"invalid utf-8 at byte {offset}, line {padding + 2}"
        assert f"字节偏移 {offset}" in error["message_zh"]


def test_error_list_is_capped_but_every_error_counted(tmp_path: Path) -> None:
    lines = [row(0, id_number=cn_id(f"11010519900101{i:03d}"), age="x") for i in range(1, 30)]
    with pytest.raises(ValidationFailed) as caught:
        ingest(csv(tmp_path, *lines), SCHEMA, LakeTable(tmp_path / "t"), max_errors=5)
    report = caught.value.report
    assert report["stats"] == {"errors": 29, "rows": 29, "fields": 10}
    assert len(report["errors"]) == 5 and report["errorsTruncated"] is True
    assert [e["rowNumber"] for e in report["errors"]] == [2, 3, 4, 5, 6]
