"""Event pages (事件): the report form with a map to pick the spot, and one event's page —
its facts, point, answers, photos, departments and timeline, with the action forms the
viewer may take now.

Thin like the JSON API: a report calls ``events.report_event`` then
``attachments.store_photos`` in one transaction; an action calls ``events.act`` (and
stores the step's photos). A refused form is shown again as typed, the message next to
the field it names, with the error's status. The forms offered are ``actions_from``
the event's state filtered by ``visibility.may``, so a page offers only what the service
accepts. The board, inbox and map are in ``grid_board.py``, statistics in
``grid_stats.py``.

The report form works without an account (a resident's report is ``public``, and the
follow token is shown once), so the map's base layer and the spot's location come from
two small public routes here rather than the signed-in areas API.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from itertools import groupby
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.datastructures import UploadFile
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor, Role
from zhili.apps.grid import areas as area_service
from zhili.apps.grid.answers import answers_from_form, list_codes
from zhili.apps.grid.attachments import PhotoUpload, list_photos, store_photos
from zhili.apps.grid.categories import get_category, list_categories, responsible_department
from zhili.apps.grid.duplicates import nearby_open
from zhili.apps.grid.event_models import EventDepartment, EventState, GridEvent, Source
from zhili.apps.grid.events import Action, EventReport, act, get_event, report_event, timeline
from zhili.apps.grid.models import EventCategory
from zhili.apps.grid.visibility import can_see_event, may
from zhili.apps.grid.workflow import actions_from
from zhili.calendar.service import WorkCalendar
from zhili.clock import CITY_TZ
from zhili.errors import InvalidInput, NotFound, ZhiliError
from zhili.i18n import translate
from zhili.identity.models import Organization
from zhili.web.deps import CurrentActor, DbSession, Locale, SettingsDep, authorize
from zhili.web.templating import render

router = APIRouter(include_in_schema=False)
REPORT = [Depends(authorize("grid.report"))]
EVENT_READ = [Depends(authorize("grid.event.read"))]

#: fields of the report form an error may name (others show above the form)
REPORT_FIELDS = ("category", "description", "address", "lat", "photos", "reporter_contact")
#: fields of an action form an error may name
ACTION_FIELDS = ("note", "departments", "lead", "merge_into", "photos")
#: where an action's form may send the viewer back to
BACK_TO = ("/grid/board", "/grid/inbox", "/grid/events/")
#: what an anonymous reporter may leave so the city can reach them
REPORTER = ("reporter_name", "reporter_contact")
#: levels of the report map's base layer
BASE_LEVELS = ("district", "street")


def local(value: dt.datetime | None) -> str:
    """A timestamp in the city's time zone, to the minute ("—" when there is none)."""
    return value.astimezone(CITY_TZ).strftime("%Y-%m-%d %H:%M") if value else "—"


def name_of(thing: Any, locale: str) -> str:
    """The English name where the page is English and there is one."""
    if thing is None:
        return "—"
    english = getattr(thing, "name_en", None)
    return str(english if locale == "en" and english else thing.name)


def state_labels(locale: str) -> str:
    """The event states' names as JSON, for the pages' scripts."""
    names = {s.value: translate(f"grid.ev.state.{s.value}", locale) for s in EventState}
    return json.dumps(names, ensure_ascii=False)


def page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    """Render a grid event page with the helpers every one of them uses."""
    return render(
        request,
        template,
        {"local": local, "name_of": name_of, **context},
        status_code=status_code,
    )


def grouped_categories(session: Session, locale: str) -> list[tuple[str, list[EventCategory]]]:
    """Active categories by group, the group named in the page's language."""
    rows = list_categories(session)
    out = []
    for _, items in groupby(rows, key=lambda c: c.group):
        found = list(items)
        first = found[0]
        out.append((first.group_en if locale == "en" and first.group_en else first.group, found))
    return out


def departments(session: Session) -> list[Organization]:
    """Organizations a commander may dispatch to (吹哨): the departments, by code."""
    stmt = select(Organization).where(Organization.kind == "department")
    return list(session.scalars(stmt.order_by(Organization.code)))


def field_of(exc: ZhiliError, fields: tuple[str, ...], asked: set[str] = frozenset()) -> str:
    """The form field a refusal is about ("" for the top of the form)."""
    if exc.code.startswith("grid.photo_"):
        return "photos"
    attribute = exc.params.get("attribute")
    if attribute is not None and str(attribute) in asked:
        return "attr:" + str(attribute)
    named = str(exc.params.get("field") or "")
    if exc.code.startswith("grid.category") or named == "category":
        return "category" if "category" in fields else ""
    if named in ("lon", "lat") and "lat" in fields:
        return "lat"
    return named if named in fields else ""


async def uploads_of(request: Request, name: str = "photos") -> list[PhotoUpload]:
    """The photos posted under ``name`` (a browser sends an empty part when none)."""
    form = await request.form()
    found = []
    for item in form.getlist(name):
        if isinstance(item, str):
            continue
        upload: UploadFile = item
        data = await upload.read()
        if data or upload.filename:
            found.append(PhotoUpload(data, upload.filename or "", upload.content_type))
    return found


