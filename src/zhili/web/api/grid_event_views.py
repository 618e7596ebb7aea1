"""What the events API shows of an event, its steps, photos and notices — and what it
keeps back: the reporter's name and contact go only to those who command the event
(others see the phone masked, ``138****0000``); a follower's public view has no actor
names, no handlers' notes and no internal data. Dates are ISO 8601 in UTC."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from zhili.access import Actor
from zhili.apps.grid.area_tree import area_tree
from zhili.apps.grid.attachments import list_photos
from zhili.apps.grid.citizens import is_reporter, mask_contact, notices_for
from zhili.apps.grid.event_models import (
    Attachment,
    EventDepartment,
    EventFollower,
    EventNotice,
    EventStep,
    GridEvent,
)
from zhili.apps.grid.events import timeline
from zhili.apps.grid.models import EventCategory, GridArea
from zhili.apps.grid.visibility import may, may_command
from zhili.apps.grid.workflow import actions_from
from zhili.identity.models import Organization

PREFIX = "/api/v1/grid/events"
#: steps whose note is addressed to the reporter (the reason of a refusal, a merge, the
#: closing remark); handlers' and checkers' notes stay inside
PUBLIC_NOTES = frozenset({"reject", "merge", "close"})


def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _by_id(session: Session, model: Any, ids: set[int], *cols: Any) -> dict[int, Any]:
    """Rows of ``model`` by id: those the session holds loaded from its identity map, the
    rest in one query (no lazy load per event)."""
    ids.discard(None)  # type: ignore[arg-type]
    out: dict[int, Any] = {}
    keys = [c.key for c in cols]
    for i in list(ids):
        held = session.identity_map.get(identity_key(model, i))
        if held is not None and not (inspect(held).unloaded & set(keys)):
            out[i] = tuple(getattr(held, k) for k in keys)
            ids.discard(i)
    if ids:
        query = select(model.id, *cols).where(model.id.in_(ids))
        out.update((r[0], r[1:]) for r in session.execute(query))
    return out


def _areas(session: Session, ids: set[int]) -> dict[int, tuple[str, str]]:
    """Code and name of areas, from the in-memory grid tree."""
    nodes = area_tree(session).nodes
    found = {i: (nodes[i].code, nodes[i].name) for i in ids if i in nodes}
    missing = ids - set(found)
    if missing:  # imported a moment ago in another process
        found |= _by_id(session, GridArea, missing, GridArea.code, GridArea.name)
    return found


class Commands:
    """Whether the actor commands an event, asked once per command area."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.session, self.actor = session, actor
        self.known: dict[int, bool] = {}

    def __call__(self, event: GridEvent) -> bool:
        if event.command_area_id not in self.known:
            self.known[event.command_area_id] = may_command(self.session, self.actor, event)
        return self.known[event.command_area_id]


def events_out(session: Session, actor: Actor, events: Sequence[GridEvent]) -> list[dict[str, Any]]:
    """Events as JSON, the reporter's name and contact only for their commanders."""
    categories = _by_id(
        session, EventCategory, {e.category_id for e in events},
        EventCategory.code, EventCategory.name, EventCategory.name_en,
    )  # fmt: skip
    areas = _areas(session, {e.area_id for e in events} | {e.command_area_id for e in events})
    orgs = _by_id(
        session, Organization, {e.lead_department_id for e in events if e.lead_department_id},
        Organization.code,
    )  # fmt: skip
    commands = Commands(session, actor)
    out = []
    for e in events:
        code, name, name_en = categories[e.category_id]
        full = commands(e)
        out.append(
            {
                "id": e.id,
                "category": code,
                "category_name": name,
                "category_name_en": name_en,
                "state": e.state,
                "open": e.open,
                "source": e.source,
                "external_id": e.external_id,
                "area": areas[e.area_id][0],
                "area_name": areas[e.area_id][1],
                "command_area": areas[e.command_area_id][0],
                "level": e.level,
                "lon": e.lon,
                "lat": e.lat,
                "address": e.address,
                "description": e.description,
                "answers": e.answers,
                "reporter_name": e.reporter_name if full else None,
                "reporter_contact": e.reporter_contact
                if full
                else mask_contact(e.reporter_contact),
                "lead_department": orgs[e.lead_department_id][0] if e.lead_department_id else None,
                "stage": e.stage,
                "stage_started_at": iso(e.stage_started_at),
                "warn_at": iso(e.warn_at),
                "stage_due_at": iso(e.stage_due_at),
                "due_at": iso(e.due_at),
                "escalations": e.escalations,
                "supervised": e.supervised,
                "reopened": e.reopened,
                "merged_into": e.merged_into_id,
                "rating": e.rating,
                "rating_comment": e.rating_comment,
                "rated_at": iso(e.rated_at),
                "reported_at": iso(e.reported_at),
                "closed_at": iso(e.closed_at),
                "updated_at": iso(e.updated_at),
                "seq": e.seq,
            }
        )
    return out


