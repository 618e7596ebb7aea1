"""Scenario templates on the page (核验场景): a card per template (pension eligibility,
senior-card validity, minimum living allowance — and an installation's own), and per
template the form that starts it: one select per input slot, filled with the resources the
organization may read that have the columns the slot needs, the best name fit chosen.

The same services as the CLI's ``zhili verify scenario`` and the API
(``zhili.apps.verify.scenarios``); a refused form comes back as chosen, the message next to
the slot it names."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from zhili.access import Actor
from zhili.apps.verify import scenarios
from zhili.errors import ZhiliError
from zhili.web.deps import CurrentActor, DbSession, Locale, SettingsDep, authorize
from zhili.web.pages.verify import follow, page

router = APIRouter(include_in_schema=False)
READ = [Depends(authorize("verify.read"))]
RUN = [Depends(authorize("verify.run"))]


@router.get("/verify/scenarios", dependencies=READ)
def scenarios_page(request: Request, settings: SettingsDep, locale: Locale) -> Response:
    """The scenario templates, one card each."""
    return page(
        request,
        "verify_scenarios.html",
        {
            "scenarios": scenarios.list_scenarios(settings.home),
            "broken": scenarios.scenario_problems(settings.home),
            "lang": locale,
        },
    )


def _field(exc: ZhiliError) -> str | None:
    """The slot a refusal is about: ``roster`` or a reference slot's name."""
    named = exc.params.get("field")
    if isinstance(named, str) and named.startswith("references."):
        return named.removeprefix("references.")
    if named == "roster" or exc.params.get("side") == "roster":
        return scenarios.ROSTER
    return None


def _form_page(
    request: Request,
    session: Session,
    actor: Actor,
    settings: Any,
    locale: str,
    name: str,
    chosen: dict[str, str] | None = None,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    scenario = scenarios.get_scenario(name, settings.home)
    found = scenarios.candidates(session, actor, scenario, home=settings.home)
    rules = scenarios.scenario_rules(scenario)
    columns = {s.name: scenarios.slot_columns(scenario, s, rules) for s in scenario.slots}
    return page(
        request,
        "verify_scenario.html",
        {
            "sc": scenario,
            "lang": locale,
            "candidates": found,
            "columns": columns,
            "chosen": chosen if chosen is not None else scenarios.defaults(found),
            "roster_slot": scenarios.ROSTER,
            **extra,
        },
        status_code=status_code,
    )


@router.get("/verify/scenarios/{name}", dependencies=RUN)
def scenario_form(
    request: Request,
    name: str,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
) -> Response:
    """The form that starts scenario ``name``, each slot's best candidate chosen."""
    return _form_page(request, session, actor, settings, locale, name)


@router.post("/verify/scenarios/{name}", dependencies=RUN)
def start(
    request: Request,
    name: str,
    actor: CurrentActor,
    session: DbSession,
    settings: SettingsDep,
    locale: Locale,
    roster: Annotated[str, Form(max_length=40)] = "",
    slot: Annotated[list[str] | None, Form()] = None,
    code: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Queue the scenario's job and show its page; a refused form comes back as chosen."""
    references = dict(zip(slot or [], code or [], strict=False))
    try:
        job = scenarios.start_scenario(
            session, actor, name, roster=roster, references=references, home=settings.home
        )
    except ZhiliError as exc:
        session.rollback()
        return _form_page(
            request,
            session,
            actor,
            settings,
            locale,
            name,
            chosen={scenarios.ROSTER: roster, **references},
            status_code=exc.status,
            error=exc.message(locale),
            error_field=_field(exc),
        )
    return follow(request, session, job)
