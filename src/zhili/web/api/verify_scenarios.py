"""Scenario templates (核验场景) over HTTP: list them with the inputs that fit the caller,
start one. Thin: `zhili.apps.verify.scenarios` checks everything; a started scenario is
an ordinary verification job, followed at ``/api/v1/verify/jobs/{id}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from zhili.apps.verify import scenarios as service
from zhili.apps.verify.rules import builtin_rule_sets
from zhili.apps.verify.scenarios import Candidate, Outcome, Scenario, Slot
from zhili.web.api.verify import accepted
from zhili.web.deps import CurrentActor, DbSession, Locale, SettingsDep, authorize

router = APIRouter(prefix="/api/v1/verify/scenarios", tags=["verify"])
READ = [Depends(authorize("verify.read"))]
RUN = [Depends(authorize("verify.run"))]


class ScenarioJobBody(BaseModel):
    """The resources of a scenario's slots: the ``roster`` and, per reference slot, a
    resource code (``{"deaths": "3-03-001-000001", …}``); see the scenario's
    ``candidates`` and ``default`` in ``GET /api/v1/verify/scenarios``."""

    roster: str = Field(max_length=40)
    references: dict[str, str] = Field(default_factory=dict, max_length=20)


def _candidate(c: Candidate) -> dict[str, Any]:
    return {"code": c.code, "name": c.name, "provider": c.provider, "basis": c.basis,
            "score": c.score, "rows": c.rows, "masked": list(c.masked)}  # fmt: skip


def _outcome(o: Outcome, locale: str) -> dict[str, Any]:
    return {"name": o.name, "title": o.title.get(locale),
            "description": o.description.get(locale), "action": o.action}  # fmt: skip


def _finds(slot: Slot) -> dict[str, Any] | None:
    f = slot.finds
    if f is None:
        return None
    if f.by is None:
        return {"outcome": f.outcome, "min_matches": f.min_matches}
    return {"by": f.by, "values": dict(f.values), "otherwise": f.otherwise}


def scenario_out(
    scenario: Scenario, locale: str, found: dict[str, list[Candidate]] | None = None
) -> dict[str, Any]:
    """A scenario as JSON (titles in ``locale``), with the caller's candidates per slot
    and the default (the best candidate that fits the slot's name hint) when given."""
    rules = service.scenario_rules(scenario)
    defaults = service.defaults(found) if found is not None else {}
    slots = []
    for slot in scenario.slots:
        out: dict[str, Any] = {
            "name": slot.name,
            "role": "roster" if slot.name == service.ROSTER else "reference",
            "title": slot.title.get(locale),
            "hint": list(slot.hint),
            "columns": list(service.slot_columns(scenario, slot, rules)),
            "optional": slot.optional,
            "money": slot.money,
            "finds": _finds(slot),
        }
        if found is not None:
            out["candidates"] = [_candidate(c) for c in found.get(slot.name, [])]
            out["default"] = defaults.get(slot.name)
        slots.append(out)
    return {
        "name": scenario.name,
        "title": scenario.title.get(locale),
        "description": scenario.description.get(locale),
        "rules": scenario.rules if scenario.rules in builtin_rule_sets() else "(inline)",
        "money_column": scenario.money,
        "slots": slots,
        "outcomes": [_outcome(o, locale) for o in scenario.outcomes],
        "unmatched": scenario.unmatched,
    }


@router.get("", dependencies=READ)
def list_scenarios(
    actor: CurrentActor, session: DbSession, settings: SettingsDep, locale: Locale
) -> dict[str, Any]:
    """The scenario templates, each with its slots and, per slot, the resources the
    caller's organization may read that fit (best name fit first, ``default``)."""
    items = []
    for scenario in service.list_scenarios(settings.home):
        found = service.candidates(session, actor, scenario)
        items.append(scenario_out(scenario, locale, found))
    return {"items": items}


@router.post("/{name}/jobs", dependencies=RUN, status_code=202)
def start(
    name: str,
    body: ScenarioJobBody,
    request: Request,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
) -> JSONResponse:
    """Check the scenario's inputs (each bad input with its own code, nothing queued)
    and queue its job: 202 with the job and its ``Location``; follow it there."""
    job = service.start_scenario(
        session, actor, name, roster=body.roster, references=body.references, home=settings.home
    )
    return accepted(request, actor, session, job, locale)
