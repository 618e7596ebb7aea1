"""Grid events over HTTP (事件): report (anonymously too, with photos), list, map points,
one event with the actions one may take, its timeline, act on it (with photos), its
photos, follow it, the follower's view, rate it, import 12345 hotline tickets.

Thin: the services (``apps.grid.events``, ``citizens``, ``hotline``, ``attachments``)
decide who may do what; this module reads JSON or multipart bodies, stores a step's photos
in the step's own transaction (a bad photo refuses the whole request) and shapes output
(``grid_event_views``). Everything a resident may call without an account is guarded by
``grid.report``: reporting, duplicates nearby, the follower's view, photos and rating by
the secret follow token.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from starlette.datastructures import UploadFile

from zhili.access import Actor
from zhili.apps.grid import citizens, hotline
from zhili.apps.grid.answers import answers_from_form
from zhili.apps.grid.attachments import MAX_PHOTOS_PER_STEP, PhotoUpload, photo_path, store_photos
from zhili.apps.grid.categories import get_category
from zhili.apps.grid.duplicates import distance_m, nearby_open
from zhili.apps.grid.event_models import Attachment, GridEvent, Source
from zhili.apps.grid.events import Action, EventReport, act, get_event, report_event, timeline
from zhili.apps.grid.queries import MAX_LIMIT, EventFilter, list_events, open_points
from zhili.apps.grid.workflow import TRANSITIONS
from zhili.calendar.service import WorkCalendar
from zhili.clock import CITY_TZ
from zhili.errors import InvalidInput, NotFound
from zhili.web.api.grid_event_views import (
    PREFIX,
    event_detail,
    events_out,
    follow_view,
    iso,
    steps_out,
)
from zhili.web.deps import CurrentActor, DbSession, SettingsDep, authorize

router = APIRouter(prefix=PREFIX, tags=["grid"])
PUBLIC = [Depends(authorize("grid.report"))]
READ = [Depends(authorize("grid.event.read"))]
COMMAND = [Depends(authorize("grid.command"))]
MAX_ID = 2**31 - 1
EventId = Annotated[int, Path(ge=1, le=MAX_ID)]
#: sources a report over this API may claim (hotline and Open311 have their own doors)
API_SOURCES = (Source.public, Source.api, Source.grid_worker)
MAX_CSV_BYTES = 20 * 1024 * 1024


class ReportBody(BaseModel):
    """A report: the category (service code), the spot, what is wrong, the answers to the
    category's questions; optionally where, who to call back and the client's own id."""

    model_config = ConfigDict(extra="forbid")
    category: str = Field(min_length=1, max_length=32)
    lon: float
    lat: float
    description: str = Field(max_length=10_000)
    answers: dict[str, Any] = Field(default_factory=dict)
    address: str = Field(default="", max_length=1000)
    source: str | None = Field(default=None, max_length=16)
    external_id: str | None = Field(default=None, max_length=200)
    reporter_name: str | None = Field(default=None, max_length=1000)
    reporter_contact: str | None = Field(default=None, max_length=1000)


class ActionBody(BaseModel):
    """One workflow action: its name and what it needs (a reason, departments …)."""

    model_config = ConfigDict(extra="forbid")
    action: str = Field(min_length=1, max_length=20)
    note: str = Field(default="", max_length=10_000)
    departments: list[str] = Field(default_factory=list, max_length=50)
    lead: str | None = Field(default=None, max_length=64)
    merge_into: int | None = Field(default=None, ge=1, le=MAX_ID)


class RatingBody(BaseModel):
    """A rating 1–5 with an optional comment; ``token``: the anonymous reporter's secret."""

    model_config = ConfigDict(extra="forbid")
    rating: int
    comment: str | None = Field(default=None, max_length=5000)
    token: str | None = Field(default=None, max_length=200)


