"""Versions: append, replace, upsert, time travel, history, counts, and what refuses to commit."""

from __future__ import annotations

import copy
import fcntl
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lake_data import SCHEMA, people, write_csv

from zhili.errors import Conflict, InvalidInput, NotFound
from zhili.lake import CsvSource, LakeTable, ParquetSource, ValidationFailed, arrow_schema, ingest
from zhili.lake.commit import write_files


def csv(tmp: Path, start: int, rows: int, name: str = "p.csv") -> CsvSource:
    return CsvSource(write_csv(tmp / name, rows, start=start))


def renamed(tmp: Path, start: int, rows: int) -> ParquetSource:
    """Rows ``start``… with every name changed to 新名 (an upsert should update them)."""
    table = people(start, rows)
    table = table.set_column(1, "name", pa.array(["新名"] * rows))
    pq.write_table(table, tmp / "renamed.parquet")
    return ParquetSource(tmp / "renamed.parquet")


def test_append_replace_upsert_make_versions_and_time_travel(tmp_path: Path) -> None:
    table = LakeTable(tmp_path / "t")
    who = {"zhili.user": "alice", "zhili.source": "upload:people.csv"}
    first = ingest(csv(tmp_path, 0, 100), SCHEMA, table, commit_properties=who)
    second = ingest(csv(tmp_path, 100, 50), SCHEMA, table, "append")
    third = ingest(renamed(tmp_path, 140, 20), SCHEMA, table, "upsert")
    assert [first.version, second.version, third.version] == [0, 1, 2]
    assert [first.rows, second.rows, third.rows] == [100, 50, 20]
    assert first.files == 1 and first.bytes == Path(table.file_uris(0)[0]).stat().st_size

    latest = table.to_arrow()
    assert latest.num_rows == 160
    names = dict(zip(latest["id_number"].to_pylist(), latest["name"].to_pylist(), strict=True))
    ids = people(0, 160).column("id_number").to_pylist()
    assert [names[i] for i in ids[140:160]] == ["新名"] * 20
    assert names[ids[139]] == people(139, 1).column("name")[0].as_py()

    # Time travel: version 0 is exactly the first upload, after two more versions.
    v0 = table.to_arrow(version=0).sort_by("id_number")
    assert v0.num_rows == 100
    assert v0.column("id_number").to_pylist() == sorted(ids[:100])
    assert table.to_arrow(version=1).num_rows == 150

    # Replace: the input is the whole new content (and may change the schema).
    smaller = copy.deepcopy(SCHEMA)
    smaller["fields"] = [f for f in smaller["fields"] if f["name"] != "district"]
    small = tmp_path / "small.csv"
    small.write_text(_csv_text(people(0, 5).drop_columns(["district"])), encoding="utf-8")
    fourth = ingest(CsvSource(small), smaller, table, "replace")
    assert fourth.version == 3
    assert table.to_arrow().num_rows == 5
    assert "district" not in table.arrow_schema().names
    assert table.to_arrow(version=2).num_rows == 160

    for version in range(4):
        assert table.row_count(version) == table.to_arrow(version=version).num_rows

    history = table.history()
    assert [h.version for h in history] == [3, 2, 1, 0]
    assert history[-1].metadata["zhili.user"] == "alice"
    assert history[-1].metadata["zhili.source"] == "upload:people.csv"
    assert history[-1].metadata["zhili.mode"] == "append"
    assert [h.rows for h in history] == [5, 20, 50, 100]
    assert history[0].metadata["zhili.mode"] == "replace"
    assert history[1].operation == "MERGE" and history[1].metadata["zhili.mode"] == "upsert"
    assert all(h.bytes and h.bytes > 0 for h in history if h.version != 2)
    assert table.version() == 3


def _csv_text(table: pa.Table) -> str:
    rows = table.to_pylist()
    names = table.column_names
    return "\n".join([",".join(names), *(",".join(r[n] for n in names) for r in rows)]) + "\n"


