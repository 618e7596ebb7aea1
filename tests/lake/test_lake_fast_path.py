"""The ingest's fast path: NumPy proofs of cn-id values, the key check on sorted files, the
read-ahead thread and the default memory limit — each must decide exactly as the SQL does."""

from __future__ import annotations

import datetime as dt
import random
import sys
import threading
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lake_data import HEADER, SCHEMA, cn_id, people, write_csv

from zhili.lake import CsvSource, LakeTable, ValidationFailed, ingest
from zhili.lake.proofs import cn_id_proven, date_proven, integer_proven
from zhili.lake.schema import parse_table_schema
from zhili.lake.sqlgen import _cn_id_helpers, _cn_id_ok, compile_field, prove
from zhili.lake.validate import MAX_MEMORY, MIN_MEMORY, connect, default_memory_limit

ingest_module = sys.modules["zhili.lake.ingest"]  # the package re-exports the function
TODAY = dt.datetime.now(dt.UTC).date()
LATEST = TODAY - dt.timedelta(days=1)


def _sql_valid(texts: list[str | None]) -> list[bool]:
    """`_cn_id_ok` on ``upper(text)``, as the validator's SQL computes it."""
    con = connect()
    try:
        con.register("t", pa.table({"r": pa.array(texts, pa.string()), "i": range(len(texts))}))
        hi, lo = _cn_id_helpers("v")
        ok = _cn_id_ok("v", "a", "b")
        rows = con.execute(
            f"SELECT coalesce({ok}, false) FROM (SELECT *, {hi} AS a, {lo} AS b "
            f"FROM (SELECT upper(r) AS v, i FROM t)) ORDER BY i"
        ).fetchall()
    finally:
        con.close()
    return [bool(r[0]) for r in rows]


def _variants(rng: random.Random) -> list[str | None]:
    """Valid numbers and every kind of near miss."""
    valid = people(0, 300).column("id_number").to_pylist()
    out: list[str | None] = [*valid, None, "", "x" * 18, "１" * 18]
    for text in valid[:60]:
        for pos in range(18):
            for char in "0159Xx a-":
                out.append(text[:pos] + char + text[pos + 1 :])
        out += [text[:17], text + "0", text[:17] + "x", " " + text[:17], text.replace("1", "１", 1)]
    for day in (
        "18491231",
        "18500101",
        "19000229",  # not a leap year
        "19960229",
        "20000229",
        "20230229",
        "20240229",
        "19901301",
        "19900001",
        "19900100",
        "19900132",
        "19900431",
        LATEST.strftime("%Y%m%d"),
        TODAY.strftime("%Y%m%d"),
        (TODAY + dt.timedelta(days=2)).strftime("%Y%m%d"),
    ):
        for region in ("110105", "100105", "990105", "820000", "710000"):
            out.append(cn_id(f"{region}{day}123"))
    for _ in range(2000):
        digits = "".join(rng.choice("0123456789") for _ in range(17))
        out.append(digits + rng.choice("0123456789Xx"))
        out.append(cn_id(digits))
    return out


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_numpy_proof_never_accepts_what_sql_rejects(kind: pa.DataType) -> None:
    texts = _variants(random.Random(11))
    sql = _sql_valid(texts)
    for start in (0, 7):  # an array slice has an offset into its buffers
        array = pa.array(texts, kind).slice(start)
        proven, numbers = cn_id_proven(array, LATEST)
        assert len(proven) == len(numbers) == len(texts) - start
        for text, ok, proof, number in zip(
            texts[start:], sql[start:], proven, numbers.to_pylist(), strict=True
        ):
            if proof:
                assert ok and text == text.upper(), text  # proven: SQL accepts it unchanged
                assert number == int(text[:17])  # the sort key
            elif ok and text == text.upper() and text[6:14] < LATEST.strftime("%Y%m%d"):
                pytest.fail(f"{text} is valid but not proven")  # the proof is complete


def test_numpy_proof_of_other_types_proves_nothing() -> None:
    for proof in (lambda a: cn_id_proven(a, LATEST), integer_proven, date_proven):
        assert not proof(pa.array([1, 2]))[0].any()
        assert len(proof(pa.array([], pa.string()))[0]) == 0
        assert not proof(pa.array([None, None], pa.string()))[0].any()


