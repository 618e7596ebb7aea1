"""grid statistics covering indexes: an event's period indexes carry every column the
figures read (PostgreSQL INCLUDE: index-only scans), closings per area, and the steps
carry their event's area (back-filled) with a partial index per area and time

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-25 02:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIGURES = [
    "area_id", "category_id", "level", "state", "open", "stage_due_at", "warn_at",
    "escalations", "reopened", "rating", "closed_at", "lon", "lat",
]  # fmt: skip
_STAGE_DONE = sa.text("stage IS NOT NULL")
_BACKFILL = {
    "sqlite": """
UPDATE grid_event_steps
   SET area_id = (SELECT e.area_id FROM grid_events e WHERE e.id = grid_event_steps.event_id)
""",
    "postgresql": """
UPDATE grid_event_steps AS s SET area_id = e.area_id FROM grid_events e WHERE e.id = s.event_id
""",
}


def upgrade() -> None:
    with op.batch_alter_table("grid_event_steps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("area_id", sa.Integer(), nullable=True))
    op.execute(_BACKFILL[op.get_bind().dialect.name])  # before the index: built once
    with op.batch_alter_table("grid_event_steps", schema=None) as batch_op:
        batch_op.create_index(
            "ix_grid_event_steps_area_stage_done",
            ["area_id", "at"],
            unique=False,
            postgresql_include=["stage", "late", "work_minutes"],
            postgresql_where=_STAGE_DONE,
            sqlite_where=_STAGE_DONE,
        )
    with op.batch_alter_table("grid_events", schema=None) as batch_op:
        batch_op.drop_index("ix_grid_events_reported_at")
        batch_op.drop_index("ix_grid_events_area_reported")
        batch_op.create_index(
            "ix_grid_events_reported_at", ["reported_at"], postgresql_include=FIGURES
        )
        batch_op.create_index(
            "ix_grid_events_area_reported", ["area_id", "reported_at"], postgresql_include=FIGURES
        )
        batch_op.create_index("ix_grid_events_area_closed", ["area_id", "closed_at"])


def downgrade() -> None:
    with op.batch_alter_table("grid_events", schema=None) as batch_op:
        batch_op.drop_index("ix_grid_events_area_closed")
        batch_op.drop_index("ix_grid_events_area_reported")
        batch_op.drop_index("ix_grid_events_reported_at")
        batch_op.create_index("ix_grid_events_area_reported", ["area_id", "reported_at"])
        batch_op.create_index("ix_grid_events_reported_at", ["reported_at"])
    with op.batch_alter_table("grid_event_steps", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_grid_event_steps_area_stage_done",
            postgresql_where=_STAGE_DONE,
            sqlite_where=_STAGE_DONE,
        )
        batch_op.drop_column("area_id")