def photo_out(photo: Attachment) -> dict[str, Any]:
    return {
        "sha256": photo.sha256,
        "url": f"{PREFIX}/{photo.event_id}/photos/{photo.sha256}",
        "media_type": photo.media_type,
        "size": photo.size,
        "width": photo.width,
        "height": photo.height,
        "filename": photo.filename,
        "step_seq": photo.step_seq,
        "lon": photo.lon,
        "lat": photo.lat,
        "taken_at": iso(photo.taken_at),
        "uploaded_at": iso(photo.uploaded_at),
    }


def actions_for(session: Session, actor: Actor, event: GridEvent) -> list[str]:
    """The workflow actions ``actor`` may take on ``event`` now."""
    return [t.action for t in actions_from(event.state) if may(session, actor, event, t.role)]


def event_detail(session: Session, actor: Actor, event: GridEvent) -> dict[str, Any]:
    """One event with its departments, photos and the actions the actor may take."""
    rows = session.execute(
        select(EventDepartment, Organization.code, Organization.name)
        .join(Organization, Organization.id == EventDepartment.department_id)
        .where(EventDepartment.event_id == event.id)
        .order_by(EventDepartment.lead.desc(), EventDepartment.id)
    ).all()
    departments = [
        {
            "code": code,
            "name": name,
            "lead": d.lead,
            "active": d.active,
            "dispatched_at": iso(d.dispatched_at),
            "acknowledged_at": iso(d.acknowledged_at),
            "acknowledged_by": d.acknowledged_by,
        }
        for d, code, name in rows
    ]
    return {
        **events_out(session, actor, [event])[0],
        "departments": departments,
        "photos": [photo_out(p) for p in list_photos(session, event.id)],
        "actions": actions_for(session, actor, event),
    }


def steps_out(session: Session, steps: Sequence[EventStep]) -> list[dict[str, Any]]:
    """The timeline for those who may see the event: who, which organization, notes."""
    orgs = _by_id(session, Organization, {s.org_id for s in steps if s.org_id}, Organization.code)
    return [
        {
            "seq": s.seq,
            "action": s.action,
            "from_state": s.from_state,
            "to_state": s.to_state,
            "actor": s.actor_name,
            "org": orgs[s.org_id][0] if s.org_id else None,
            "note": s.note,
            "data": s.data,
            "at": iso(s.at),
        }
        for s in steps
    ]


def _notice_out(notice: EventNotice, was_read: dt.datetime | None) -> dict[str, Any]:
    """A notice with only what is meant for the follower: the note and a merge target."""
    params = notice.params or {}
    return {
        "kind": notice.kind,
        "note": params.get("note") or None,
        "merged_into": params.get("merged_into"),
        "created_at": iso(notice.created_at),
        "read_at": iso(was_read),
        "new": was_read is None,
    }


def follow_view(session: Session, event: GridEvent, follower: EventFollower) -> dict[str, Any]:
    """What a follower sees: the state and a public timeline, no personal data (the
    description only for its own reporter), and their notices — read or ``new``."""
    category = session.get(EventCategory, event.category_id)
    assert category is not None
    own = is_reporter(event, follower)
    steps = [
        {
            "seq": s.seq,
            "action": s.action,
            "state": s.to_state,
            "at": iso(s.at),
            "note": s.note if s.action in PUBLIC_NOTES and s.note else None,
        }
        for s in timeline(session, event)
    ]
    notices = notices_for(session, follower)
    return {
        "event": {
            "id": event.id,
            "category": category.code,
            "category_name": category.name,
            "category_name_en": category.name_en,
            "state": event.state,
            "open": event.open,
            "address": event.address if own else None,
            "description": event.description if own else None,
            "merged_into": event.merged_into_id,
            "rating": event.rating,
            "rating_comment": event.rating_comment if own else None,
            "rated_at": iso(event.rated_at),
            "reported_at": iso(event.reported_at),
            "closed_at": iso(event.closed_at),
        },
        "steps": steps,
        "photos": [
            {
                "sha256": p.sha256,
                "url": f"{PREFIX}/{event.id}/photos/{p.sha256}",
                "media_type": p.media_type,
                "step_seq": p.step_seq,
            }
            for p in list_photos(session, event.id)
        ],
        "notices": [_notice_out(n, n.read_at) for n in notices],
        "can_rate": own and event.state == "closed",
    }
