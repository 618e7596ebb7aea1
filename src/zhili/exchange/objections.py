"""Objections (数据异议): a consumer disputes rows or items of data it received, and the
provider answers within a deadline of working days.

::

    open → answered_corrected (in version N, newer than the disputed one)
         → answered_rejected (reason required)
                 → closed (the consumer accepts)
                 → reopened (once, reason required) → answered_… → closed

Who: a member of a consumer organization holding a grant for the resource (in any state:
it must have received data) raises it, naming the version it read, the primary-key values
of the disputed rows (at most 1000) and/or the items, a description and the evidence
(text, and optionally one file of at most 10 MB kept under ``ZHILI_HOME/objections/<id>/``).
The provider's data stewards and approvers answer within ``objection_days`` working days
(``ZHILI_OBJECTION_DAYS``, default 5), counted on the official calendar; a reopened
objection gets a fresh deadline. Past the deadline, a housekeeping task marks the objection
escalated to the bureau, once; from then on platform admins may answer it as well.
Visible to the consumer's and the provider's members, platform admins and auditors.
Every transition is a row: who, when, from, to, why.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from zhili.access import Actor, Role, can, require
from zhili.calendar.service import WorkCalendar
from zhili.catalog.models import LakeVersion, Resource
from zhili.clock import utcnow
from zhili.errors import Conflict, Forbidden, InvalidInput, NotFound
from zhili.exchange import deadlines
from zhili.exchange.feedback_models import Objection, ObjectionState, ObjectionTransition
from zhili.exchange.models import Grant
from zhili.exchange.requests import _text, _who
from zhili.jobs.runner import periodic

S = ObjectionState
ESCALATION = "system:escalation"
MAX_ROW_KEYS = 1000
MAX_EVIDENCE_BYTES = 10 * 1024 * 1024
#: Waiting for the provider's answer; answered, waiting for the consumer.
WAITING = (S.open, S.reopened)
ANSWERED = (S.answered_corrected, S.answered_rejected)
OUTCOMES = {"corrected": S.answered_corrected, "rejected": S.answered_rejected}


@dataclass(frozen=True)
class ObjectionSpec:
    """What a consumer disputes. ``row_keys`` holds primary-key values: one value per row
    for a single-item key, a list of values (in key order) for a composite key."""

    resource_code: str
    version: int | None
    row_keys: Sequence[Any] = ()
    fields: Sequence[str] = ()
    description: str = ""
    evidence: str = ""


def find_resource(session: Session, code: str, field: str = "resource_code") -> Resource:
    """The catalogued resource ``code``, or a 422 naming the form's field."""
    resource = session.scalar(select(Resource).where(Resource.code == (code or "").strip()))
    if resource is None:
        raise InvalidInput(
            "exchange.unknown_resource",
            "{field}: no resource {code} in the catalog",
            field=field,
            code=code,
        )
    return resource


def _version_exists(session: Session, resource: Resource, version: int) -> bool:
    found = session.scalar(
        select(LakeVersion.id).where(
            LakeVersion.resource_id == resource.id, LakeVersion.version == version
        )
    )
    return found is not None


def _check_version(session: Session, resource: Resource, version: int | None) -> int:
    if version is None:
        raise InvalidInput("exchange.required", "{field} is required", field="version")
    if not _version_exists(session, resource, version):
        raise InvalidInput(
            "objection.unknown_version",
            "{field}: {code} has no version {version}",
            field="version",
            code=resource.code,
            version=version,
        )
    return version


def primary_key(resource: Resource) -> list[str]:
    key = resource.table_schema.get("primaryKey") or []
    return [key] if isinstance(key, str) else list(key)


