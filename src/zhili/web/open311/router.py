"""The GeoReport v2 endpoints: ``services``, a service definition, ``POST requests``,
``GET requests`` and one request, each as ``.json`` or ``.xml``, plus the discovery
document. Thin: the catalogue, the report and its checks are grid governance's own
(`apps.grid.categories`, `apps.grid.events`); this module only speaks Open311.

Every error under ``/open311/`` is answered in the spec's format — a list of
``{code, description}`` with 400, 403 or 404 — by `error_response`, which
`web.problems` hands them to, so a refused report rolls its transaction back like any
other request. ``jurisdiction_id`` may be left out or be the city's code (the root grid
area's); anything else is 404. ``api_key`` is optional: a zhili API token with the scope
``grid:report`` makes the report its owner's (a grid worker's is dispatched at once),
without one the report is an anonymous resident's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload
from starlette.concurrency import run_in_threadpool

from zhili.access import Actor, Role
from zhili.apps.grid.answers import answers_from_form, list_codes
from zhili.apps.grid.categories import (
    get_category,
    list_categories,
    open311_definition,
    open311_service,
)
from zhili.apps.grid.event_models import EventStep, GridEvent, Source
from zhili.apps.grid.events import EventReport, report_event
from zhili.apps.grid.models import EventCategory, GridArea
from zhili.calendar.service import WorkCalendar
from zhili.errors import Forbidden, InvalidInput, NotFound
from zhili.i18n import translate
from zhili.identity.tokens import resolve_token
from zhili.web.deps import CurrentActor, DbSession, authorize
from zhili.web.open311 import mapping, xml

router = APIRouter(prefix="/open311/v2", tags=["open311"])
READ = [Depends(authorize("grid.open311.read"))]
REPORT = [Depends(authorize("grid.report"))]
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
SPEC = "http://wiki.open311.org/GeoReport_v2"
MAX_REQUESTS = 1000
SPAN = dt.timedelta(days=90)
MAX_MEDIA_URL = 500


# --- answering ----------------------------------------------------------------------------


def _format(value: str) -> str:
    if value not in FORMATS:
        raise NotFound(
            "open311.bad_format",
            "{format} is not a format here; use json or xml",
            format=value[:32],
        )
    return value


def _respond(fmt: str, root: str, content: Any, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(xml.document(root, content), status, media_type=FORMATS["xml"])
    return JSONResponse(content, status, media_type=FORMATS["json"])


def error_response(request: Request, status: int, detail: str) -> Response:
    """An error in the spec's format: 422 (refused input) and 409 are 400, 401 (a bad
    api_key) is 403; the format follows the path's suffix (JSON when it has none)."""
    if status in (401, 403):
        status = 403
    elif 400 <= status < 500 and status != 404:
        status = 400
    fmt = "xml" if request.url.path.endswith(".xml") else "json"
    return _respond(fmt, "errors", [{"code": status, "description": detail}], status)


def _setup(request: Request, session: Session, fmt: str, params: Mapping[str, Any]) -> str:
    """Check the format and jurisdiction; the response language (also for errors)."""
    _format(fmt)
    locale = mapping.locale_of(params.get("locale"), request.headers.get("accept-language"))
    request.state.locale = locale
    jurisdiction = params.get("jurisdiction_id")
    if jurisdiction:
        roots = list(session.scalars(select(GridArea.code).where(GridArea.parent_id.is_(None))))
        if jurisdiction not in roots:
            raise NotFound(
                "open311.bad_jurisdiction", "jurisdiction_id {value} not found; valid: {valid}",
                value=str(jurisdiction)[:64], valid=", ".join(roots) or "-",
            )  # fmt: skip
    return locale


# --- services -----------------------------------------------------------------------------


@router.get("/discovery.{format}", dependencies=READ)
def discovery(format: str, request: Request, session: DbSession) -> Response:
    """The spec's service discovery document: this one production endpoint."""
    _setup(request, session, format, request.query_params)
    base = str(request.url_for("services", format="json")).rsplit("/", 1)[0]
    endpoint = {"specification": SPEC, "url": base, "changeset": None, "type": "production",
                "formats": ["text/xml", "application/json"]}  # fmt: skip
    doc = {"changeset": None, "contact": "", "key_service": "", "endpoints": [endpoint]}
    return _respond(format, "discovery", doc)


@router.get("/services.{format}", dependencies=READ, name="services")
def services(format: str, request: Request, session: DbSession) -> Response:
    """The active categories of the event catalogue, as services."""
    locale = _setup(request, session, format, request.query_params)
    rows = [open311_service(c, locale) for c in list_categories(session)]
    return _respond(format, "services", rows)


