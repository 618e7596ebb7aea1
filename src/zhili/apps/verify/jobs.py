"""Verification jobs (比对核验任务): create (every input checked first), follow, cancel.

A job is a roster (a resource the job's organization may read, or an uploaded file), one
or more references read through the organization's grants, and a rule set — run in the
background (`zhili.apps.verify.run`, a `zhili.jobs` kind) into a new version of a result
resource and a summary. This module is what routers, pages and the CLI call; it checks who
may do what (`verify.run`, `verify.read`) and never reads rows itself.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from zhili.access import Actor, can, require
from zhili.apps.verify.inputs import check_file_roster, check_resource, distinct
from zhili.apps.verify.models import OPEN_STATES, JobState, Mode, VerificationJob
from zhili.apps.verify.rules import builtin_rule_sets, read_rules_text
from zhili.apps.verify.spec import RuleSet
from zhili.audit.acts import record_act
from zhili.clock import utcnow
from zhili.errors import Conflict, InvalidInput, NotFound
from zhili.identity.models import Organization
from zhili.jobs import service as job_service
from zhili.jobs.models import Job, JobStatus

__all__ = [
    "KIND",
    "JobSpec",
    "cancel_job",
    "create_job",
    "get_job",
    "job_dir",
    "list_jobs",
    "progress_of",
    "reconcile",
    "resolve_rules",
]

#: The `zhili.jobs` kind that runs verification jobs.
KIND = "verify.run"
LINK_TYPES = {Mode.link: "link_only", Mode.dedupe: "dedupe_only"}
#: Largest rule set accepted as text (a shipped one is about 1 KB).
MAX_RULES_CHARS = 64_000


@dataclass(frozen=True)
class JobSpec:
    """What whoever starts a job gives: the roster (a resource code, or a spooled upload
    that the job takes over), the references, the rule set (a shipped name such as
    ``person_zh``, or the YAML/JSON text itself), the mode and an optional money column
    of the roster to total over the records matched automatically. ``schedule_id``: the
    schedule (`zhili.apps.verify.schedules`) starting it; its run may reuse the family's
    trained model."""

    roster: str | None = None
    references: tuple[str, ...] = ()
    rules: str = "person_zh"
    mode: str = Mode.link
    money_column: str | None = None
    roster_file: Path | None = None
    roster_filename: str | None = None
    schedule_id: int | None = None
    #: a scenario template's name (`zhili.apps.verify.scenarios`) and the slot each
    #: reference fills, as (code, slot) pairs; set by ``start_scenario``
    scenario: str | None = None
    slots: tuple[tuple[str, str], ...] = ()


def job_dir(home: Path, job_id: int) -> Path:
    """Where a job keeps its uploaded roster and its staging files."""
    return home / "verify" / str(job_id)


def resolve_rules(given: str) -> tuple[str, str, RuleSet]:
    """(name, text, rules) of a shipped rule set's name or of a rule set's text."""
    text = given.strip()
    if not text:
        raise InvalidInput("verify.no_rules", "Give a rule set.", field="rules")
    if len(text) > MAX_RULES_CHARS:
        raise InvalidInput(
            "verify.rules_too_long",
            "A rule set may have at most {max} characters.",
            field="rules",
            max=MAX_RULES_CHARS,
        )
    shipped = builtin_rule_sets()
    name = ""
    if text in shipped:
        name, text = text, shipped[text].read_text(encoding="utf-8")
    rules = read_rules_text(text, name=name)
    return rules.name or name, text, rules


def _mode(value: str) -> Mode:
    try:
        return Mode(value)
    except ValueError:
        raise InvalidInput(
            "verify.bad_mode",
            "mode must be one of {allowed}, got {value}",
            field="mode",
            value=str(value),
            allowed=", ".join(Mode),
        ) from None


def _check_shape(spec: JobSpec, mode: Mode, rules: RuleSet, references: tuple[str, ...]) -> None:
    wanted = LINK_TYPES[mode]
    if rules.link_type is not None and rules.link_type != wanted:
        raise InvalidInput(
            "verify.link_type_mismatch",
            "The rule set is for {declared}, not {wanted}.",
            declared=rules.link_type,
            wanted=wanted,
        )
    if (spec.roster is None) == (spec.roster_file is None):
        raise InvalidInput(
            "verify.no_roster", "Give one roster: a resource code or a file.", field="roster"
        )
    if mode == Mode.link and not references:
        raise InvalidInput(
            "verify.no_references", "Give at least one reference.", field="references"
        )
    if mode == Mode.dedupe and references:
        raise InvalidInput(
            "verify.dedupe_references",
            "A dedupe job reads only its roster; leave out the references.",
            field="references",
        )


def _family(
    org_id: int,
    mode: str,
    roster: str,
    references: tuple[str, ...],
    text: str,
    scenario: tuple[str, dict[str, str]] | None = None,
) -> str:
    """Jobs with the same organization, mode, inputs and rule set (and scenario with its
    slots: its results have an outcome column) write versions of one result resource (a
    rerun is a new version, not a new entry in the catalog)."""
    parts: list[Any] = [org_id, mode, roster, list(references), text]
    if scenario is not None:
        parts.append([scenario[0], sorted(scenario[1].items())])
    key = json.dumps(parts, ensure_ascii=False)
    return hashlib.sha256(key.encode()).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def create_job(session: Session, actor: Actor, spec: JobSpec, *, home: Path) -> VerificationJob:
    """Check everything that can be checked now, then queue the job (flushed, not
    committed). Bad input raises its own error and queues nothing."""
    require(actor, "verify.run")
    assert actor.org_id is not None and actor.user_id is not None
    mode = _mode(spec.mode)
    name, text, rules = resolve_rules(spec.rules)
    references = distinct(spec.references)
    _check_shape(spec, mode, rules, references)
    money = (spec.money_column or "").strip() or None
    if spec.roster is not None:
        check_resource(
            session, actor, home=home, code=spec.roster, rules=rules, side="left", money=money
        )
        roster_key = spec.roster
    else:
        assert spec.roster_file is not None
        check_file_roster(spec.roster_file, rules, money)
        roster_key = "upload:" + _file_digest(spec.roster_file)
    for code in references:
        check_resource(session, actor, home=home, code=code, rules=rules, side="right")
    slots = dict(spec.slots) if spec.scenario is not None else None
    scenario = None if spec.scenario is None or slots is None else (spec.scenario, slots)
    job = VerificationJob(
        org_id=actor.org_id,
        created_by_id=actor.user_id,
        created_by=actor.username,
        mode=mode.value,
        family=_family(actor.org_id, mode, roster_key, references, text, scenario),
        scenario=spec.scenario,
        slots=slots,
        roster_code=spec.roster,
        reference_codes=list(references),
        rules_name=name[:100],
        rules_text=text,
        money_column=money,
        system=actor.system,
        state=JobState.queued,
    )
    session.add(job)
    session.flush()
    if spec.roster_file is not None:
        filename = "roster" + Path(spec.roster_filename or spec.roster_file.name).suffix.lower()
        folder = job_dir(home, job.id)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.move(spec.roster_file, folder / filename)
        job.roster_file = filename
    params: dict[str, Any] = {"verification": job.id}
    if spec.schedule_id is not None:
        params["schedule"] = spec.schedule_id
    queued = job_service.create_job(
        session, actor, KIND, subject=f"verify:{job.id}", params=params, unit="steps"
    )
    job.job_id = queued.id
    record_act(
        session,
        actor,
        "verify.create",
        detail={
            "job": job.id,
            "mode": job.mode,
            "roster": job.roster_code or spec.roster_filename or "upload",
            "references": job.reference_codes,
            "rules": job.rules_name or "(text)",
            **({"schedule": spec.schedule_id} if spec.schedule_id is not None else {}),
            **({"scenario": spec.scenario, "slots": slots} if spec.scenario else {}),
        },
    )
    return job


def _visible(actor: Actor, job: VerificationJob) -> bool:
    return can(actor, "verify.read", job) or can(actor, "verify.review", job)


def get_job(session: Session, actor: Actor, job_id: int) -> VerificationJob:
    """The job, if ``actor`` may see it (404 otherwise, so ids are not probed)."""
    job = session.get(VerificationJob, job_id)
    if job is None or not _visible(actor, job):
        raise NotFound("verify.job_not_found", "no verification job {id}", id=job_id)
    reconcile(session, job)
    return job


def reconcile(session: Session, job: VerificationJob) -> None:
    """A job whose background run died with its process (``jobs.interrupted``) is failed
    with that problem rather than left running for ever."""
    if job.state not in OPEN_STATES or job.job_id is None:
        return
    row = session.get(Job, job.job_id)
    if row is None or row.status != JobStatus.failed:
        return
    session.execute(
        update(VerificationJob)
        .where(VerificationJob.id == job.id, VerificationJob.state.in_(list(OPEN_STATES)))
        .values(state=JobState.failed, error=row.problem, finished_at=row.finished_at)
        .execution_options(synchronize_session=False)
    )
    session.refresh(job)


def list_jobs(
    session: Session, actor: Actor, *, state: str | None = None, limit: int = 50
) -> list[VerificationJob]:
    """Jobs of the actor's organization subtree (platform admins: all), newest first."""
    require(actor, "verify.read")
    stmt = select(VerificationJob).order_by(VerificationJob.id.desc()).limit(limit)
    if not can(actor, "verify.read", _Anywhere()):
        stmt = stmt.join(Organization, Organization.id == VerificationJob.org_id).where(
            Organization.path.startswith(actor.org_path or "/nowhere/")
        )
    if state is not None:
        stmt = stmt.where(VerificationJob.state == state)
    return list(session.scalars(stmt))