def _sql_values(expression: str, texts: list[str | None]) -> list[Any]:
    """The field SQL ``expression`` of ``r`` on each text."""
    con = connect()
    try:
        con.register("t", pa.table({"r": pa.array(texts, pa.string()), "i": range(len(texts))}))
        return [row[0] for row in con.execute(f"SELECT {expression} FROM t ORDER BY i").fetchall()]
    finally:
        con.close()


def _field(spec: dict[str, Any], **table: Any) -> Any:
    """Field ``spec`` (in a schema with ``table``'s options) compiled for text input."""
    return compile_field(0, parse_table_schema({"fields": [spec], **table}).fields[0], "r", None)


INTEGERS = [
    "0", "7", "007", "42", "-5", "+5", "1.0", "1e3", "1_000", " 12", "12 ", "０", "",
    None, "999999999999999999", "9999999999999999999", "123456789012345678", "0x1F", "abc",
]  # fmt: skip
DATES = [
    "2024-01-05", "2024-1-5", "2024-02-29", "2023-02-29", "1900-02-29", "2000-02-29",
    "0999-12-31", "1000-01-01", "9999-12-31", "2024-13-01", "2024-00-10", "2024-04-31",
    "2024/01/05", "20240105", " 2024-01-05", "2024-01-05 ", "２０２４-01-05", "", None,
    "2024-01-5x", "-024-01-05",
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "texts", "proof"),
    [
        ({"name": "r", "type": "integer"}, INTEGERS, integer_proven),
        ({"name": "r", "type": "date"}, DATES, date_proven),
    ],
)
def test_typed_proofs_give_the_sql_value(
    spec: dict[str, Any], texts: list[Any], proof: Any
) -> None:
    col = _field(spec)
    expected = _sql_values(col.value.replace("r0", "r"), texts)
    proven, values = proof(pa.array(texts, pa.string()))
    assert proven.any()
    for text, want, ok, got in zip(texts, expected, proven, values.to_pylist(), strict=True):
        if ok:
            assert got == want is not None, text


def test_missing_values_are_never_proven() -> None:
    integer = {"name": "r", "type": "integer"}
    texts = pa.array(["0", "1", None, ""], pa.string())
    assert prove(_field(integer), texts, LATEST).to_pylist() == [0, 1, None, None]
    missing = _field(integer, missingValues=["", "0"])
    assert prove(missing, texts, LATEST).to_pylist() == [None, 1, None, None]
    assert _field({**integer, "groupChar": ","}).proof is None  # SQL strips it: not proven


def test_fast_path_proofs_and_sql_together_reject_bad_numbers(tmp_path: Path) -> None:
    """Bad numbers among proven ones (and among more rows than one proof group) are
    still found, and the report comes from the diagnostic pass."""
    rows = people(0, 70_000).to_pylist()
    rows[3]["id_number"] = rows[3]["id_number"][:17] + "0"  # wrong check character
    rows[69_999]["id_number"] = rows[69_999]["id_number"].lower()[:10]
    upper_x = next(i for i in range(500, len(rows)) if rows[i]["id_number"].endswith("X"))
    rows[upper_x]["id_number"] = rows[upper_x]["id_number"][:17] + "x"  # valid once upper-cased
    path = tmp_path / "p.csv"
    path.write_text(
        "\n".join([",".join(HEADER), *(",".join(r[h] for h in HEADER) for r in rows)]) + "\n"
    )
    with pytest.raises(ValidationFailed) as failed:
        ingest(CsvSource(path), SCHEMA, LakeTable(tmp_path / "t"))
    errors = failed.value.report["errors"]
    assert [(e["type"], e["rowNumber"]) for e in errors] == [
        ("type-error", 5),
        ("type-error", 70_001),
    ]


def test_lower_case_x_is_stored_upper_case(tmp_path: Path) -> None:
    rows = people(0, 20).to_pylist()
    x_rows = [r for r in rows if r["id_number"].endswith("X")]
    assert x_rows
    for r in x_rows:
        r["id_number"] = r["id_number"][:17] + "x"
    path = tmp_path / "p.csv"
    path.write_text(
        "\n".join([",".join(HEADER), *(",".join(r[h] for h in HEADER) for r in rows)]) + "\n"
    )
    table = LakeTable(tmp_path / "t")
    ingest(CsvSource(path), SCHEMA, table)
    stored = table.to_arrow(columns=["id_number"]).column(0).to_pylist()
    assert stored == sorted(r["id_number"].upper() for r in rows)


