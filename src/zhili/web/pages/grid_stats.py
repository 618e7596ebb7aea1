"""Statistics of grid governance on a page (统计分析): the headline figures, the events by
command level, area and category, the on-time rate and working time per stage, the
reporters' satisfaction, reported and closed per day, and a heat map — with ECharts,
the figures from ``zhili.apps.grid.stats`` narrowed to the events the viewer may see.

The charts get their data embedded in the page (one request, nothing to fetch but the
map's base layer); every chart has its table, which is what a phone or a screen reader
reads best.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from zhili.apps.grid import stats
from zhili.apps.grid.models import AREA_LEVELS
from zhili.errors import ZhiliError
from zhili.i18n import translate
from zhili.web.api.grid_stats import moment
from zhili.web.deps import CurrentActor, DbSession, Locale, authorize
from zhili.web.pages.grid_events import page

router = APIRouter(include_in_schema=False)
EVENT_READ = [Depends(authorize("grid.event.read"))]

#: bars a chart shows at most (the table lists every row)
TOP = 15
#: the levels a breakdown by area may use (a city has one area: nothing to compare)
AREA_BREAKDOWN = tuple(lv.value for lv in AREA_LEVELS if lv.value != "city")


def _label(row: dict[str, Any], locale: str) -> str:
    return str(row["name_en"] if locale == "en" and row.get("name_en") else row["name"])


def _charts(figures: dict[str, Any], locale: str, t: Any) -> dict[str, dict[str, Any]]:
    """Chart data for ``grid_events.js``: labels, values (or series) and a unit."""
    areas, categories = figures["areas"][:TOP], figures["categories"][:TOP]
    stages = figures["stages"]
    return {
        "level": {
            "labels": [t(f"grid.level.{r['level']}") for r in figures["levels"]],
            "series": [
                {"name": t("grid.stats.open"), "values": [r["open"] for r in figures["levels"]]},
                {
                    "name": t("grid.stats.closed"),
                    "values": [r["closed"] for r in figures["levels"]],
                },
            ],
        },
        "area": {
            "labels": [_label(r, locale) for r in areas],
            "values": [r["reported"] for r in areas],
            "name": t("grid.stats.reported"),
        },
        "category": {
            "labels": [_label(r, locale) for r in categories],
            "values": [r["reported"] for r in categories],
            "name": t("grid.stats.reported"),
        },
        "stage": {
            "labels": [t(f"grid.catalogue.stage.{r['stage']}") for r in stages],
            "series": [
                {
                    "name": t("grid.stats.mean_hours"),
                    "values": [_hours(r["mean_minutes"]) for r in stages],
                },
                {
                    "name": t("grid.stats.median_hours"),
                    "values": [_hours(r["p50_minutes"]) for r in stages],
                },
            ],
            "unit": t("grid.stats.hours"),
        },
        "day": {
            "labels": [r["day"] for r in figures["days"]],
            "series": [
                {
                    "name": t("grid.stats.reported"),
                    "values": [r["reported"] for r in figures["days"]],
                },
                {"name": t("grid.stats.closed"), "values": [r["closed"] for r in figures["days"]]},
            ],
            "line": True,
        },
    }


def _hours(minutes: float | None) -> float | None:
    return None if minutes is None else round(minutes / 60, 1)


@router.get("/grid/stats", dependencies=EVENT_READ)
def stats_page(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    locale: Locale,
    area: str = "",
    since: str = "",
    until: str = "",
    level: str = "district",
) -> Response:
    """Every breakdown at once for one area (default: the whole city) and period."""
    form = {"area": area[:32], "since": since[:25], "until": until[:25], "level": level}
    if level not in AREA_BREAKDOWN:
        form["level"] = "district"

    def t(key: str) -> str:
        return translate(key, locale)

    try:
        kw: dict[str, Any] = {
            "area": form["area"] or None,
            "since": moment(form["since"], "since"),
            "until": moment(form["until"], "until", end=True),
        }
        figures = {
            "overview": stats.overview(session, actor, **kw),
            "levels": stats.by_level(session, actor, **kw),
            "areas": stats.by_area(session, actor, level=form["level"], **kw),
            "categories": stats.by_category(session, actor, **kw),
            "stages": stats.time_per_stage(session, actor, **kw),
            "days": stats.per_day(session, actor, **kw),
            "heat": stats.heat(session, actor, **kw),
        }
    except ZhiliError as exc:
        context = {"form": form, "area_levels": AREA_BREAKDOWN, "error": exc.message(locale)}
        return page(request, "grid_stats.html", context, status_code=exc.status)
    context = {
        "form": form,
        "area_levels": AREA_BREAKDOWN,
        "error": None,
        "lang": locale,
        "hours": _hours,
        "charts": _charts(figures, locale, t),
        **figures,
    }
    return page(request, "grid_stats.html", context)
