"""Read-only SQL over the catalog's tables (``POST /api/v1/sql``): one SELECT, tables named
by resource code, checked by the guard, capped in rows and time."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from zhili.exchange import door
from zhili.web.deps import CurrentActor, DbSession, SettingsDep, authorize

router = APIRouter(prefix="/api/v1", tags=["query"])


class SqlRequest(BaseModel):
    sql: str = Field(description='e.g. SELECT gender, count(*) FROM "1-01-001-000001" GROUP BY 1')
    max_rows: int = Field(10_000, ge=1, le=100_000)


@router.post("/sql", dependencies=[Depends(authorize("portal.read"))])
def run_sql(
    body: SqlRequest, actor: CurrentActor, session: DbSession, settings: SettingsDep
) -> dict[str, Any]:
    """Rows of the query (at most ``max_rows``; ``truncated`` says whether there were more).
    The provider's staff query their own resources; anyone queries open resources, but
    not their personal items."""
    result = door.run_sql(session, actor, home=settings.home, sql=body.sql, max_rows=body.max_rows)
    return {
        "fields": [{"name": c.name, "type": c.type} for c in result.columns],
        "rows": jsonable_encoder(result.rows),
        "truncated": result.truncated,
    }
