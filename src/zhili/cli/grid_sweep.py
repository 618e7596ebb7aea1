"""`zhili grid sweep`: run the warning and escalation sweep (预警, 督办) once — what the
job runners do every minute — e.g. from cron when no server runs, or with ``--now`` to see
what a later moment would escalate (it is written: escalations are real). ``--photos``
also removes photo files no attachment names (left by a crash between write and commit);
it walks every stored photo, so it is for a daily cron, not the runners' minute."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from zhili.cli.common import console, database, friendly, progress, settings
from zhili.clock import CITY_TZ
from zhili.db import Database
from zhili.errors import InvalidInput


def _moment(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "grid.sweep_bad_now", "{value!r} is not an ISO 8601 date and time", value=value
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CITY_TZ)


@friendly
def sweep_command(
    now: Annotated[
        str | None,
        typer.Option(
            "--now", help="ISO 8601 moment to sweep at (default: now; no offset: city time)."
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, help="Events per transaction.")] = 5000,
    photos: Annotated[
        bool,
        typer.Option(
            "--photos", help="Also remove photo files no attachment names (crash leftovers)."
        ),
    ] = False,
    grace: Annotated[
        int,
        typer.Option("--grace", min=1, help="With --photos: minutes a file is left to its upload."),
    ] = 60,
) -> None:
    """Warn open events past 80 % of their stage's time limit, escalate those past 100 %;
    with --photos also remove orphan photo files."""
    from zhili.apps.grid.sweep import sweep

    moment = _moment(now) if now else None
    db = database()
    try:
        report = sweep(db, moment, batch=batch)
        console.print(
            f"{report.warned} warned, {report.escalated} escalated "
            f"({report.batches} batches, {report.seconds:.2f} s)"
        )
        if photos:
            _sweep_photos(db, dt.timedelta(minutes=grace))
    finally:
        db.dispose()


def _sweep_photos(db: Database, grace: dt.timedelta) -> None:
    """The orphan photo sweep with a progress bar over the store's 256 directories."""
    from zhili.apps.grid.photo_files import sweep_orphan_photos

    with progress(transient=True) as bar:
        task = bar.add_task("photo files", total=None)
        report = sweep_orphan_photos(
            db.engine,
            settings().home,
            grace=grace,
            on_progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    console.print(
        f"photos: {report.removed} of {report.scanned} files removed "
        f"({report.freed / 2**20:.1f} MiB), {report.young} younger than "
        f"{int(grace.total_seconds() // 60)} min left ({report.seconds:.2f} s)"
    )