@router.get("/services/{service_code}.{format}", dependencies=READ)
def service_definition(
    service_code: str, format: str, request: Request, session: DbSession
) -> Response:
    """A category's report form as the service definition (404 for an unknown code)."""
    locale = _setup(request, session, format, request.query_params)
    category = get_category(session, service_code)
    return _respond(format, "service_definition", open311_definition(category, locale))


# --- POST requests ------------------------------------------------------------------------


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _reporter(session: Session, actor: Actor, api_key: str, ip: str | None) -> Actor:
    """The api_key's owner, else whoever called (a bearer token, a session, anonymous).
    A token must carry ``grid:report``: a read-only token does not report as its owner."""
    owner = resolve_token(session, api_key, ip) if api_key else actor
    if owner.scopes is not None and "grid:report" not in owner.scopes:
        raise Forbidden("open311.key_scope", "this api_key lacks the scope grid:report")
    return owner


def _spot(form: Mapping[str, Any]) -> tuple[float, float]:
    lat, lon = _text(form, "lat"), _text(form, "long")
    if not lat or not lon:
        raise InvalidInput(
            "open311.location_required",
            "send lat and long: a report is placed on the grid by its spot",
            field="lat",
        )
    try:
        return float(lon), float(lat)  # ranges and NaN: report_event checks
    except ValueError:
        raise InvalidInput(
            "grid.report_bad_spot", "the spot ({lon}, {lat}) is not a longitude and latitude",
            field="lat", lon=lon[:32], lat=lat[:32],
        ) from None  # fmt: skip


def _description(form: Mapping[str, Any], fallback: str) -> str:
    """The reporter's words (the service's name when they wrote none), with the URL of
    the photo they hosted elsewhere appended: we never fetch it."""
    text = _text(form, "description") or fallback
    url = _text(form, "media_url")
    if url:
        if not url.startswith(("http://", "https://")) or len(url) > MAX_MEDIA_URL:
            raise InvalidInput(
                "open311.bad_media_url", "media_url must be an http(s) URL of at most {max} "
                "characters", field="media_url", max=MAX_MEDIA_URL,
            )  # fmt: skip
        text = f"{text}\nmedia_url: {url}"
    return text


def _create(
    session: Session, actor: Actor, form: Mapping[str, Any], items: list[tuple[str, Any]],
    ip: str | None,
) -> GridEvent:  # fmt: skip
    service_code = _text(form, "service_code")
    if not service_code:
        raise InvalidInput("open311.missing_field", "{field} is required", field="service_code")
    reporter = _reporter(session, actor, _text(form, "api_key"), ip)
    category = get_category(session, service_code)
    lon, lat = _spot(form)
    name = " ".join(p for p in (_text(form, "first_name"), _text(form, "last_name")) if p)
    contact = " / ".join(p for p in (_text(form, "email"), _text(form, "phone")) if p)
    worker = reporter.user_id is not None and Role.grid_worker in reporter.roles
    spec = EventReport(
        category=category.code, lon=lon, lat=lat,
        description=_description(form, category.name),
        answers=answers_from_form(items, list_codes(category)),
        address=_text(form, "address_string"),
        source=Source.grid_worker if worker else Source.open311,
        reporter_name=name or None, reporter_contact=contact or None,
    )  # fmt: skip
    reported = report_event(session, reporter, spec, WorkCalendar.from_session(session))
    return reported.event


def _created(session: Session, event: GridEvent, locale: str) -> dict[str, Any]:
    """The POST answer: the new id and what happens next (no account ids here)."""
    notice = translate("open311.notice.received", locale)
    if event.lead_department is not None:  # dispatched at once
        notice = mapping.status_notes(event, locale)
    if due := mapping.service_notice(event, locale):
        notice = f"{notice} {due}"
    return {"service_request_id": str(event.id), "service_notice": notice, "account_id": None}


@router.post("/requests.{format}", dependencies=REPORT, status_code=201)
async def create_request(
    format: str, request: Request, session: DbSession, actor: CurrentActor
) -> Response:
    """Report a problem (form-encoded, as the spec has it). Needs ``lat`` and ``long``."""
    form = await request.form()
    items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    params = {**request.query_params, **dict(items)}
    ip = request.client.host if request.client else None

    def work() -> dict[str, Any]:  # the database work, off the event loop
        locale = _setup(request, session, format, params)
        return _created(session, _create(session, actor, params, items, ip), locale)

    row = await run_in_threadpool(work)
    return _respond(format, "service_requests", [row], 201)


