"""Append-only in the database itself: triggers that refuse UPDATE and DELETE on
``audit_entries``, so not even a bug in the application can rewrite history.

The DDL lives here, once, for the migration that installs it and for the places that must
lift it on purpose — the test suite emptying tables between tests, and tamper tests playing
an attacker who has the database's owner rights (which is what the hash chain is for).
PostgreSQL's ``TRUNCATE`` fires no row triggers; restrict it with privileges in production
(the application's role should hold only SELECT and INSERT on the table).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Connection

TABLE = "audit_entries"
MESSAGE = "audit_entries is append-only"

_POSTGRES_INSTALL = (
    f"""
    CREATE OR REPLACE FUNCTION {TABLE}_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    f"""
    CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()
    """,
)
_POSTGRES_DROP = (
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
    f"DROP FUNCTION IF EXISTS {TABLE}_append_only()",
)
_SQLITE_INSTALL = tuple(
    f"""
    CREATE TRIGGER {TABLE}_no_{op.lower()} BEFORE {op} ON {TABLE}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}: {op} refused'); END
    """
    for op in ("UPDATE", "DELETE")
)
_SQLITE_DROP = tuple(f"DROP TRIGGER IF EXISTS {TABLE}_no_{op}" for op in ("update", "delete"))


def install_statements(dialect: str) -> tuple[str, ...]:
    """DDL creating the append-only triggers on ``dialect`` ("postgresql" or "sqlite")."""
    return _POSTGRES_INSTALL if dialect == "postgresql" else _SQLITE_INSTALL


def drop_statements(dialect: str) -> tuple[str, ...]:
    """DDL removing them again (migration downgrade; deliberate lifting)."""
    return _POSTGRES_DROP if dialect == "postgresql" else _SQLITE_DROP


def install(conn: Connection) -> None:
    for stmt in install_statements(conn.dialect.name):
        conn.execute(text(stmt))


def drop(conn: Connection) -> None:
    for stmt in drop_statements(conn.dialect.name):
        conn.execute(text(stmt))


@contextmanager
def lifted(conn: Connection) -> Iterator[Connection]:
    """Run the block with the triggers removed, restoring them afterwards in the same
    transaction. DDL is transactional on both databases, so when the block fails the
    caller's rollback restores them too. Needs the table owner's rights."""
    drop(conn)
    yield conn
    install(conn)