def _check_row_keys(resource: Resource, keys: Sequence[Any]) -> list[Any]:
    if len(keys) > MAX_ROW_KEYS:
        raise InvalidInput(
            "objection.too_many_rows",
            "{field}: at most {max} rows per objection",
            field="row_keys",
            max=MAX_ROW_KEYS,
        )
    pk = primary_key(resource)
    if keys and not pk:
        raise InvalidInput(
            "objection.no_primary_key",
            "{field}: {code} has no primary key; name the items instead",
            field="row_keys",
            code=resource.code,
        )
    out: list[Any] = []
    seen: set[tuple[str, ...]] = set()
    for key in keys:
        values = list(key) if isinstance(key, list | tuple) else [key]
        text = tuple("" if v is None else str(v).strip() for v in values)
        if len(text) != len(pk) or not all(text):
            raise InvalidInput(
                "objection.bad_row_key",
                "{field}: {value} is not a value of the key ({key})",
                field="row_keys",
                value=", ".join(text) or '""',
                key=", ".join(pk),
            )
        if text not in seen:
            seen.add(text)
            out.append(text[0] if len(pk) == 1 else list(text))
    return out


def _check_fields(resource: Resource, fields: Sequence[str]) -> list[str]:
    names = [f["name"] for f in resource.table_schema["fields"]]
    for name in fields:
        if name not in names:
            raise InvalidInput(
                "exchange.unknown_field",
                "{code} has no item {name}",
                field="fields",
                name=name,
                code=resource.code,
            )
    return [n for n in names if n in set(fields)]


def has_grant(session: Session, org_id: int, resource: Resource) -> bool:
    """Whether the organization ever held a grant for the resource (it received data)."""
    found = session.scalar(
        select(Grant.id)
        .where(Grant.resource_id == resource.id, Grant.consumer_org_id == org_id)
        .limit(1)
    )
    return found is not None


def _move(
    session: Session,
    objection: Objection,
    to: ObjectionState,
    actor: str,
    reason: str | None,
) -> None:
    session.add(
        ObjectionTransition(
            objection_id=objection.id,
            from_state=objection.state,
            to_state=to,
            actor=actor,
            reason=reason,
        )
    )
    objection.state = to
    objection.updated_at = utcnow()


def raise_objection(
    session: Session, actor: Actor, spec: ObjectionSpec, calendar: WorkCalendar, days: int
) -> Objection:
    """Record a consumer's objection and start the provider's deadline (``days`` working
    days). Refused with 403 unless the actor's organization received the resource's data."""
    require(actor, "objection.raise")
    if actor.org_id is None:
        raise Forbidden("exchange.no_org", "only members of an organization can apply")
    resource = find_resource(session, spec.resource_code)
    if not has_grant(session, actor.org_id, resource):
        raise Forbidden(
            "objection.no_grant",
            "your organization received no data of {code}",
            code=resource.code,
        )
    version = _check_version(session, resource, spec.version)
    row_keys = _check_row_keys(resource, spec.row_keys)
    fields = _check_fields(resource, spec.fields)
    if not row_keys and not fields:
        raise InvalidInput(
            "objection.nothing_disputed",
            "{field}: name the disputed rows or items",
            field="row_keys",
        )
    now = utcnow()
    objection = Objection(
        resource_id=resource.id,
        consumer_org_id=actor.org_id,
        raised_by_id=actor.user_id,
        raised_by=actor.username,
        version=version,
        row_keys=row_keys,
        fields=fields,
        description=_text(spec.description, "description"),
        evidence=_text(spec.evidence, "evidence"),
        state=S.open,
        due_at=calendar.deadline(now, days),
        escalated=False,
        reopened=False,
        created_at=now,
        updated_at=now,
    )
    session.add(objection)
    session.flush()
    session.add(
        ObjectionTransition(
            objection_id=objection.id,
            from_state=None,
            to_state=S.open,
            actor=_who(actor),
            reason=None,
        )
    )
    session.refresh(objection)
    return objection


def _visible(actor: Actor, objection: Objection) -> bool:
    if actor.roles & {Role.platform_admin, Role.auditor}:
        return True
    return actor.org_id is not None and actor.org_id in (
        objection.consumer_org_id,
        objection.resource.provider_id,
    )


def get_objection(session: Session, actor: Actor, objection_id: int) -> Objection:
    """An objection the actor may see (consumer, provider, bureau, auditors); else 404."""
    objection = session.get(Objection, objection_id)
    if objection is None or not _visible(actor, objection):
        raise NotFound("objection.not_found", "no objection {id}", id=objection_id)
    return objection


