"""Scenario templates as a service: list them, find the inputs that fit, start a job.

The shipped files sit next to this module (``pension.yaml`` …); an organization's own go
in ``ZHILI_HOME/verify/scenarios/`` (a file there with a shipped name replaces it). A
scenario job is an ordinary `VerificationJob` with its ``scenario`` and ``slots`` set:
everything `zhili.apps.verify.jobs.create_job` checks is checked, and before it the
scenario's own needs — every required slot filled, each slot once, and the columns a
scenario reads besides the rule set's (a reference's ``status``, the roster's money)
present in the catalog's items, inside the reader's grant and not masked. Bad input
raises its own error and queues nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Actor, require
from zhili.apps.verify.inputs import READ_ACTION, side_columns
from zhili.apps.verify.jobs import JobSpec, create_job, resolve_rules
from zhili.apps.verify.models import Mode, VerificationJob
from zhili.apps.verify.results import RESULT_CODE_PREFIX
from zhili.apps.verify.rules import builtin_rule_sets
from zhili.apps.verify.scenarios.outcomes import Plan
from zhili.apps.verify.scenarios.spec import ROSTER, Scenario, Slot, read_scenario_text
from zhili.apps.verify.spec import RuleSet
from zhili.catalog.models import LakeVersion, Resource
from zhili.errors import InvalidInput, NotFound, ZhiliError
from zhili.exchange import door

__all__ = [
    "Candidate",
    "candidates",
    "defaults",
    "get_scenario",
    "list_scenarios",
    "load_scenario",
    "plan_for",
    "scenario_files",
    "scenario_problems",
    "scenario_rules",
    "slot_columns",
    "start_scenario",
]

_PACKAGE = "zhili.apps.verify.scenarios"
#: Shipped scenarios first, in this order; then an organization's own, by name.
ORDER = ("pension", "senior_card", "dibao")
SUFFIXES = (".yaml", ".yml", ".json")
MAX_FILE_BYTES = 256_000


# --- the files --------------------------------------------------------------------------


def own_folder(home: Path) -> Path:
    """Where an installation keeps its own scenario files."""
    return home / "verify" / "scenarios"


def scenario_files(home: Path | None = None) -> dict[str, Path]:
    """Scenario files by name (the file's stem): shipped, then ``home``'s own."""
    found = {
        Path(p.name).stem: Path(str(p))
        for p in resources.files(_PACKAGE).iterdir()
        if p.name.endswith(SUFFIXES)
    }
    if home is not None and own_folder(home).is_dir():
        for path in sorted(own_folder(home).iterdir()):
            if path.suffix.lower() in SUFFIXES and path.is_file():
                found[path.stem] = path
    rank = {name: i for i, name in enumerate(ORDER)}
    return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(ORDER)), kv[0])))


def load_scenario(path: Path) -> Scenario:
    """Read and check one scenario file (its name defaults to the file's stem)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise OSError(0, f"larger than {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            "verify.scenario_unreadable",
            "Cannot read the scenario {path}: {problem}",
            path=str(path),
            problem=exc.strerror if isinstance(exc, OSError) else str(exc),
        ) from None
    scenario = read_scenario_text(text, name=path.stem, rule_sets=sorted(builtin_rule_sets()))
    if scenario.name != path.stem:
        raise InvalidInput(
            "verify.scenario_bad_value",
            "Scenario {path}: {value} is not {expected}.",
            path="name",
            value=scenario.name,
            expected=f"the file's name ({path.stem})",
        )
    return scenario


def list_scenarios(home: Path | None = None) -> list[Scenario]:
    """Every scenario that reads (see `scenario_problems` for those that do not)."""
    out = []
    for path in scenario_files(home).values():
        try:
            out.append(load_scenario(path))
        except ZhiliError:
            continue
    return out


def scenario_problems(home: Path | None = None) -> dict[str, ZhiliError]:
    """The scenario files that do not read, by name, with the error (its key path)."""
    problems = {}
    for name, path in scenario_files(home).items():
        try:
            load_scenario(path)
        except ZhiliError as exc:
            problems[name] = exc
    return problems


def get_scenario(name: str, home: Path | None = None) -> Scenario:
    """One scenario by name: 404 ``verify.scenario_not_found`` if there is none; a file
    that does not read raises its own error."""
    path = scenario_files(home).get(name)
    if path is None:
        raise NotFound(
            "verify.scenario_not_found",
            "No scenario {name}; there are: {known}.",
            name=name,
            known=", ".join(scenario_files(home)),
        )
    return load_scenario(path)


def _scenario(scenario: Scenario | str, home: Path | None) -> Scenario:
    return scenario if isinstance(scenario, Scenario) else get_scenario(scenario, home)


def scenario_rules(scenario: Scenario) -> RuleSet:
    """The scenario's rule set, read."""
    return resolve_rules(scenario.rules)[2]


def slot_columns(scenario: Scenario, slot: Slot, rules: RuleSet | None = None) -> tuple[str, ...]:
    """Every column a resource needs to fill ``slot``: the rule set's (its side), then the
    scenario's own (money, ``by``)."""
    rules = rules or scenario_rules(scenario)
    side = "left" if slot.name == ROSTER else "right"
    return tuple(dict.fromkeys([*side_columns(rules, side), *slot.extra_columns]))


# --- the inputs that fit ----------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A resource that can fill a slot for the actor: it has every column the slot needs,
    inside what the actor may read (``basis``: provider, grant or open), its money and
    ``by`` columns unmasked. ``score``: how well its name fits the slot's hint (0: by its
    columns only, never a default). ``masked``: needed columns that come masked (an ID
    number: the job skips the exact pass)."""

    code: str
    name: str
    provider: str
    basis: str
    score: int
    rows: int | None
    masked: tuple[str, ...] = ()


def _score(slot: Slot, resource: Resource) -> int:
    """Earlier hints weigh more; a hint in the name counts twice what one in the tags,
    summary or provider's name does."""
    name = f"{resource.name} {resource.name_en or ''}".lower()
    other = " ".join([*(resource.tags or []), resource.summary or "", resource.provider.name])
    other = other.lower()
    score = 0
    for i, hint in enumerate(slot.hint):
        weight, h = len(slot.hint) - i, hint.lower()
        score += 2 * weight * (h in name) + weight * (h in other)
    return score