def test_append_refuses_keys_already_in_the_table(tmp_path: Path) -> None:
    table = LakeTable(tmp_path / "t")
    ingest(csv(tmp_path, 0, 10, "a.csv"), SCHEMA, table)
    with pytest.raises(ValidationFailed) as caught:
        ingest(csv(tmp_path, 8, 5, "b.csv"), SCHEMA, table, "append")
    errors = caught.value.report["errors"]
    assert [(e["type"], e["rowNumber"], e["fieldName"]) for e in errors] == [
        ("primary-key-error", 2, "id_number"),
        ("primary-key-error", 3, "id_number"),
    ]
    assert errors[0]["note"] == "the same as in a row already in the table"
    assert "在表中已存在" in errors[0]["message_zh"]
    assert table.version() == 0 and table.row_count() == 10
    assert list((tmp_path / "t" / "_staging").iterdir()) == []
    assert len(list((tmp_path / "t").glob("*.parquet"))) == 1  # no stray data file


def test_unique_field_is_checked_against_the_table_too(tmp_path: Path) -> None:
    schema = copy.deepcopy(SCHEMA)
    schema["fields"][5]["constraints"]["unique"] = True  # phone
    table = LakeTable(tmp_path / "t")
    ingest(csv(tmp_path, 0, 10, "a.csv"), schema, table)
    taken = people(0, 10).column("phone")[3]
    clash = people(10, 1).set_column(5, "phone", pa.array([taken.as_py()]))
    pq.write_table(clash, tmp_path / "clash.parquet")
    with pytest.raises(ValidationFailed) as caught:
        ingest(ParquetSource(tmp_path / "clash.parquet"), schema, table, "append")
    ((kind, row, field),) = [
        (e["type"], e["rowNumber"], e["fieldName"]) for e in caught.value.report["errors"]
    ]
    assert (kind, row, field) == ("unique-error", 2, "phone")


@pytest.mark.parametrize(
    ("change", "column", "table_type", "new_type"),
    [
        ({"name": "age", "type": "string"}, "age", "long", "string"),
        ({"name": "age", "type": "year"}, "age", "long", "integer"),
        ({"name": "extra", "type": "string"}, "extra", "absent", "string"),
    ],
)
@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_type_mismatch_commits_nothing(
    tmp_path: Path, change: dict[str, Any], column: str, table_type: str, new_type: str, mode: str
) -> None:
    table = LakeTable(tmp_path / "t")
    ingest(csv(tmp_path, 0, 10), SCHEMA, table)
    other = copy.deepcopy(SCHEMA)
    if change["name"] in {f["name"] for f in other["fields"]}:
        other["fields"] = [change if f["name"] == change["name"] else f for f in other["fields"]]
    else:
        other["fields"].append(change)
    with pytest.raises(InvalidInput) as caught:
        ingest(csv(tmp_path, 10, 5, "b.csv"), other, table, mode)  # type: ignore[arg-type]
    assert caught.value.code == "lake.type_mismatch"
    assert caught.value.params == {
        "column": column,
        "table_type": table_type,
        "new_type": new_type,
    }
    assert table.version() == 0


def test_mode_errors(tmp_path: Path) -> None:
    table = LakeTable(tmp_path / "t")
    no_key = {**SCHEMA, "primaryKey": []}
    with pytest.raises(InvalidInput) as caught:
        ingest(csv(tmp_path, 0, 3), no_key, table, "upsert")
    assert caught.value.code == "lake.upsert_needs_key"
    with pytest.raises(InvalidInput) as caught:
        ingest(csv(tmp_path, 0, 3), SCHEMA, table, "merge")  # type: ignore[arg-type]
    assert caught.value.code == "lake.bad_mode"
    assert not table.exists()


def test_missing_table_and_version_are_not_found(tmp_path: Path) -> None:
    table = LakeTable(tmp_path / "none")
    with pytest.raises(NotFound) as caught:
        table.version()
    assert caught.value.code == "lake.table_not_found"
    ingest(csv(tmp_path, 0, 3), SCHEMA, table)
    with pytest.raises(NotFound) as caught:
        table.to_arrow(version=7)
    assert caught.value.code == "lake.version_not_found"