def list_objections(
    session: Session,
    actor: Actor,
    *,
    side: str = "all",
    state: str | None = None,
    limit: int = 200,
) -> list[Objection]:
    """``side``: consumer (raised by us), provider (about our resources), bureau (escalated
    and waiting), all (what the actor may see)."""
    stmt = (
        select(Objection)
        .join(Resource, Objection.resource_id == Resource.id)
        .order_by(Objection.id.desc())
        .limit(limit)
    )
    sees_all = bool(actor.roles & {Role.platform_admin, Role.auditor})
    mine = Objection.consumer_org_id == actor.org_id
    theirs = Resource.provider_id == actor.org_id
    if side == "consumer":
        stmt = stmt.where(mine)
    elif side == "provider":
        stmt = stmt.where(theirs)
    elif side == "bureau":
        stmt = stmt.where(Objection.escalated, Objection.state.in_(list(WAITING)))
        if not sees_all:
            stmt = stmt.where(or_(mine, theirs))
    elif not sees_all:
        stmt = stmt.where(or_(mine, theirs))
    if state:
        stmt = stmt.where(Objection.state == state)
    return list(session.scalars(stmt).unique())


def transitions(session: Session, objection: Objection) -> list[ObjectionTransition]:
    return list(
        session.scalars(
            select(ObjectionTransition)
            .where(ObjectionTransition.objection_id == objection.id)
            .order_by(ObjectionTransition.id)
        )
    )


def is_overdue(objection: Objection, now: dt.datetime | None = None) -> bool:
    """Waiting for the provider past its deadline (escalation to the bureau follows)."""
    return (
        objection.state in WAITING
        and objection.due_at is not None
        and objection.due_at < (now or utcnow())
    )


def _expect(objection: Objection, *states: ObjectionState) -> None:
    if objection.state not in states:
        raise Conflict(
            "objection.bad_state",
            "objection {id} is {state}; this needs {expected}",
            id=objection.id,
            state=objection.state,
            expected=" / ".join(states),
        )


def _provider_staff(actor: Actor, objection: Objection) -> bool:
    """A data steward or approver of the provider (or of an organization above it)."""
    path = objection.org_path
    return bool(
        actor.roles & {Role.data_steward, Role.approver}
        and actor.org_path
        and path.startswith(actor.org_path)
    )


def may_answer(actor: Actor, objection: Objection) -> bool:
    """The provider's stewards and approvers answer; the bureau once it was escalated."""
    if objection.state not in WAITING or not can(actor, "objection.answer", objection):
        return False
    if Role.platform_admin in actor.roles and not objection.escalated:
        return _provider_staff(actor, objection)
    return True


def is_consumer(actor: Actor, objection: Objection) -> bool:
    """A member of the objecting organization who may raise, accept and reopen."""
    return actor.org_id == objection.consumer_org_id and can(actor, "objection.raise")


def _consumer(actor: Actor, objection: Objection) -> None:
    if not is_consumer(actor, objection):
        raise Forbidden("objection.not_consumer", "only the objecting organization can do this")


def answer(
    session: Session,
    actor: Actor,
    objection: Objection,
    *,
    outcome: str,
    version: int | None = None,
    reason: str = "",
) -> Objection:
    """``corrected`` in ``version`` (it must exist and be newer than the disputed one;
    ``reason`` an optional note) or ``rejected`` (``reason`` required)."""
    _expect(objection, *WAITING)
    if not may_answer(actor, objection):
        raise Forbidden(
            "objection.not_answerer", "you cannot answer objection {id}", id=objection.id
        )
    target = OUTCOMES.get(outcome)
    if target is None:
        raise InvalidInput(
            "objection.bad_outcome",
            "{field}: {value} is neither corrected nor rejected",
            field="outcome",
            value=outcome,
        )
    note = (reason or "").strip()
    if target == S.answered_corrected:
        fixed = _check_version(session, objection.resource, version)
        if fixed <= objection.version:
            raise InvalidInput(
                "objection.version_not_newer",
                "{field}: version {version} is not newer than the disputed version {disputed}",
                field="version",
                version=fixed,
                disputed=objection.version,
            )
        objection.corrected_version = fixed
        why = f"v{fixed}: {note}" if note else f"v{fixed}"
    else:
        note = _text(reason, "reason")
        objection.corrected_version = None
        why = note
    objection.answer = note or None
    objection.answered_by = _who(actor)
    objection.answered_at = utcnow()
    _move(session, objection, target, _who(actor), why)
    return objection


