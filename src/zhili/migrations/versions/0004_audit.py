"""audit log: append-only, hash-chained audit_entries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 11:29:58.292713
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhili.db
from zhili.audit import guard

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXED = (
    "action",
    "actor_username",
    "at",
    "grant_id",
    "org_id",
    "provider_org_id",
    "resource_code",
)


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("at", zhili.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_username", sa.String(length=64), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("system", sa.String(length=100), nullable=True),
        sa.Column("grant_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("resource_code", sa.String(length=40), nullable=True),
        sa.Column("provider_org_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("query_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        for column in INDEXED:
            batch_op.create_index(batch_op.f(f"ix_audit_entries_{column}"), [column], unique=False)
    # Append-only in the database: UPDATE and DELETE raise (zhili.audit.guard).
    for stmt in guard.install_statements(op.get_bind().dialect.name):
        op.execute(stmt)


def downgrade() -> None:
    for stmt in guard.drop_statements(op.get_bind().dialect.name):
        op.execute(stmt)
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        for column in reversed(INDEXED):
            batch_op.drop_index(batch_op.f(f"ix_audit_entries_{column}"))
    op.drop_table("audit_entries")
