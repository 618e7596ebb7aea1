"""Bulk exports as background jobs: the whole (granted, scoped, masked) result of a query
written to a file under ``ZHILI_HOME/exports/<job id>/`` with its SHA-256, then
downloaded — with HTTP range requests, so an interrupted download resumes where it
stopped. The read goes through the one door like any other: grant checked when the job
runs, rows metered and the export audited; the row quota cuts it short.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.errors import InvalidInput, NotFound
from zhili.exchange import door
from zhili.jobs import Job, JobContext, register
from zhili.jobs.service import create_job
from zhili.query import get_engine, parse_params
from zhili.query.export import FORMATS

EXPORT = "exchange.export"


def export_dir(home: Path, job_id: str) -> Path:
    return home / "exports" / job_id


def submit_export(
    session: Session, actor: Actor, *, code: str, params: list[tuple[str, str]], fmt: str
) -> Job:
    """Queue an export after checking now what can be checked (access, format, query)."""
    if fmt not in FORMATS:
        raise InvalidInput(
            "query.bad_format",
            "format must be one of {allowed}",
            parameter="format",
            format=fmt,
            allowed=", ".join(FORMATS),
        )
    door.open_access(session, actor, code, "exchange.export")
    parse_params(params, other=door.OWN_PARAMS)
    return create_job(
        session,
        actor,
        EXPORT,
        subject=code,
        params={
            "code": code,
            "params": [list(p) for p in params],
            "format": fmt,
            "system": actor.system,
        },
    )


@register(EXPORT)
def run_export(ctx: JobContext) -> dict[str, Any]:
    code, fmt = ctx.params["code"], ctx.params["format"]
    params = [tuple(p) for p in ctx.params["params"]]
    actor = dataclasses.replace(ctx.actor, system=ctx.params.get("system"))
    folder = export_dir(ctx.home, ctx.job_id)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{code}.{fmt}"
    digest, size = hashlib.sha256(), 0
    try:
        with ctx.db.session() as session:
            access = door.open_access(session, actor, code, "exchange.export")
            total = get_engine().count(
                access.snapshot(ctx.home), parse_params(params, other=door.OWN_PARAMS)
            )
            left = access.rows_left(session)
            ctx.progress(0, total if left is None else min(total, left), "exporting")
            session.commit()
            chunks = door.export_rows(
                session,
                actor,
                home=ctx.home,
                code=code,
                params=params,
                fmt=fmt,
                on_rows=lambda n: ctx.progress(ctx.done + n, None),
            )
            with target.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return {
        "file": target.name,
        "bytes": size,
        "sha256": digest.hexdigest(),
        "rows": ctx.done,
        "format": fmt,
    }


def export_file(home: Path, job: Job) -> Path:
    """The finished export's file (404 while it runs, after failure, or once removed)."""
    if job.kind != EXPORT or job.result is None:
        raise NotFound("jobs.no_file", "job {id} has no file", id=job.id)
    path = export_dir(home, job.id) / job.result["file"]
    if not path.exists():
        raise NotFound("jobs.no_file", "job {id} has no file", id=job.id)
    return path
