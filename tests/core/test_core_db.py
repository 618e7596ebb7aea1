"""The metadata database: migrations match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from zhili.db import Base, Database, UTCDateTime, migrate


def test_migrations_match_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations disagree; add a migration: {diff}"


def test_migrate_is_idempotent(db: Database) -> None:
    migrate(db.url)
    migrate(db.url)
    assert db.ping()


def test_utc_column_refuses_naive_and_returns_aware() -> None:
    col = UTCDateTime()
    with pytest.raises(ValueError):
        col.process_bind_param(dt.datetime(2026, 1, 1), None)
    aware = dt.datetime(2026, 1, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert col.process_bind_param(aware, None) == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert col.process_result_value(dt.datetime(2026, 1, 1), None).tzinfo is dt.UTC


def test_session_rolls_back_on_error(db: Database) -> None:
    from zhili.identity.models import Organization

    with pytest.raises(RuntimeError), db.session() as s:
        s.add(Organization(code="X", name="x", level="city", kind="department", path="/"))
        s.flush()
        raise RuntimeError("boom")
    with db.session() as s:
        assert s.query(Organization).count() == 0


def test_ping_fails_on_unreachable_database() -> None:
    bad = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert bad.ping() is False
    bad.dispose()