def _sorted_file(path: Path, table: pa.Table, group: int) -> Path:
    pq.write_table(table, path, row_group_size=group)
    return path


@pytest.mark.parametrize(
    ("keys", "repeats"),
    [
        ([1, 2, 3, 4, 5, 6, 7, 8], False),
        ([1, 2, 3, 3, 5, 6, 7, 8], True),  # 3 | 3: the last row of a group, the next's first
        ([1, 2, 3, 4, 4, 6, 7, 8], True),  # within a row group
        ([1, 2, 3, None, None, None, None, None], False),  # NULL keys never repeat
    ],
)
def test_repeats_in_order_looks_within_and_across_row_groups(
    tmp_path: Path, keys: list[int | None], repeats: bool
) -> None:
    table = pa.table({"k": pa.array(keys, pa.int64()), "v": pa.array(range(len(keys)))})
    path = _sorted_file(tmp_path / "a.parquet", table, 3)  # row groups of 3 rows
    assert ingest_module._repeats_in_order([path], ["k"]) is repeats


def test_repeats_in_order_across_files_and_composite_keys(tmp_path: Path) -> None:
    first = pa.table({"a": ["x", "x", "y"], "b": [1, 2, None]})
    second = pa.table({"a": ["y", "z"], "b": [None, 1]})  # (y, NULL) twice: not a repeat
    files = [_sorted_file(tmp_path / "1.parquet", first, 2)]
    files.append(_sorted_file(tmp_path / "2.parquet", second, 2))
    assert ingest_module._repeats_in_order(files, ["a", "b"]) is False
    third = pa.table({"a": ["z", "zz"], "b": [1, 1]})  # (z, 1) ends file 2, starts file 3
    files.append(_sorted_file(tmp_path / "3.parquet", third, 2))
    assert ingest_module._repeats_in_order(files, ["a", "b"]) is True
    floats = _sorted_file(tmp_path / "f.parquet", pa.table({"f": [0.0, 1.0]}), 2)
    assert ingest_module._repeats_in_order([floats], ["f"]) is None  # NaN: left to SQL


def test_duplicate_keys_far_apart_in_the_input_are_found(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", 2_000)
    lines = path.read_text().splitlines()
    lines.append(lines[1])  # row 2 again, as the last row
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationFailed) as failed:
        ingest(CsvSource(path), SCHEMA, LakeTable(tmp_path / "t"))
    (error,) = failed.value.report["errors"]
    assert (error["type"], error["rowNumber"]) == ("primary-key-error", 2_002)


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "zhili-ingest-read"]


def test_read_ahead_thread_stops_when_duckdb_stops_early(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "p.csv", 50_000)
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace('"男"', '"M"').replace('"女"', '"F"')  # an early bad row
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationFailed):
        ingest(CsvSource(path), SCHEMA, LakeTable(tmp_path / "t"))
    assert _readers() == []


def test_read_ahead_hands_over_the_producers_exception() -> None:
    def broken() -> Any:
        yield pa.record_batch({"a": [1]})
        raise ValueError("unreadable")

    feed = ingest_module._read_ahead(broken())
    assert next(feed).num_rows == 1
    with pytest.raises(ValueError, match="unreadable"):
        next(feed)
    assert _readers() == []


def test_default_memory_limit_is_a_bounded_share_of_available_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    validate = sys.modules["zhili.lake.validate"]

    def limit(available: int | None) -> int:
        monkeypatch.setattr(validate, "_available_memory", lambda: available)
        return int(default_memory_limit().removesuffix("MB")) << 20

    assert limit(None) == MIN_MEMORY
    assert limit(2 << 30) == MIN_MEMORY
    assert limit(16 << 30) == 4 << 30
    assert limit(1 << 40) == MAX_MEMORY
    con = connect(memory_limit=None)
    try:
        (value,) = con.execute("SELECT current_setting('memory_limit')").fetchone() or ("",)
    finally:
        con.close()
    assert value and not value.startswith("0")
    assert duckdb.__version__  # the connection took the derived limit without complaint