# --- the report form ----------------------------------------------------------------------


def _category_or_none(session: Session, code: str) -> EventCategory | None:
    """The active category ``code`` names, or None (the form then asks for one)."""
    if not code:
        return None
    try:
        found = get_category(session, code)
    except NotFound:
        return None
    return found if found.active else None


def _number(text: str) -> float:
    """A coordinate typed or set by the map; NaN when it is none (the service says so)."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _report_page(
    request: Request,
    session: Session,
    actor: Actor,
    locale: str,
    values: dict[str, Any],
    status_code: int = 200,
    **extra: Any,
) -> Response:
    category = _category_or_none(session, values.get("category", ""))
    context = {
        "groups": grouped_categories(session, locale),
        "category": category,
        "values": values,
        "answers": values.get("answers", {}),
        "errors": {},
        "error": None,
        "error_field": "",
        "as_worker": Role.grid_worker in actor.roles,
        "states_json": state_labels(locale),
        "lang": locale,
        **extra,
    }
    return page(request, "grid_report.html", context, status_code=status_code)


@router.get("/grid/report", dependencies=REPORT)
def report_page(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    locale: Locale,
    category: str = "",
    lon: str = "",
    lat: str = "",
) -> Response:
    """The report form; ``?category=`` shows that category's questions (the select
    swaps them in with htmx), ``?lon=&lat=`` pre-sets the spot."""
    values = {"category": category[:32], "lon": lon[:32], "lat": lat[:32]}
    return _report_page(request, session, actor, locale, values)


@router.post("/grid/report", dependencies=REPORT)
async def report_submit(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    locale: Locale,
    settings: SettingsDep,
) -> Response:
    """Report (上报) and attach the photos, all or nothing; then the confirmation with the
    event's number, possible duplicates and, for an anonymous reporter, the follow token."""
    form = await request.form()
    items = list(form.multi_items())

    def text(name: str, limit: int = 4000) -> str:
        value = form.get(name)
        return value.strip()[:limit] if isinstance(value, str) else ""

    values: dict[str, Any] = {
        k: text(k) for k in ("category", "description", "address", "lon", "lat", *REPORTER)
    }
    category = _category_or_none(session, values["category"])
    codes = list_codes(category) if category else []
    asked = (
        {a["code"] for a in category.attributes if a.get("variable", True)} if category else set()
    )
    values["answers"] = answers_from_form(items, codes)
    try:
        uploads = await uploads_of(request)
        if category is None:
            raise InvalidInput(
                "grid.report_no_category", "choose what kind of problem it is", field="category"
            )
        source = Source.grid_worker if Role.grid_worker in actor.roles else Source.public
        spec = EventReport(
            category=category.code,
            lon=_number(values["lon"]),
            lat=_number(values["lat"]),
            description=values["description"],
            answers=values["answers"],
            address=values["address"],
            source=source,
            reporter_name=values["reporter_name"] or None,
            reporter_contact=values["reporter_contact"] or None,
        )
        reported = report_event(session, actor, spec, WorkCalendar.from_session(session))
        if uploads:
            store_photos(
                session, reported.event, uploads, uploaded_by=actor.username or "public",
                step_seq=1, home=settings.home,
            )  # fmt: skip
    except ZhiliError as exc:
        session.rollback()
        where = field_of(exc, REPORT_FIELDS, asked)
        errors = {where[5:]: exc.message(locale)} if where.startswith("attr:") else {}
        return _report_page(
            request, session, actor, locale, values, status_code=exc.status, errors=errors,
            error=None if errors else exc.message(locale), error_field=where,
        )  # fmt: skip
    session.commit()
    event = reported.event
    context = {
        "event": event,
        "duplicates": reported.duplicates,
        "token": reported.follow_token,
        "may_see": actor.is_authenticated,
        "photos": len(uploads),
        "lang": locale,
    }
    return page(request, "grid_reported.html", context, status_code=201)


