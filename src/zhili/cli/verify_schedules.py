"""`zhili verify schedule …`: rerun a verification job on an interval or when its inputs
get a new version (定期核验) — add, list, pause, resume, remove.

Thin: each command calls one service of `zhili.apps.verify.schedules` as ``--user`` (the
runs are made as the user who adds the schedule). The server's job runners start the due
runs; nothing here runs a job.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

from zhili.cli.common import as_user, console, friendly
from zhili.clock import CITY_TZ

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from zhili.access import Actor
    from zhili.apps.verify.schedule_models import VerificationSchedule

schedule_app = typer.Typer(
    help="定期核验: rerun a verification job on an interval or on new versions of its inputs.",
    no_args_is_help=True,
)
UserOption = Annotated[
    str, typer.Option("--user", help="Act as this user (runs are made as the schedule's creator).")
]
ScheduleArgument = Annotated[int, typer.Argument(help="The schedule's id.")]


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(CITY_TZ).strftime("%Y-%m-%d %H:%M") if value else "—"


def _line(schedule: VerificationSchedule) -> str:
    from zhili.apps.verify.schedules import format_every, state_of

    every = format_every(schedule.every_seconds)
    when = [f"every {every}"] if every else []
    if schedule.on_new_version:
        when.append("on new versions")
    return (
        f"schedule {schedule.id} ({state_of(schedule)}): {', '.join(when)}; "
        f"next due {_when(schedule.next_due_at)}"
    )


@schedule_app.command("add")
@friendly
def add(
    job: Annotated[int, typer.Argument(help="The job to rerun (its inputs and rule set).")],
    user: UserOption,
    every: Annotated[
        str | None, typer.Option("--every", help="Interval: 12h, 1d, 2w (at least 1h).")
    ] = None,
    on_new_version: Annotated[
        bool,
        typer.Option(
            "--on-new-version", help="Also rerun when the roster or a reference gets a version."
        ),
    ] = False,
    name: Annotated[str, typer.Option("--name", help="A name (default: from the job).")] = "",
) -> None:
    """Schedule reruns of JOB (a job of USER's organization on a roster resource)."""
    from zhili.apps.verify.schedules import ScheduleSpec, create_schedule

    spec = ScheduleSpec(job_id=job, name=name, every=every, on_new_version=on_new_version)

    def act(session: Session, actor: Actor) -> str:
        return _line(create_schedule(session, actor, spec))

    console.print(as_user(user, act))


@schedule_app.command("list")
@friendly
def list_(
    user: Annotated[
        str | None, typer.Option("--user", help="As this user (default: every schedule).")
    ] = None,
    removed: Annotated[bool, typer.Option("--removed", help="Removed ones too.")] = False,
) -> None:
    """Schedules: what each reruns, when, its state, last job and next due time."""
    from zhili.apps.verify.schedules import list_schedules

    def act(session: Session, actor: Actor) -> list[str]:
        out = []
        for s in list_schedules(session, actor, include_removed=removed):
            error = f"; last start failed: {s.last_error['code']}" if s.last_error else ""
            out += [
                f"{s.org.code} · {s.name} · {' × '.join(s.inputs)}",
                f"  {_line(s)}; last job {s.last_job_id or '—'}{error}",
            ]
        return out

    for line in as_user(user, act) or ["no schedules"]:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@schedule_app.command("pause")
@friendly
def pause(schedule: ScheduleArgument, user: UserOption) -> None:
    """Start no runs of SCHEDULE until it is resumed."""
    from zhili.apps.verify.schedules import pause_schedule

    console.print(as_user(user, lambda s, a: _line(pause_schedule(s, a, schedule))))


@schedule_app.command("resume")
@friendly
def resume(schedule: ScheduleArgument, user: UserOption) -> None:
    """Start runs of SCHEDULE again (one at the next sweep if it fell due while paused)."""
    from zhili.apps.verify.schedules import resume_schedule

    console.print(as_user(user, lambda s, a: _line(resume_schedule(s, a, schedule))))


@schedule_app.command("remove")
@friendly
def remove(schedule: ScheduleArgument, user: UserOption) -> None:
    """Stop SCHEDULE for good (kept as history; its jobs and results stay)."""
    from zhili.apps.verify.schedules import remove_schedule

    console.print(as_user(user, lambda s, a: _line(remove_schedule(s, a, schedule))))
