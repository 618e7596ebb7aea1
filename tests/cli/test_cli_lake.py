"""`zhili lake load|load-db|versions`: versions with a progress bar, reports on bad rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from zhili.access import system_actor
from zhili.catalog.service import ResourceSpec, create_resource
from zhili.cli.main import app

SCHEMA = {
    "fields": [
        {"name": "id", "type": "integer", "constraints": {"required": True}},
        {"name": "name", "type": "string"},
    ],
    "primaryKey": ["id"],
}


@pytest.fixture()
def cli(settings, world):
    with world.db.session() as s:
        create_resource(s, system_actor(), ResourceSpec(
            code="2-09-001-000001", name="测试", provider_code="PSB", classification="theme",
            table_schema=SCHEMA, sharing_type="unconditional", open_type="closed",
            update_cycle="daily", grade="general",
        ))  # fmt: skip
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_load_versions_and_bad_rows(cli, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("id,name\n1,甲\n2,乙\n", encoding="gbk")
    r = cli("lake", "load", "2-09-001-000001", str(good))
    assert r.exit_code == 0, r.output
    assert "version 0: 2 rows written, 2 in total" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\nx,丙\n", encoding="utf-8")
    r = cli("lake", "load", "2-09-001-000001", str(bad), "--mode", "upsert")
    assert r.exit_code == 2 and "row 2, id" in r.output and "Traceback" not in r.output
    r = cli("lake", "load", "2-09-001-000001", str(good), "--mode", "sideways")
    assert r.exit_code == 2 and "catalog.bad_mode" in r.output
    r = cli("lake", "versions", "2-09-001-000001")
    assert r.exit_code == 0 and r.output.count("append") == 1 and "good.csv" in r.output


def test_load_from_a_database(cli, tmp_path: Path, monkeypatch) -> None:
    import sqlite3

    from zhili.settings import get_settings

    source = tmp_path / "dept.db"
    with sqlite3.connect(source) as con:
        con.execute("CREATE TABLE t (bh INTEGER, mc TEXT)")
        con.executemany("INSERT INTO t VALUES (?, ?)", [(1, "甲"), (2, "乙"), (3, "丙")])
    url = f"sqlite:///{source}"
    query = "SELECT bh AS id, mc AS name FROM t"
    r = cli("lake", "load-db", "2-09-001-000001", "--url", url, "--query", query)
    assert r.exit_code == 2 and "catalog.source_driver" in r.output  # file databases: refused
    monkeypatch.setenv("ZHILI_SOURCE_DRIVERS", "sqlite")
    get_settings.cache_clear()
    r = cli("lake", "load-db", "2-09-001-000001", "--url", url, "--query", query)
    assert r.exit_code == 0, r.output
    assert "3 rows written" in r.output
