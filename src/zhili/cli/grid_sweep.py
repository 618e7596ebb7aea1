"""`zhili grid sweep`: run the warning and escalation sweep (预警, 督办) once — what the
job runners do every minute — e.g. from cron when no server runs, or with ``--now`` to see
what a later moment would escalate (it is written: escalations are real)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from zhili.cli.common import console, database, friendly
from zhili.clock import CITY_TZ
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
) -> None:
    """Warn open events past 80 % of their stage's time limit, escalate those past 100 %."""
    from zhili.apps.grid.sweep import sweep

    moment = _moment(now) if now else None
    db = database()
    try:
        report = sweep(db, moment, batch=batch)
    finally:
        db.dispose()
    console.print(
        f"{report.warned} warned, {report.escalated} escalated "
        f"({report.batches} batches, {report.seconds:.2f} s)"
    )
