"""Our events as GeoReport v2 service requests — the public view.

Open311 knows two states; ours are richer. ``status`` is ``closed`` for closed, rejected
and merged events and ``open`` otherwise; ``status_notes`` says where the event stands in
the request's language, from its state and lead department (never a step's free-text
note, which is written for colleagues). Nothing personal is ever written: no reporter
name, contact, account, follower or answer. What the reporter wrote (``description``,
``address``) is shown only once a command centre has registered the event — screened by
a person — and the spot of an unscreened report is rounded to about 100 m, so a report
from someone's doorstep does not publish the doorstep. Photos are served only to those
who may see the event natively, so ``media_url`` stays empty.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from zhili.apps.grid.event_models import EventState, GridEvent
from zhili.clock import CITY_TZ
from zhili.errors import InvalidInput
from zhili.i18n import negotiate, translate

#: states whose events a command centre has registered: the reporter's text is public
SCREENED = frozenset(
    {
        EventState.registered,
        EventState.dispatched,
        EventState.acknowledged,
        EventState.in_progress,
        EventState.handled,
        EventState.verified,
        EventState.closed,
    }
)
#: decimals of an unscreened spot (0.001° ≈ 100 m)
ROUGH = 3


def locale_of(param: str | None, accept_language: str | None) -> str:
    """The response language: a ``locale`` parameter (``en``, ``zh_CN`` …), else the
    Accept-Language header, else zh-CN."""
    tag = (param or "").strip().lower()
    if tag.startswith("en"):
        return "en"
    if tag.startswith("zh"):
        return "zh-CN"
    return negotiate(accept_language, None)


def w3c(moment: dt.datetime | None) -> str | None:
    """A time as the spec's w3c format, in the city's time with its offset."""
    if moment is None:
        return None
    return moment.astimezone(CITY_TZ).isoformat(timespec="seconds")


def parse_w3c(value: str, field: str) -> dt.datetime:
    """A w3c date/time parameter (``Z`` or an offset; none: the city's time)."""
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            "open311.bad_date", "{field}: {value} is not a w3c date and time",
            field=field, value=value,
        ) from None  # fmt: skip
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=CITY_TZ)
    return moment.astimezone(dt.UTC)


def _name(obj: Any, locale: str) -> str:
    return str((locale == "en" and getattr(obj, "name_en", None)) or obj.name)


def _command_centre(event: GridEvent, locale: str) -> str:
    area = event.command_area
    return _name(area.org if area.org is not None else area, locale)


def agency(event: GridEvent, locale: str) -> str:
    """The lead department, or before dispatch the command centre's organization (the
    area's name when it has none)."""
    if event.lead_department is not None:
        return _name(event.lead_department, locale)
    return _command_centre(event, locale)


def status_of(event: GridEvent) -> str:
    return "open" if event.open else "closed"


def status_notes(event: GridEvent, locale: str) -> str:
    """Where the event stands, e.g. ``已派遣至 城市管理委员会 (dispatched)``."""
    waiting = event.state in (EventState.reported, EventState.registered)  # also returned
    who = _command_centre(event, locale) if waiting else agency(event, locale)
    params: dict[str, Any] = {"department": who}
    if event.state == EventState.merged:
        params["into"] = event.merged_into_id or ""
    return translate(f"open311.notes.{event.state}", locale, **params)


def service_notice(event: GridEvent, locale: str) -> str:
    """What happens next: the current stage's deadline, when it has one."""
    if not event.open or event.stage_due_at is None:
        return ""
    return translate("open311.notice.due", locale, due=w3c(event.stage_due_at))


def request_out(
    event: GridEvent, locale: str, updated: dt.datetime | None = None
) -> dict[str, Any]:
    """One service request of ``GET requests``, fields in the spec's order; ``updated``
    is the time of its last step (the row's own timestamp otherwise)."""
    screened = event.state in SCREENED
    lat, lon = event.lat, event.lon
    if not screened:
        lat, lon = round(lat, ROUGH), round(lon, ROUGH)
    category = event.category
    return {
        "service_request_id": str(event.id),
        "status": status_of(event),
        "status_notes": status_notes(event, locale),
        "service_name": _name(category, locale),
        "service_code": category.code,
        "description": event.description if screened else None,
        "agency_responsible": agency(event, locale),
        "service_notice": service_notice(event, locale),
        "requested_datetime": w3c(event.reported_at),
        "updated_datetime": w3c(updated or event.updated_at),
        "expected_datetime": w3c(event.stage_due_at) if event.open else None,
        "address": (event.address or None) if screened else None,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": None,
    }