def _body_doc(model: type[BaseModel], multipart: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": model.model_json_schema()}}
    if multipart:
        schema = model.model_json_schema()
        schema["properties"]["photos"] = {
            "type": "array", "items": {"type": "string", "format": "binary"},
        }  # fmt: skip
        content["multipart/form-data"] = {"schema": schema}
    return {"requestBody": {"required": True, "content": content}}


async def _read(
    request: Request, model: type[BaseModel], lists: tuple[str, ...] = ()
) -> tuple[Any, list[PhotoUpload]]:
    """The body as ``model`` — JSON, or form fields with up to 9 ``photos`` files."""
    ctype = request.headers.get("content-type", "")
    photos: list[PhotoUpload] = []
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await request.form(max_files=MAX_PHOTOS_PER_STEP + 1)
        data: dict[str, Any] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "photos":
                    continue
                if len(photos) == MAX_PHOTOS_PER_STEP:
                    raise InvalidInput(
                        "grid.photo_too_many",
                        "A step may carry at most {limit} photos; it has {already} and "
                        "{count} more were sent.",
                        limit=MAX_PHOTOS_PER_STEP, already=0, count=len(photos) + 1,
                    )  # fmt: skip
                raw = await value.read(request.app.state.settings.grid_photo_max_bytes + 1)
                photos.append(PhotoUpload(raw, value.filename or "", value.content_type))
            elif key in lists:
                data.setdefault(key, []).extend(v for v in value.split(",") if v.strip())
            elif key == "answers":
                data[key] = _json(value, "answers")
            elif not key.startswith(("attribute[", "csrf_token")):
                data[key] = value
        answers = answers_from_form(form.multi_items())
        if answers and model is ReportBody:
            data["answers"] = {**data.get("answers", {}), **answers}
    else:
        data = _json(await request.body(), "body")
    try:
        return model.model_validate(data), photos
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


def _json(raw: str | bytes, field: str) -> Any:
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "grid.bad_json", "the {field} is not JSON: {reason}", field=field, reason=str(exc)
        ) from None


def _city_time(value: dt.datetime | None) -> dt.datetime | None:
    """A query's time; one without offset is the city's time."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=CITY_TZ)
    return value


# --- report and lists ------------------------------------------------------------------


@router.post("", dependencies=PUBLIC, openapi_extra=_body_doc(ReportBody, True), status_code=201)
async def report(
    request: Request, actor: CurrentActor, session: DbSession, settings: SettingsDep
) -> JSONResponse:
    """Report a problem, anonymously too: 201 with the event, open events of the category
    within 50 m (``duplicates``) and how to follow it (the anonymous reporter's secret
    ``token`` appears only here). Photos (multipart ``photos``) are stored with it or the
    whole report is refused with the photo's problem."""
    body, photos = await _read(request, ReportBody)

    def run() -> JSONResponse:
        source = body.source or (Source.api if actor.is_authenticated else Source.public)
        allowed = API_SOURCES if actor.is_authenticated else (Source.public,)
        if source not in allowed:
            raise InvalidInput(
                "grid.report_bad_source", "source {value!r} is not one of {valid}",
                field="source", value=source, valid=", ".join(allowed),
            )  # fmt: skip
        spec = EventReport(
            category=body.category, lon=body.lon, lat=body.lat, description=body.description,
            answers=body.answers, address=body.address, source=source,
            external_id=body.external_id, reporter_name=body.reporter_name,
            reporter_contact=body.reporter_contact,
        )  # fmt: skip
        done = report_event(session, actor, spec, WorkCalendar.from_session(session))
        event = done.event
        if photos:
            store_photos(
                session, event, photos, uploaded_by=actor.username or "anonymous",
                step_seq=1, home=settings.home,
            )  # fmt: skip
        follow: dict[str, Any] = {"url": f"{PREFIX}/{event.id}/follow"}
        if done.follow_token:
            follow = {
                "token": done.follow_token,
                "url": f"{follow['url']}?token={done.follow_token}",
            }
        out = {
            "event": events_out(session, actor, [event])[0],
            "duplicates": [
                {
                    "id": d.id,
                    "state": d.state,
                    "distance_m": round(distance_m(event.lon, event.lat, d.lon, d.lat), 1),
                }
                for d in done.duplicates
            ],
            "follow": follow,
            "photos": len(photos),
        }
        session.commit()
        return JSONResponse(out, status_code=201, headers={"Location": f"{PREFIX}/{event.id}"})

    return await run_in_threadpool(run)