def candidates(
    session: Session, actor: Actor, scenario: Scenario | str, *, home: Path | None = None
) -> dict[str, list[Candidate]]:
    """Per slot (``roster`` first, then the references), the resources with data that the
    actor's organization may read and that have the columns the slot needs, best name
    fit first. Nothing is read or audited; the door only decides."""
    require(actor, "verify.read")
    scenario = _scenario(scenario, home)
    rules = scenario_rules(scenario)
    needs = {s.name: (s, slot_columns(scenario, s, rules)) for s in scenario.slots}
    out: dict[str, list[Candidate]] = {name: [] for name in needs}
    stmt = (
        select(Resource)
        .where(Resource.current_version.is_not(None))
        .where(Resource.code.not_like(f"{RESULT_CODE_PREFIX}%"))
        .order_by(Resource.code)
    )
    fitting: list[tuple[Resource, list[str]]] = []
    for resource in session.scalars(stmt).unique():
        items = {f["name"] for f in resource.table_schema.get("fields", [])}
        slots = [name for name, (_, columns) in needs.items() if set(columns) <= items]
        if slots:
            fitting.append((resource, slots))
    rows = _rows(session, [r for r, _ in fitting])
    for resource, slots in fitting:
        access = door.readable(session, actor, resource)
        if access is None:
            continue
        masked = {n for n, _ in access.scope.masks} if access.scope else set()
        for name in slots:
            slot, columns = needs[name]
            if not set(columns) <= set(access.fields) or masked & set(slot.extra_columns):
                continue
            out[name].append(
                Candidate(
                    code=resource.code,
                    name=resource.name,
                    provider=resource.provider.name,
                    basis=access.basis,
                    score=_score(slot, resource),
                    rows=rows.get(resource.id),
                    masked=tuple(c for c in columns if c in masked),
                )
            )
    for found in out.values():
        found.sort(key=lambda c: (-c.score, c.masked != (), c.code))
    return out


def _rows(session: Session, found: list[Resource]) -> dict[int, int]:
    if not found:
        return {}
    wanted = {(r.id, r.current_version) for r in found}
    stmt = select(LakeVersion.resource_id, LakeVersion.version, LakeVersion.total_rows).where(
        LakeVersion.resource_id.in_([r.id for r in found])
    )
    return {rid: int(n) for rid, v, n in session.execute(stmt) if (rid, v) in wanted}


def defaults(found: Mapping[str, list[Candidate]]) -> dict[str, str]:
    """Per slot, the best candidate that fits its name hint (no default where none does:
    a resource that merely has the columns is never picked for the user)."""
    return {slot: c[0].code for slot, c in found.items() if c and c[0].score > 0}


# --- starting a job ---------------------------------------------------------------------


