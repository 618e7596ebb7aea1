"""Loads as background jobs: a large upload or a department database's extract is
validated and committed off the request, reporting rows read as it goes.

An upload is first spooled to ``ZHILI_HOME/uploads/<job id>/`` (a directory the job owns
and removes when it ends); a database URL is sealed (see :mod:`zhili.identity.sealing`)
so the queue never holds a department's password in plain text.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.catalog import loading
from zhili.catalog.models import LakeVersion
from zhili.identity.sealing import seal, unseal
from zhili.jobs import Job, JobContext, register
from zhili.jobs.service import create_job
from zhili.lake import detect_source
from zhili.lake.estimate import estimate_rows

LOAD_FILE = "lake.load_file"
LOAD_DATABASE = "lake.load_database"


def upload_dir(home: Path, job_id: str) -> Path:
    return home / "uploads" / job_id


def version_result(v: LakeVersion) -> dict[str, Any]:
    """A committed version as the API and a finished job report it."""
    return {
        "version": v.version,
        "mode": v.mode,
        "rows_written": v.rows_written,
        "total_rows": v.total_rows,
        "bytes": v.bytes,
        "source": v.source,
        "committed_by": v.committed_by,
        "committed_at": v.committed_at.isoformat(),
        "quality": v.quality,
    }


def submit_file(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    code: str,
    spooled: Path,
    filename: str,
    mode: str,
) -> Job:
    """Queue a load of an already spooled file; the job takes the file over."""
    loading.loadable(session, actor, code, mode)
    detect_source(spooled, filename)  # an unknown format is refused now, not in the queue
    job = create_job(
        session,
        actor,
        LOAD_FILE,
        subject=code,
        params={"code": code, "filename": filename, "mode": mode, "bytes": spooled.stat().st_size},
    )
    target = upload_dir(home, job.id)
    target.mkdir(parents=True)
    shutil.move(spooled, target / Path(filename).name)
    return job


def submit_database(
    session: Session,
    actor: Actor,
    *,
    code: str,
    url: str,
    query: str,
    mode: str,
    secret_key: str,
    allowed_drivers: tuple[str, ...],
) -> Job:
    """Queue a load from a department's database (URL checked now, sealed for the queue)."""
    loading.loadable(session, actor, code, mode)
    loading.check_source_url(url, allowed_drivers)
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)
    return create_job(
        session,
        actor,
        LOAD_DATABASE,
        subject=code,
        params={
            "code": code,
            "mode": mode,
            "query": query,
            "source": shown,
            "url": seal(secret_key, url),
            "drivers": list(allowed_drivers),
        },
    )


@register(LOAD_FILE)
def run_load_file(ctx: JobContext) -> dict[str, Any]:
    folder = upload_dir(ctx.home, ctx.job_id)
    try:
        path = folder / Path(ctx.params["filename"]).name
        total = estimate_rows(path, ctx.params["filename"])
        ctx.progress(0, total, "validating")
        with ctx.db.session() as session:
            version = loading.load_file(
                session,
                ctx.actor,
                home=ctx.home,
                code=ctx.params["code"],
                path=path,
                filename=ctx.params["filename"],
                mode=ctx.params["mode"],
                progress=lambda rows: ctx.progress(rows, total),
            )
            return version_result(version)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@register(LOAD_DATABASE)
def run_load_database(ctx: JobContext) -> dict[str, Any]:
    ctx.progress(0, None, "extracting")
    with ctx.db.session() as session:
        version = loading.load_database(
            session,
            ctx.actor,
            home=ctx.home,
            code=ctx.params["code"],
            url=unseal(ctx.secret_key, ctx.params["url"]),
            query=ctx.params["query"],
            mode=ctx.params["mode"],
            allowed_drivers=tuple(ctx.params["drivers"]),
            progress=lambda rows: ctx.progress(rows, None),
        )
        return version_result(version)