def test_upsert_into_a_new_table_creates_it(tmp_path: Path) -> None:
    table = LakeTable(tmp_path / "t")
    result = ingest(csv(tmp_path, 0, 7), SCHEMA, table, "upsert")
    assert (result.version, table.row_count()) == (0, 7)


def test_stale_staging_is_cleaned_but_a_live_one_is_kept(tmp_path: Path) -> None:
    table = LakeTable(tmp_path / "t")
    ingest(csv(tmp_path, 0, 5), SCHEMA, table)
    staging = tmp_path / "t" / "_staging"
    # A crashed ingest: lock file nobody holds, spill data, and a data file it had moved
    # into the table before dying (listed in moved.txt, never committed).
    (staging / "dead" / "data").mkdir(parents=True)
    (staging / "dead" / "data" / "junk.parquet").write_bytes(b"x" * 100)
    (staging / "dead.lock").touch()
    orphan = tmp_path / "t" / "part-orphan.parquet"
    orphan.write_bytes(b"not committed")
    (staging / "dead" / "moved.txt").write_text(f"0\n{orphan.name}\n")
    # A running ingest holds its lock.
    (staging / "alive").mkdir()
    live = os.open(staging / "alive.lock", os.O_CREAT | os.O_RDWR)
    fcntl.flock(live, fcntl.LOCK_EX)
    try:
        ingest(csv(tmp_path, 5, 5, "b.csv"), SCHEMA, table, "append")
        assert sorted(p.name for p in staging.iterdir()) == ["alive", "alive.lock"]
        assert not orphan.exists()
        assert table.row_count() == 10
    finally:
        os.close(live)


@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
@pytest.mark.parametrize("new_table", [False, True])
def test_a_commit_that_lands_first_wins_and_the_other_commits_nothing(
    tmp_path: Path, mode: str, new_table: bool
) -> None:
    """Another ingest commits while this one is reading (here: from its progress
    callback); this one was checked against an older version, so it must not commit."""
    table = LakeTable(tmp_path / "t")
    if not new_table:
        ingest(csv(tmp_path, 0, 10, "a.csv"), SCHEMA, table)
    base = table.version() if table.exists() else -1
    other = csv(tmp_path, 100, 5, "other.csv")
    raced = []

    def interfere(rows: int) -> None:
        if not raced:
            raced.append(ingest(other, SCHEMA, table, "append"))

    with pytest.raises(Conflict) as caught:
        ingest(csv(tmp_path, 10, 20, "b.csv"), SCHEMA, table, mode, progress=interfere)  # type: ignore[arg-type]
    assert caught.value.code == "lake.concurrent_commit"
    assert raced[0].version == base + 1 == table.version()
    assert table.row_count() == (5 if new_table else 15)
    assert list((tmp_path / "t" / "_staging").iterdir()) == []
    committed = {Path(u).name for v in range(table.version() + 1) for u in table.file_uris(v)}
    stray = {p.name for p in (tmp_path / "t").glob("*.parquet")} - committed
    # delta-rs's merge leaves the files of a failed commit behind; `vacuum` removes them.
    assert len(stray) == (1 if mode == "upsert" and not new_table else 0)
    table.vacuum(retention_hours=0)
    assert not stray & {p.name for p in (tmp_path / "t").glob("*.parquet")}
    assert table.to_arrow().num_rows == table.row_count()


def test_object_store_path_writes_through_delta_rs(tmp_path: Path) -> None:
    """The non-local commit path (write_deltalake from staged files), run on a local table."""
    schema = arrow_schema(SCHEMA)
    staged = tmp_path / "staged.parquet"
    source = LakeTable(tmp_path / "src")
    ingest(csv(tmp_path, 0, 12), SCHEMA, source)
    pq.write_table(source.to_arrow(), staged)
    target = LakeTable(tmp_path / "target")
    first = write_files(target, None, [staged], "append", schema, {"zhili.user": "bob"})
    second = write_files(target, target.delta(), [staged], "replace", schema, {})
    assert (first.version, second.version) == (0, 1)
    assert target.row_count(0) == target.row_count(1) == 12
    assert target.history()[-1].metadata["zhili.user"] == "bob"