@router.get("/grid/report/areas.geojson", dependencies=REPORT)
def base_layer(session: DbSession) -> dict[str, Any]:
    """The report map's base layer: the city's districts and streets (the administrative
    divisions; no grids, so nothing finer than a 街道 is given to anonymous callers)."""
    found = [a for level in BASE_LEVELS for a in area_service.list_areas(session, level)]
    features = [
        {
            "type": "Feature",
            "id": a.code,
            "properties": {"code": a.code, "name": a.name, "name_en": a.name_en, "level": a.level},
            "geometry": a.geometry,
        }
        for a in found
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/grid/report/locate", dependencies=REPORT)
def locate_spot(
    session: DbSession,
    locale: Locale,
    lon: float = Query(ge=-180, le=180),
    lat: float = Query(ge=-90, le=90),
) -> dict[str, Any]:
    """Where the picked spot lies: the chain of area names from the district down (the
    form shows it so the reporter sees the right place was chosen); 404 outside."""
    area = area_service.locate(session, lon, lat)
    if area is None:
        raise NotFound(
            "grid.point_outside", "no area contains the point ({lon}, {lat})", lon=lon, lat=lat
        )
    chain = area_service.chain(session, area)
    return {
        "code": area.code,
        "chain": [{"code": a.code, "name": name_of(a, locale), "level": a.level} for a in chain],
    }


# --- one event ----------------------------------------------------------------------------


def _answers(event: GridEvent, locale: str) -> list[tuple[str, str]]:
    """(question, answer) in the form's order, list keys shown by their names."""
    out = []
    for a in event.category.attributes:
        if a["code"] not in event.answers:
            continue
        value = event.answers[a["code"]]
        names = {
            v["key"]: (v.get("name_en") if locale == "en" and v.get("name_en") else v["name"])
            for v in a.get("values", [])
        }
        shown = [names.get(v, v) for v in value] if isinstance(value, list) else [value]
        label = a.get("description_en") if locale == "en" and a.get("description_en") else None
        out.append((label or a.get("description") or a["code"], "、".join(map(str, shown))))
    return out


def event_context(session: Session, actor: Actor, event: GridEvent) -> dict[str, Any]:
    """What the event page shows, and the actions ``actor`` may take now."""
    allowed = [t for t in actions_from(event.state) if may(session, actor, event, t.role)]
    names = {t.action for t in allowed}
    rows = session.scalars(
        select(EventDepartment)
        .where(EventDepartment.event_id == event.id)
        .order_by(EventDepartment.lead.desc(), EventDepartment.id)
    ).all()
    suggested = None
    if names & {"dispatch", "transfer"}:
        suggested = responsible_department(session, event.category, event.area)
    merges: list[GridEvent] = []
    if "merge" in names:
        merges = [
            e
            for e in nearby_open(session, event.category_id, event.lon, event.lat, exclude=event.id)
            if can_see_event(session, actor, e)
        ]
    steps = timeline(session, event)
    return {
        "event": event,
        "chain": area_service.chain(session, event.area),
        "steps": steps,
        "photos": list_photos(session, event.id),
        "dept_rows": rows,
        "allowed": allowed,
        "departments": departments(session) if suggested is not None else [],
        "suggested": suggested,
        "merges": merges,
        "may_command": may(session, actor, event, "command"),
        "now": dt.datetime.now(dt.UTC),
    }


def _event_page(
    request: Request,
    session: Session,
    actor: Actor,
    locale: str,
    event_id: int,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    event = get_event(session, actor, event_id)
    context = {
        **event_context(session, actor, event),
        "answers": _answers(event, locale),
        "lang": locale,
        "form": {},
        "error": None,
        "error_field": "",
        "error_action": "",
        **extra,
    }
    return page(request, "grid_event.html", context, status_code=status_code)


@router.get("/grid/events/{event_id}", dependencies=EVENT_READ)
def event_page(
    request: Request, event_id: int, session: DbSession, actor: CurrentActor, locale: Locale
) -> Response:
    """One event: facts, point, answers, photos, departments, timeline and actions."""
    return _event_page(request, session, actor, locale, event_id)


def back_to(value: str, event_id: int) -> str:
    """A local page to go back to after an action (never another site)."""
    if value.startswith(BACK_TO) and "//" not in value and "\\" not in value:
        return value
    return f"/grid/events/{event_id}"


@router.post("/grid/events/{event_id}/act", dependencies=EVENT_READ)
async def event_act(
    request: Request,
    event_id: int,
    session: DbSession,
    actor: CurrentActor,
    locale: Locale,
    settings: SettingsDep,
) -> Response:
    """Take one workflow action from a form (the event page, board or inbox); the photos
    of handling and checking belong to the step it writes. Refused: the event page with
    the message next to the field of that action's form."""
    form = await request.form()

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip()[:4000] if isinstance(value, str) else ""

    chosen = [v.strip() for v in form.getlist("departments") if isinstance(v, str) and v.strip()]
    lead = text("lead") or None
    values = {"action": text("action")[:20], "note": text("note"), "departments": chosen}
    try:
        merge_into = int(text("merge_into")) if text("merge_into") else None
    except ValueError:
        merge_into = -1
    try:
        uploads = await uploads_of(request)
        spec = Action(
            values["action"], note=values["note"], departments=chosen,
            lead=lead if lead in chosen else (chosen[0] if chosen else None),
            merge_into=merge_into,
        )  # fmt: skip
        event = act(session, actor, event_id, spec, WorkCalendar.from_session(session))
        if uploads:
            store_photos(
                session, event, uploads, uploaded_by=actor.username or "-",
                step_seq=event.seq, home=settings.home,
            )  # fmt: skip
    except ZhiliError as exc:
        session.rollback()
        if exc.code == "grid.event_not_found":
            raise
        return _event_page(
            request, session, actor, locale, event_id, status_code=exc.status, form=values,
            error=exc.message(locale), error_field=field_of(exc, ACTION_FIELDS),
            error_action=values["action"],
        )  # fmt: skip
    session.commit()
    return RedirectResponse(back_to(text("next"), event_id), status_code=303)