# --- GET requests -------------------------------------------------------------------------


def _is_id(text: str) -> bool:
    return text.isdigit() and len(text) <= 9  # an integer column's range, on every backend


def _ids(value: str) -> list[int]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if len(parts) > MAX_REQUESTS:
        raise InvalidInput(
            "open311.too_many_ids", "at most {max} service_request_id values",
            field="service_request_id", max=MAX_REQUESTS,
        )  # fmt: skip
    if not all(_is_id(p) for p in parts):
        bad = next(p for p in parts if not _is_id(p))
        raise InvalidInput(
            "open311.bad_id", "service_request_id {value} is not a request number",
            field="service_request_id", value=bad[:64],
        )  # fmt: skip
    return [int(p) for p in parts]


def _window(params: Mapping[str, str]) -> tuple[dt.datetime, dt.datetime]:
    """start_date … end_date: the most recent 90 days by default, never more than 90."""
    start = params.get("start_date")
    end = params.get("end_date")
    until = mapping.parse_w3c(end, "end_date") if end else None
    since = mapping.parse_w3c(start, "start_date") if start else None
    if until is None:
        until = since + SPAN if since else dt.datetime.now(dt.UTC)
    since = since or until - SPAN
    if until < since or until - since > SPAN:
        raise InvalidInput(
            "open311.bad_range", "start_date to end_date may span at most {days} days",
            field="start_date", days=SPAN.days,
        )  # fmt: skip
    return since, until


def _query(session: Session, params: Mapping[str, str]) -> list[GridEvent]:
    stmt = select(GridEvent).options(
        joinedload(GridEvent.category), joinedload(GridEvent.lead_department),
        joinedload(GridEvent.command_area).joinedload(GridArea.org),
    )  # fmt: skip
    if params.get("service_request_id"):
        stmt = stmt.where(GridEvent.id.in_(_ids(params["service_request_id"])))
    else:
        since, until = _window(params)
        stmt = stmt.where(GridEvent.reported_at >= since, GridEvent.reported_at <= until)
        codes = [c.strip() for c in params.get("service_code", "").split(",") if c.strip()]
        if codes:
            stmt = stmt.join(GridEvent.category).where(EventCategory.code.in_(codes))
        statuses = {s.strip() for s in params.get("status", "").split(",") if s.strip()}
        if statuses - {"open", "closed"}:
            raise InvalidInput(
                "open311.bad_status", "status {value} is not open or closed", field="status",
                value=", ".join(sorted(statuses - {"open", "closed"}))[:64],
            )  # fmt: skip
        if len(statuses) == 1:
            stmt = stmt.where(GridEvent.open.is_("open" in statuses))
    stmt = stmt.order_by(GridEvent.reported_at.desc(), GridEvent.id.desc()).limit(MAX_REQUESTS)
    return list(session.scalars(stmt).unique())


def _last_steps(session: Session, events: list[GridEvent]) -> dict[int, dt.datetime]:
    """When each event last moved: its updated_datetime."""
    ids = [e.id for e in events]
    if not ids:
        return {}
    rows = session.execute(
        select(EventStep.event_id, func.max(EventStep.at))
        .where(EventStep.event_id.in_(ids))
        .group_by(EventStep.event_id)
    )
    return {event_id: at for event_id, at in rows}


def _requests_out(session: Session, events: list[GridEvent], locale: str) -> list[dict[str, Any]]:
    updated = _last_steps(session, events)
    return [mapping.request_out(e, locale, updated.get(e.id)) for e in events]


@router.get("/requests.{format}", dependencies=READ)
def get_requests(format: str, request: Request, session: DbSession) -> Response:
    """Requests by id (comma-separated; the other filters are then ignored), or by
    service_code, status and requested_datetime window; newest first, at most 1000."""
    params = dict(request.query_params)
    locale = _setup(request, session, format, params)
    events = _query(session, params)
    return _respond(format, "service_requests", _requests_out(session, events, locale))


@router.get("/requests/{service_request_id}.{format}", dependencies=READ)
def get_request(
    service_request_id: str, format: str, request: Request, session: DbSession
) -> Response:
    """One request, as a list of one (the spec's shape); 404 when there is none."""
    locale = _setup(request, session, format, request.query_params)
    found = _is_id(service_request_id)
    event = session.get(GridEvent, int(service_request_id)) if found else None
    if event is None:
        raise NotFound(
            "open311.request_not_found", "no service request {id}", id=service_request_id[:64]
        )
    return _respond(format, "service_requests", _requests_out(session, [event], locale))
