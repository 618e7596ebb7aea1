"""Readers: encoding detection and strict decoding, row numbers, JSON, workbooks, SQL."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pytest
from lake_data import HEADER, SCHEMA, people

from zhili.lake import (
    CsvSource,
    JsonSource,
    LakeTable,
    SqlSource,
    ValidationFailed,
    XlsxSource,
    ingest,
)
from zhili.lake.encoding import EncodingProblem, Utf8Transcoder, detect_encoding
from zhili.lake.jsonfile import _ArrayDecoder
from zhili.lake.report import Report
from zhili.lake.source import ROW, text_column

CHINESE = "姓名,地址\n张三,和平区劝业场街道\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (CHINESE.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + CHINESE.encode("utf-8"), "utf-8-sig"),
        (CHINESE.encode("gbk"), "gb18030"),
        ("姓名\n王\n".encode("gbk"), "gb18030"),  # short GBK: no guessing library involved
        (b"a,b\n" + b"1,2\n" * 40_000 + CHINESE.encode("gbk"), "gb18030"),  # ASCII first
        (CHINESE.encode() * 10 + "王".encode("gbk"), "utf-8"),  # UTF-8, then foreign bytes
        (b"plain,ascii\n1,2\n", "utf-8"),
    ],
)
def test_detect_encoding(tmp_path: Path, data: bytes, encoding: str) -> None:
    (tmp_path / "f.csv").write_bytes(data)
    assert detect_encoding(tmp_path / "f.csv") == encoding


def test_transcoder_names_offset_and_line_of_bad_bytes() -> None:
    good = "第一行\n第二行\n".encode("gb18030")
    stream = Utf8Transcoder(io.BytesIO(good + b"ab\xff\xfe"), "gb18030", chunk=5)
    with pytest.raises(EncodingProblem) as caught:
        stream.read()
    assert (caught.value.offset, caught.value.line) == (len(good) + 2, 3)


def test_transcoder_streams_characters_split_across_chunks() -> None:
    text = "和平区,河东区\n" * 1000
    stream = Utf8Transcoder(io.BytesIO(text.encode("gb18030")), "gb18030", chunk=7)
    assert stream.read().decode("utf-8") == text


def test_row_numbers_count_records_past_multiline_values_and_ragged_rows(tmp_path: Path) -> None:
    rows = people(0, 6).to_pylist()
    rows[0]["name"] = '"王\n伟"'  # a quoted value over two lines
    lines = [",".join(HEADER)] + [",".join(r[h] for h in HEADER) for r in rows]
    lines[2] += ",extra"  # row 3: ragged
    lines[5] = lines[5].replace(rows[4]["age"], "abc", 1)  # row 6: bad age
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        ingest(CsvSource(tmp_path / "p.csv"), SCHEMA, LakeTable(tmp_path / "t"))
    found = [(e["type"], e["rowNumber"]) for e in caught.value.report["errors"]]
    assert found == [("extra-cell", 3), ("type-error", 6)]
    assert caught.value.report["stats"]["rows"] == 6


def test_diagnostic_batches_carry_row_numbers(tmp_path: Path) -> None:
    lines = ["a,b", "1,2", "3", "4,5", '"6\n7",8', "9,10,11", "12,13"]
    (tmp_path / "r.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = Report(2)
    reader = CsvSource(tmp_path / "r.csv").batches(2, problems=report)
    numbers = [n for batch in reader for n in batch.column(ROW).to_pylist()]
    assert numbers == [2, 4, 5, 7]
    assert [e["rowNumber"] for e in report.errors] == [3, 6]


def test_json_array_decoder_handles_chunk_boundaries() -> None:
    values = [{"a": "x],[y", "b": {"c": [1, 2]}, "n": i} for i in range(50)]
    text = io.StringIO(" \n[\n" + ",\n".join(json.dumps(v) for v in values) + "\n]\n")
    assert list(_ArrayDecoder(text, chunk=7)) == values


def test_json_missing_keys_are_nulls_and_unknown_keys_errors(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = people(0, 2).to_pylist()
    del rows[0]["phone"]
    rows[1]["nickname"] = "小王"
    (tmp_path / "p.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        ingest(JsonSource(tmp_path / "p.json"), SCHEMA, LakeTable(tmp_path / "t"))
    ((kind, row, field),) = [
        (e["type"], e["rowNumber"], e["fieldName"]) for e in caught.value.report["errors"]
    ]
    assert (kind, row, field) == ("extra-cell", 3, "nickname")


def test_xlsx_named_sheet_blank_rows_and_sheet_row_numbers(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    assert book.active is not None
    book.active.title = "说明"
    sheet = book.create_sheet("数据")
    sheet.append(HEADER)
    rows = people(0, 3).to_pylist()
    sheet.append([rows[0][h] for h in HEADER])
    sheet.append([None] * len(HEADER))  # blank row 3 is skipped
    sheet.append([rows[1][h] if h != "age" else "老" for h in HEADER])  # row 4: bad age
    sheet.append([rows[2][h] for h in HEADER] + [None, "stray"])  # row 5: extra cell
    book.save(tmp_path / "w.xlsx")
    with pytest.raises(ValidationFailed) as caught:
        ingest(XlsxSource(tmp_path / "w.xlsx", sheet="数据"), SCHEMA, LakeTable(tmp_path / "t"))
    found = [(e["type"], e["rowNumber"], e["fieldName"]) for e in caught.value.report["errors"]]
    assert found == [("type-error", 4, "age"), ("extra-cell", 5, None)]


def test_sql_source_reports_a_failing_query(tmp_path: Path) -> None:
    source = SqlSource(f"sqlite:///{tmp_path / 'x.db'}", "SELECT * FROM nowhere")
    with pytest.raises(ValidationFailed) as caught:
        ingest(source, SCHEMA, LakeTable(tmp_path / "t"))
    (error,) = caught.value.report["errors"]
    assert error["type"] == "source-error" and "nowhere" in error["message"]


def test_sql_source_describe_hides_the_password() -> None:
    source = SqlSource("postgresql+psycopg://u:secret@db/x", "SELECT 1")
    assert "secret" not in source.describe() and source.describe().startswith("sql:")


@pytest.mark.parametrize(
    ("values", "texts"),
    [
        ([1, None, 3], ["1", None, "3"]),
        ([5.0, 1.5], ["5", "1.5"]),
        ([True, False], ["true", "false"]),
        ([dt.datetime(2024, 1, 5), dt.datetime(2024, 1, 6)], ["2024-01-05", "2024-01-06"]),
        ([dt.datetime(2024, 1, 5, 8, 30)], ["2024-01-05 08:30:00.000000"]),
        ([dt.date(2024, 1, 5)], ["2024-01-05"]),
        ([{"a": "王"}, [1]], ['{"a": "王"}', "[1]"]),
        ([1, "a", 2.5, True], ["1", "a", "2.5", "true"]),
        ([None, None], [None, None]),
    ],
)
def test_text_column(values: list[Any], texts: list[str | None]) -> None:
    column = text_column(values)
    assert column.type == pa.string()
    assert column.to_pylist() == texts