def close(session: Session, actor: Actor, objection: Objection, note: str = "") -> Objection:
    """The consumer accepts the answer."""
    _consumer(actor, objection)
    _expect(objection, *ANSWERED)
    _move(session, objection, S.closed, _who(actor), (note or "").strip() or None)
    return objection


def reopen(
    session: Session,
    actor: Actor,
    objection: Objection,
    reason: str,
    calendar: WorkCalendar,
    days: int,
) -> Objection:
    """The consumer disagrees with the answer (once, with a reason): a fresh deadline."""
    _consumer(actor, objection)
    _expect(objection, *ANSWERED)
    if objection.reopened:
        raise Conflict(
            "objection.reopened_once",
            "objection {id} was reopened once already",
            id=objection.id,
        )
    why = _text(reason, "reason")
    objection.reopened = True
    objection.due_at = calendar.deadline(utcnow(), days)
    _move(session, objection, S.reopened, _who(actor), why)
    return objection


@periodic("exchange.escalate_objections", every_seconds=60)
def escalate_overdue(session: Session, now: dt.datetime | None = None) -> list[Objection]:
    """Objections past their deadline go to the bureau (marked escalated, once)."""
    return deadlines.escalate(
        session,
        Objection,
        WAITING,
        lambda o: ObjectionTransition(
            objection_id=o.id,
            from_state=o.state,
            to_state=o.state,
            actor=ESCALATION,
            reason=deadlines.REASON,
        ),
        now,
    )


# --- the evidence file ----------------------------------------------------------------


def evidence_dir(home: Path, objection: Objection) -> Path:
    return home / "objections" / str(objection.id)


def _safe_name(filename: str | None) -> str:
    name = Path((filename or "").replace("\\", "/")).name
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip()
    if name in ("", ".", ".."):
        name = "evidence"
    stem, dot, ext = name.rpartition(".")
    if len(name) > 120:  # keep the extension
        name = (stem[: 110 - len(ext)] + dot + ext) if dot else name[:120]
    return name


def attach_evidence(
    session: Session,
    actor: Actor,
    objection: Objection,
    home: Path,
    filename: str | None,
    stream: BinaryIO,
) -> Objection:
    """Keep one evidence file with the objection (the consumer, while the provider has
    still to answer), streamed to disk and refused beyond 10 MB; a new file replaces it."""
    _consumer(actor, objection)
    _expect(objection, *WAITING)
    name = _safe_name(filename)
    folder = evidence_dir(home, objection)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / ".upload.part"
    written = 0
    try:
        with partial.open("wb") as out:
            while chunk := stream.read(1024 * 1024):
                written += len(chunk)
                if written > MAX_EVIDENCE_BYTES:
                    raise InvalidInput(
                        "objection.evidence_too_large",
                        "{field}: the file is larger than {max} bytes",
                        field="evidence_file",
                        max=MAX_EVIDENCE_BYTES,
                    )
                out.write(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    for old in folder.iterdir():
        if old == partial:
            continue
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()
    os.replace(partial, folder / name)
    objection.evidence_file = name
    objection.evidence_size = written
    objection.updated_at = utcnow()
    return objection


def evidence_path(home: Path, objection: Objection) -> Path:
    """The stored evidence file (404 when the objection has none)."""
    if objection.evidence_file:
        path = evidence_dir(home, objection) / objection.evidence_file
        if path.is_file():
            return path
    raise NotFound("objection.no_evidence", "objection {id} has no evidence file", id=objection.id)