class _Anywhere:
    """A target outside every organization: only global roles may act on it."""

    org_path = ""


def cancel_job(session: Session, actor: Actor, job_id: int) -> VerificationJob:
    """Stop a queued or running job. A running job stops at its next step and writes no
    result; a job already writing its result finishes (409 here once it has)."""
    job = get_job(session, actor, job_id)
    require(actor, "verify.run", job)
    moved = session.execute(
        update(VerificationJob)
        .where(VerificationJob.id == job.id, VerificationJob.state.in_(list(OPEN_STATES)))
        .values(state=JobState.cancelled, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        session.refresh(job)
        raise Conflict(
            "verify.bad_state", "job {id} is {state}; nothing to cancel", id=job.id,
            state=job.state,
        )  # fmt: skip
    if job.job_id is not None:  # not claimed yet: no runner will pick it up
        problem = {"code": "verify.cancelled", "status": 409, "fallback": "cancelled"}
        session.execute(
            update(Job)
            .where(Job.id == job.job_id, Job.status == JobStatus.queued)
            .values(status=JobStatus.failed, problem=problem, finished_at=utcnow())
        )
    record_act(session, actor, "verify.cancel", detail={"job": job.id})
    session.refresh(job)
    return job


def progress_of(session: Session, job: VerificationJob) -> dict[str, Any] | None:
    """The background job's progress (steps done of total, the current step)."""
    if job.job_id is None:
        return None
    row = session.get(Job, job.job_id)
    if row is None:
        return None
    return {
        "job_id": row.id,
        "status": row.status,
        "phase": row.phase,
        "done": row.done,
        "total": row.total,
        "percent": row.percent,
    }