@router.get("", dependencies=READ)
def list_(
    actor: CurrentActor,
    session: DbSession,
    box: str = "all",
    state: str | None = None,
    category: str | None = None,
    area: str | None = None,
    overdue: bool = False,
    supervised: bool = False,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    order: str = "due",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict[str, Any]:
    """The events one may see, by box (``command`` board, ``department`` inbox, ``grid``,
    ``mine``) and filters; ``total`` counts all that match."""
    f = EventFilter(
        box=box, state=state, category=category, area=area, overdue=overdue,
        supervised=supervised, since=_city_time(since), until=_city_time(until), order=order,
        limit=limit, offset=offset,
    )  # fmt: skip
    rows, total = list_events(session, actor, f)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "items": events_out(session, actor, rows),
    }


@router.get("/nearby", dependencies=PUBLIC)
def nearby(
    session: DbSession,
    category: Annotated[str, Query(min_length=1, max_length=32)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
) -> list[dict[str, Any]]:
    """Open events of the category within 50 m, nearest first — before reporting, so a
    resident can follow one instead. Only id, state, category and distance."""
    found = get_category(session, category)
    return [
        {"id": e.id, "state": e.state, "category": found.code,
         "distance_m": round(distance_m(lon, lat, e.lon, e.lat), 1)}
        for e in nearby_open(session, found.id, lon, lat)
    ]  # fmt: skip


@router.get("/points", dependencies=READ)
def points(
    actor: CurrentActor,
    session: DbSession,
    state: str = "open",
    category: str | None = None,
    area: str | None = None,
    box: str = "all",
) -> list[dict[str, Any]]:
    """The matching events one may see as map points (default: the open ones)."""
    f = EventFilter(box=box, state=state, category=category, area=area)
    return [
        {"id": i, "lon": x, "lat": y, "state": s, "category": c}
        for i, x, y, s, c in open_points(session, actor, f)
    ]


@router.post("/hotline", dependencies=COMMAND)
async def import_hotline(request: Request, actor: CurrentActor, session: DbSession) -> Any:
    """Import a 12345 hotline CSV export (multipart ``file``, or the CSV as the body):
    all new tickets or none; known tickets are counted as ``duplicates``."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("grid.hotline_no_file", "upload the CSV as {field}", field="file")
        data = await upload.read(MAX_CSV_BYTES + 1)
    else:
        data = await request.body()
    if not data:
        raise InvalidInput("grid.hotline_no_file", "upload the CSV as {field}", field="file")
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput(
            "grid.file_too_large", "the file exceeds {mb} MB", field="file",
            mb=MAX_CSV_BYTES // 2**20,
        )  # fmt: skip

    def run() -> dict[str, Any]:
        done = hotline.import_hotline(session, actor, data, WorkCalendar.from_session(session))
        session.commit()
        return {
            "created": done.created,
            "duplicates": done.duplicates,
            "event_ids": done.event_ids,
            "duplicate_tickets": done.duplicate_tickets,
        }

    return await run_in_threadpool(run)


# --- one event ---------------------------------------------------------------------------


@router.get("/{event_id}", dependencies=READ)
def one(event_id: EventId, actor: CurrentActor, session: DbSession) -> dict[str, Any]:
    """One event with its departments, photos and the ``actions`` one may take now."""
    return event_detail(session, actor, get_event(session, actor, event_id))


@router.get("/{event_id}/steps", dependencies=READ)
def steps(event_id: EventId, actor: CurrentActor, session: DbSession) -> list[dict[str, Any]]:
    """The event's timeline, oldest first."""
    return steps_out(session, timeline(session, get_event(session, actor, event_id)))


@router.post("/{event_id}/actions", dependencies=READ, openapi_extra=_body_doc(ActionBody, True))
async def take_action(
    event_id: EventId,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Take a workflow action; handle, verify and reopen may carry photos (multipart
    ``photos``), attached to the new step. Refusals: 403 ``grid.not_yours``, 409
    ``grid.wrong_state`` / ``grid.event_changed``, 422 naming the field."""
    body, photos = await _read(request, ActionBody, lists=("departments",))
    transition = TRANSITIONS.get(body.action)
    if photos and transition is not None and not transition.photos:
        raise InvalidInput(
            "grid.photo_not_allowed", "{action} takes no photos", field="photos",
            action=body.action,
        )  # fmt: skip

    def run() -> dict[str, Any]:
        spec = Action(
            body.action, note=body.note, departments=body.departments, lead=body.lead,
            merge_into=body.merge_into,
        )  # fmt: skip
        event = act(session, actor, event_id, spec, WorkCalendar.from_session(session))
        if photos:
            store_photos(
                session, event, photos, uploaded_by=actor.username or "api",
                step_seq=event.seq, home=settings.home,
            )  # fmt: skip
        session.commit()
        return event_detail(session, actor, event)

    return await run_in_threadpool(run)


@router.get("/{event_id}/photos/{sha}", dependencies=PUBLIC)
def photo(
    event_id: EventId,
    sha: Annotated[str, Path(pattern="^[0-9a-f]{64}$")],
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    token: Annotated[str | None, Query(max_length=200)] = None,
) -> FileResponse:
    """A photo of an event one may see, or follows by its token (``?token=``); 404 for
    anyone else, so neither the event nor the photo is disclosed."""
    if token:
        citizens.follow_by_token(session, event_id, token)
    elif actor.is_authenticated:
        get_event(session, actor, event_id)
    else:
        raise NotFound("grid.event_not_found", "no event {id}", id=event_id)
    found = session.scalar(
        select(Attachment).where(Attachment.event_id == event_id, Attachment.sha256 == sha)
    )
    path = photo_path(settings.home, found) if found is not None else None
    if found is None or path is None or not path.is_file():
        raise NotFound(
            "grid.photo_not_found", "event {id} has no photo {sha}", id=event_id, sha=sha
        )
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"}
    return FileResponse(path, media_type=found.media_type, headers=headers)


# --- followers -----------------------------------------------------------------------------


def _follower(session: Any, actor: Actor, event_id: int, token: str | None) -> Any:
    if token:
        return citizens.follow_by_token(session, event_id, token)
    if actor.is_authenticated:
        return citizens.following(session, actor, event_id)
    raise NotFound("grid.follow_not_found", "no event {id} with this follow link", id=event_id)


@router.post("/{event_id}/follow", dependencies=READ)
def follow(event_id: EventId, actor: CurrentActor, session: DbSession) -> JSONResponse:
    """Follow an event one may see, to be told when it is closed, rejected or merged:
    201 when new, 200 when already following."""
    row, created = citizens.follow(session, actor, event_id)
    event = session.get(GridEvent, event_id)
    assert event is not None
    view = follow_view(session, event, row)
    session.commit()
    return JSONResponse(view, status_code=201 if created else 200)


@router.get("/{event_id}/follow", dependencies=PUBLIC)
def follower_view(
    event_id: EventId,
    actor: CurrentActor,
    session: DbSession,
    token: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """The follower's view (the follow token, or one's account): the state, a public
    timeline and the notices, which this view marks read (``new`` until then)."""
    row = _follower(session, actor, event_id, token)
    event = session.get(GridEvent, event_id)
    assert event is not None
    view = follow_view(session, event, row)
    citizens.mark_read(session, row)
    session.commit()
    return view


@router.post("/{event_id}/rating", dependencies=PUBLIC, openapi_extra=_body_doc(RatingBody, False))
async def rating(
    event_id: EventId, request: Request, actor: CurrentActor, session: DbSession
) -> dict[str, Any]:
    """Rate a closed event 1–5 (the reporter: by the follow ``token`` or signed in)."""
    body, _ = await _read(request, RatingBody)

    def run() -> dict[str, Any]:
        row = _follower(session, actor, event_id, body.token)
        event = citizens.rate(session, row, event_id, body.rating, body.comment, actor=actor)
        session.commit()
        return {
            "id": event.id,
            "rating": event.rating,
            "comment": event.rating_comment,
            "rated_at": iso(event.rated_at),
        }

    return await run_in_threadpool(run)