def _check_slots(scenario: Scenario, references: Mapping[str, str]) -> dict[str, str]:
    """The filled reference slots (slot → code), each known, required ones all there,
    no resource in two."""
    known = [s.name for s in scenario.references]
    filled = {}
    for slot, code in references.items():
        if slot not in known:
            raise InvalidInput(
                "verify.scenario_unknown_slot",
                "The scenario {scenario} has no slot {slot}; its slots: {known}.",
                field=f"references.{slot}",
                scenario=scenario.name,
                slot=slot,
                known=", ".join(known),
            )
        if code and code.strip():
            filled[slot] = code.strip()
    for s in scenario.references:
        if s.name not in filled and not s.optional:
            raise InvalidInput(
                "verify.scenario_missing_slot",
                "The scenario {scenario} needs a resource for {slot} ({title}).",
                field=f"references.{s.name}",
                scenario=scenario.name,
                slot=s.name,
                title=s.title.get("en"),
                title_zh=s.title.get("zh-CN"),
            )
    seen: dict[str, str] = {}
    for slot, code in filled.items():
        if code in seen:
            raise InvalidInput(
                "verify.scenario_same_resource",
                "{code} fills both {first} and {slot}; give each slot its own resource.",
                field=f"references.{slot}",
                code=code,
                first=seen[code],
                slot=slot,
            )
        seen[code] = slot
    return filled


def _check_extra_columns(session: Session, actor: Actor, code: str, slot: Slot) -> None:
    """The columns the scenario reads besides the rule set's are items of ``code``, inside
    the actor's grant and unmasked (a masked ``status`` would say nothing)."""
    if not slot.extra_columns:
        return
    access = door.open_access(session, actor, code, READ_ACTION)
    items = [f["name"] for f in access.resource.table_schema.get("fields", [])]
    masked = {n for n, _ in access.scope.masks} if access.scope else set()
    for column in slot.extra_columns:
        if column == slot.money and column not in items:
            continue  # create_job says it: verify.bad_money_column
        if column not in items:
            raise InvalidInput(
                "verify.scenario_missing_column",
                "{code} has no column {column}, which the {slot} slot reads; it has: {present}.",
                field=f"references.{slot.name}" if slot.name != ROSTER else "roster",
                code=code,
                column=column,
                slot=slot.name,
                present=", ".join(items)[:300],
            )
        if column not in access.fields:
            raise door.outside_scope(access, column)
        if column in masked:
            raise InvalidInput(
                "verify.scenario_masked_column",
                "{column} of {code} comes masked under your grant; the {slot} slot needs "
                "its values.",
                field=f"references.{slot.name}" if slot.name != ROSTER else "roster",
                code=code,
                column=column,
                slot=slot.name,
            )


def start_scenario(
    session: Session,
    actor: Actor,
    name: str,
    *,
    roster: str,
    references: Mapping[str, str],
    home: Path,
    schedule_id: int | None = None,
) -> VerificationJob:
    """Queue scenario ``name`` on ``roster`` (a resource code) and its references (slot →
    resource code): an ordinary verification job with ``scenario`` and ``slots`` set
    (flushed, not committed). Everything is checked first (see the module).
    ``schedule_id``: the verification schedule starting it (`JobSpec.schedule_id`)."""
    require(actor, "verify.run")
    scenario = get_scenario(name, home)
    filled = _check_slots(scenario, references)
    roster = (roster or "").strip()
    if not roster:
        raise InvalidInput(
            "verify.no_roster", "Give one roster: a resource code or a file.", field="roster"
        )
    _check_extra_columns(session, actor, roster, scenario.roster)
    for slot_name, code in filled.items():
        _check_extra_columns(session, actor, code, scenario.slot(slot_name))
    spec = JobSpec(
        roster=roster,
        references=tuple(filled.values()),
        rules=scenario.rules,
        mode=Mode.link,
        money_column=scenario.money,
        scenario=scenario.name,
        slots=tuple((code, slot) for slot, code in filled.items()),
        schedule_id=schedule_id,
    )
    return create_job(session, actor, spec, home=home)


def plan_for(name: str, slots: Mapping[str, str], home: Path | None) -> Plan:
    """What a scenario job's run needs: its scenario (read again by name) and its slots."""
    scenario = get_scenario(name, home)
    for code, slot in slots.items():
        if slot not in [s.name for s in scenario.references]:
            raise InvalidInput(
                "verify.scenario_unknown_slot",
                "The scenario {scenario} has no slot {slot}; its slots: {known}.",
                field=f"references.{slot}",
                scenario=scenario.name,
                slot=slot,
                known=", ".join(s.name for s in scenario.references),
                code=code,
            )
    return Plan(scenario, dict(slots))
