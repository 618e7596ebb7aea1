"""Scheduled verification (定期核验): rerun a job every so often, or whenever its roster or
a reference gets a new version, reusing the trained model while the inputs keep their
schema.

A **schedule** is made from a job the user may see and copies its spec (roster,
references, rule-set text, mode, money column, scenario and slots, the system it read
for). Two triggers make it *due* (``next_due_at``):

- the interval (``every``: ``6h``, ``1d``, ``2w``) — the next run is due ``every`` after
  the last one started;
- a new version of a resource it reads (``on_new_version``): :func:`mark_due` hears of it
  from :mod:`zhili.catalog.events` inside the loading transaction — the same event the
  exchange's subscriptions queue their webhooks on, and under the same consent: the
  schedule's organization provides the resource or holds an active grant for it.

Nothing is started inside the loading transaction: :func:`run_due`, a `zhili.jobs`
periodic sweep, starts due runs through :func:`zhili.apps.verify.jobs.create_job` (a
scenario job's through ``start_scenario``, which ends in it) as the schedule's creator —
so every input is checked again under their organization's grants now, not as they were
when the schedule was made — and never while the schedule's previous job is still queued
or running (it stays due and starts once that job ends). A start that fails (a grant
lost, the creator disabled) is recorded on the schedule (``last_error``) and audited
(``verify.schedule_failed``); the sweep goes on with the next.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhili.access import Actor, can, require, system_actor
from zhili.apps.verify import jobs
from zhili.apps.verify.models import OPEN_STATES, VerificationJob
from zhili.apps.verify.schedule_models import VerificationSchedule
from zhili.audit.acts import record_act
from zhili.catalog.events import on_version
from zhili.catalog.models import LakeVersion, Resource
from zhili.clock import utcnow
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound, ZhiliError
from zhili.exchange.models import Grant, RequestState
from zhili.exchange.requests import today
from zhili.identity.models import Organization, User
from zhili.jobs.runner import periodic, problem_of

__all__ = [
    "ScheduleSpec",
    "create_schedule",
    "format_every",
    "get_schedule",
    "list_schedules",
    "mark_due",
    "parse_every",
    "pause_schedule",
    "remove_schedule",
    "resume_schedule",
    "run_due",
    "state_of",
]

log = logging.getLogger("zhili.verify.schedules")

#: Seconds between two sweeps of each server process.
SWEEP_SECONDS = 60
#: Due schedules started by one sweep at most (the rest wait for the next).
BATCH = 20
UNITS = {"h": 3600, "d": 86_400, "w": 604_800}
#: Shortest and longest interval: each run reads every input whole, against quotas.
MIN_EVERY, MAX_EVERY = 3600, 366 * 86_400
MAX_NAME = 200
#: Who records a failed start when the creator cannot be the actor.
SWEEP_ACTOR = "system:verify.schedules"


@dataclass(frozen=True)
class ScheduleSpec:
    """What whoever schedules gives: the job to rerun, a name (default: from the job),
    the interval (``every``: ``12h``, ``1d``, ``2w``; None for none) and whether a new
    version of the roster or a reference starts a run."""

    job_id: int
    name: str = ""
    every: str | None = None
    on_new_version: bool = False


def parse_every(text: str | None) -> int | None:
    """Seconds of an interval written ``<n>h``, ``<n>d`` or ``<n>w`` (None for none).

    Example: ``parse_every("12h") == 43200``; ``parse_every("30m")`` raises
    ``verify.schedule_bad_every``.
    """
    value = (text or "").strip().lower()
    if not value:
        return None
    found = re.fullmatch(r"(\d{1,4})\s*([hdw])", value)
    seconds = int(found.group(1)) * UNITS[found.group(2)] if found else 0
    if not MIN_EVERY <= seconds <= MAX_EVERY:
        raise InvalidInput(
            "verify.schedule_bad_every",
            "every must be hours, days or weeks (12h, 1d, 2w), from 1h to 366d; got {value}",
            field="every",
            value=value[:20],
        )
    return seconds


def format_every(seconds: int | None) -> str | None:
    """The interval as written (``parse_every``'s inverse): the largest whole unit."""
    if seconds is None:
        return None
    for unit in ("w", "d", "h"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"


def _default_name(job: VerificationJob) -> str:
    inputs = " × ".join([job.roster_code or "", *job.reference_codes])
    return f"{job.rules_name or job.mode}: {inputs}"[:MAX_NAME]


# --- managing schedules -----------------------------------------------------------------


def create_schedule(session: Session, actor: Actor, spec: ScheduleSpec) -> VerificationSchedule:
    """Schedule reruns of job ``spec.job_id`` (one the actor may see, of their own
    organization, on a roster resource): flushed, not committed."""
    require(actor, "verify.run")
    assert actor.user_id is not None and actor.username is not None
    job = jobs.get_job(session, actor, spec.job_id)
    require(actor, "verify.run", job)
    if actor.org_id != job.org_id:
        raise Forbidden(
            "verify.schedule_own_org",
            "only staff of the job's organization can schedule it (runs are made as you)",
        )
    if job.roster_code is None:
        raise InvalidInput(
            "verify.schedule_needs_resource",
            "job {id} reads an uploaded roster; only jobs on lake resources can be scheduled",
            field="job_id",
            id=job.id,
        )
    every = parse_every(spec.every)
    if every is None and not spec.on_new_version:
        raise InvalidInput(
            "verify.schedule_no_trigger",
            "give an interval (every), or rerun on new versions, or both",
            field="every",
        )
    now = utcnow()
    schedule = VerificationSchedule(
        org_id=job.org_id,
        created_by_id=actor.user_id,
        created_by=actor.username,
        name=(spec.name or "").strip()[:MAX_NAME] or _default_name(job),
        source_job_id=job.id,
        mode=job.mode,
        roster_code=job.roster_code,
        reference_codes=list(job.reference_codes),
        rules_name=job.rules_name,
        rules_text=job.rules_text,
        money_column=job.money_column,
        system=job.system,
        scenario=job.scenario,
        slots=job.slots,
        every_seconds=every,
        on_new_version=spec.on_new_version,
        active=True,
        next_due_at=now + dt.timedelta(seconds=every) if every else None,
        created_at=now,
        updated_at=now,
    )
    session.add(schedule)
    session.flush()
    _act(session, actor, "verify.schedule_create", schedule, job=job.id,
         every=format_every(every), on_new_version=spec.on_new_version)  # fmt: skip
    return schedule


def _act(
    session: Session, actor: Actor, action: str, schedule: VerificationSchedule, **detail: Any
) -> None:
    record_act(session, actor, action, detail={"schedule": schedule.id, **detail})


def list_schedules(
    session: Session, actor: Actor, *, include_removed: bool = False, limit: int = 100
) -> list[VerificationSchedule]:
    """Schedules of the actor's organization subtree (platform admins: all), newest
    first."""
    require(actor, "verify.read")
    stmt = select(VerificationSchedule).order_by(VerificationSchedule.id.desc()).limit(limit)
    if not can(actor, "verify.read", _Anywhere()):
        stmt = stmt.join(Organization, Organization.id == VerificationSchedule.org_id).where(
            Organization.path.startswith(actor.org_path or "/nowhere/")
        )
    if not include_removed:
        stmt = stmt.where(VerificationSchedule.removed_at.is_(None))
    return list(session.scalars(stmt).unique())


class _Anywhere:
    """A target outside every organization: only global roles may act on it."""

    org_path = ""


def get_schedule(session: Session, actor: Actor, schedule_id: int) -> VerificationSchedule:
    """The schedule, if ``actor`` may see it (404 otherwise, so ids are not probed)."""
    schedule = session.get(VerificationSchedule, schedule_id)
    if schedule is None or not can(actor, "verify.read", schedule):
        raise NotFound("verify.schedule_not_found", "no verification schedule {id}", id=schedule_id)
    return schedule


def _managed(session: Session, actor: Actor, schedule_id: int) -> VerificationSchedule:
    schedule = get_schedule(session, actor, schedule_id)
    require(actor, "verify.run", schedule)
    if schedule.removed_at is not None:
        raise Conflict(
            "verify.schedule_removed", "verification schedule {id} was removed", id=schedule.id
        )
    return schedule


def pause_schedule(session: Session, actor: Actor, schedule_id: int) -> VerificationSchedule:
    """Start nothing until resumed (a run already started goes on)."""
    schedule = _managed(session, actor, schedule_id)
    if schedule.active:
        schedule.active, schedule.updated_at = False, utcnow()
        _act(session, actor, "verify.schedule_pause", schedule)
    return schedule


def resume_schedule(session: Session, actor: Actor, schedule_id: int) -> VerificationSchedule:
    """Start again; a schedule that fell due while paused runs once at the next sweep."""
    schedule = _managed(session, actor, schedule_id)
    if not schedule.active:
        schedule.active, schedule.updated_at = True, utcnow()
        _act(session, actor, "verify.schedule_resume", schedule)
    return schedule


def remove_schedule(session: Session, actor: Actor, schedule_id: int) -> VerificationSchedule:
    """Stop for good (kept as history; its jobs and their results stay)."""
    schedule = _managed(session, actor, schedule_id)
    now = utcnow()
    schedule.active, schedule.next_due_at, schedule.due_reason = False, None, None
    schedule.removed_at = schedule.updated_at = now
    _act(session, actor, "verify.schedule_remove", schedule)
    return schedule


def state_of(schedule: VerificationSchedule, now: dt.datetime | None = None) -> str:
    """``removed``, ``paused``, ``running`` (its last job is queued or running),
    ``failed`` (the last start failed), ``due`` or ``waiting``."""
    now = now or utcnow()
    if schedule.removed_at is not None:
        return "removed"
    if not schedule.active:
        return "paused"
    if schedule.last_job is not None and schedule.last_job.state in OPEN_STATES:
        return "running"
    if schedule.last_error is not None:
        return "failed"
    if schedule.next_due_at is not None and schedule.next_due_at <= now:
        return "due"
    return "waiting"


# --- trigger: a new version ---------------------------------------------------------------


def _may_read(session: Session, schedule: VerificationSchedule, resource: Resource) -> bool:
    """The exchange's consent, as a subscription has it: the schedule's organization
    provides ``resource``, or holds an active grant for it valid today (for the system the
    job read for, if it named one)."""
    if resource.provider_id == schedule.org_id:
        return True
    day = today()
    stmt = select(Grant.id).where(
        Grant.resource_id == resource.id,
        Grant.consumer_org_id == schedule.org_id,
        Grant.state == RequestState.active,
        Grant.valid_from <= day,
        Grant.valid_until >= day,
    )
    if schedule.system:
        stmt = stmt.where(Grant.system == schedule.system)
    return session.scalar(stmt.limit(1)) is not None


@on_version
def mark_due(
    session: Session, resource: Resource, version: LakeVersion, previous: int | None
) -> int:
    """Mark due every schedule rerunning on new versions that reads ``resource`` and whose
    organization may read it (inside the loading transaction: the mark commits with the
    version or not at all; the sweep starts the run). Paused schedules are marked too and
    run once on resume. Returns how many were marked."""
    candidates = session.scalars(
        select(VerificationSchedule).where(
            VerificationSchedule.on_new_version.is_(True),
            VerificationSchedule.removed_at.is_(None),
        )
    ).unique()
    now = utcnow()
    marked = 0
    for schedule in candidates:
        if resource.code not in schedule.inputs or not _may_read(session, schedule, resource):
            continue
        if schedule.next_due_at is None or schedule.next_due_at > now:
            schedule.next_due_at = now
        schedule.due_reason = f"{resource.code} v{version.version}"
        marked += 1
    if marked:
        session.flush()
    return marked


# --- the sweep ----------------------------------------------------------------------------


@periodic("verify.schedules", every_seconds=SWEEP_SECONDS)
def _sweep(session: Session) -> None:
    run_due(session)


def run_due(
    session: Session, *, now: dt.datetime | None = None, home: Path | None = None
) -> list[int]:
    """Start the runs of every active schedule due at ``now`` whose previous job has
    ended; the verification jobs started. Commits as it goes (one schedule's failure is
    its own); idempotent across processes (a schedule is claimed before its run starts)."""
    now = now or utcnow()
    if home is None:
        from zhili.settings import get_settings

        home = get_settings().home
    due = session.scalars(
        select(VerificationSchedule.id)
        .where(
            VerificationSchedule.active.is_(True),
            VerificationSchedule.next_due_at <= now,
        )
        .order_by(VerificationSchedule.next_due_at)
        .limit(BATCH)
    ).all()
    started = []
    for schedule_id in due:
        job_id = _start(session, schedule_id, now, home)
        if job_id is not None:
            started.append(job_id)
    return started


def _previous_open(session: Session, schedule: VerificationSchedule) -> bool:
    job = schedule.last_job
    if job is None:
        return False
    jobs.reconcile(session, job)  # a run whose process died counts as ended
    return job.state in OPEN_STATES


def _next_due(schedule: VerificationSchedule, now: dt.datetime) -> dt.datetime | None:
    if schedule.every_seconds is None:
        return None
    return now + dt.timedelta(seconds=schedule.every_seconds)


def _start(session: Session, schedule_id: int, now: dt.datetime, home: Path) -> int | None:
    schedule = session.get(VerificationSchedule, schedule_id, populate_existing=True)
    if schedule is None or _previous_open(session, schedule):
        session.commit()
        return None
    reason = schedule.due_reason or "interval"
    # Claim it: only one process gets past this for one due time.
    claimed = session.execute(
        update(VerificationSchedule)
        .where(
            VerificationSchedule.id == schedule_id,
            VerificationSchedule.active.is_(True),
            VerificationSchedule.next_due_at <= now,
        )
        .values(next_due_at=_next_due(schedule, now), due_reason=None, last_run_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    if not claimed:
        return None
    session.refresh(schedule)
    try:
        job = _start_job(session, _runner(session, schedule), schedule, home)
    except Exception as exc:  # recorded on the schedule; the sweep goes on
        session.rollback()
        if not isinstance(exc, ZhiliError):
            log.exception("verification schedule %s could not start its run", schedule_id)
        _failed(session, schedule_id, problem_of(exc), reason)
        session.commit()
        return None
    schedule.last_job_id, schedule.last_error = job.id, None
    schedule.updated_at = now
    session.commit()
    return job.id


def _runner(session: Session, schedule: VerificationSchedule) -> Actor:
    """The schedule's creator as they are now: active, still of the schedule's
    organization and still allowed to run verification jobs there."""
    from zhili.identity.auth import actor_for

    user = session.get(User, schedule.created_by_id)
    if user is None or not user.is_active:
        raise Forbidden(
            "verify.schedule_owner_inactive",
            "the schedule's creator {username} is disabled; its runs cannot start",
            username=schedule.created_by,
        )
    actor = dataclasses.replace(actor_for(user), system=schedule.system)
    if actor.org_id != schedule.org_id or not can(actor, "verify.run", schedule):
        raise Forbidden(
            "verify.schedule_owner_cannot_run",
            "the schedule's creator {username} may no longer run verification jobs for "
            "its organization",
            username=schedule.created_by,
        )
    return actor


def _start_job(
    session: Session, actor: Actor, schedule: VerificationSchedule, home: Path
) -> VerificationJob:
    """The schedule's next job, checked in full: ``create_job`` on the copied spec, or —
    for a scenario job — the scenario started again (its own checks, then create_job's)."""
    if schedule.scenario is not None:
        from zhili.apps.verify.scenarios.service import start_scenario

        slots = {slot: code for code, slot in (schedule.slots or {}).items()}
        return start_scenario(
            session, actor, schedule.scenario, roster=schedule.roster_code, references=slots,
            home=home, schedule_id=schedule.id,
        )  # fmt: skip
    spec = jobs.JobSpec(
        roster=schedule.roster_code,
        references=tuple(schedule.reference_codes),
        rules=schedule.rules_text,
        mode=schedule.mode,
        money_column=schedule.money_column,
        schedule_id=schedule.id,
    )
    return jobs.create_job(session, actor, spec, home=home)


def _failed(session: Session, schedule_id: int, problem: dict[str, Any], reason: str) -> None:
    schedule = session.get(VerificationSchedule, schedule_id)
    assert schedule is not None
    schedule.last_error, schedule.updated_at = problem, utcnow()
    record_act(
        session,
        system_actor(SWEEP_ACTOR),
        "verify.schedule_failed",
        detail={"schedule": schedule.id, "code": problem["code"], "trigger": reason},
    )
