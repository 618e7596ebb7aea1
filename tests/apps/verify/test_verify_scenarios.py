"""Scenario templates: the shipped files read (and a bad file is refused at its key path),
the inputs that fit each slot are found through the caller's grants, a scenario job's
people per outcome agree with the synthetic city's ground truth and its money with the
truth of the people it found, and bad input is refused before anything is queued."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml
from scenario_city import (
    APPROVERS,
    BIRTHS,
    CODES,
    OWNERS,
    PERMITS,
    POPULATION,
    USES,
    build_scenario_city,
)
from sqlalchemy import func, select
from typer.testing import CliRunner
from verify_city import grant

from zhili.apps.verify import run as runner
from zhili.apps.verify import scenarios
from zhili.apps.verify.models import VerificationJob
from zhili.apps.verify.review import ACTIONS
from zhili.apps.verify.review import queue as review_queue
from zhili.apps.verify.rules import builtin_rule_sets
from zhili.audit.models import AuditEntry
from zhili.errors import Forbidden, InvalidInput, NotFound
from zhili.exchange import table_reads
from zhili.jobs.models import Job

SHIPPED = Path(scenarios.__file__).parent


@pytest.fixture()
def city(world, settings, seeded_calendar, tmp_path):
    return build_scenario_city(world, settings, tmp_path)


# --- the files ----------------------------------------------------------------------------


def test_the_shipped_scenarios_read() -> None:
    found = {s.name: s for s in scenarios.list_scenarios()}
    assert list(found) == ["pension", "senior_card", "dibao"]
    assert scenarios.scenario_problems() == {}
    for s in found.values():
        assert s.rules in builtin_rule_sets() and s.money
        assert {o.action for o in s.outcomes} <= {None, *ACTIONS}
        assert s.title.get("zh-CN") and s.title.get("en") != s.title.get("zh-CN")
    pension = found["pension"]
    assert [o.name for o in pension.outcomes] == ["deceased", "moved_away", "confirmed",
                                                  "not_found"]  # fmt: skip
    assert pension.outcome("deceased").action == "stop_payment"
    residence = pension.slot("residence").finds
    assert residence is not None and residence.by == "status"
    assert residence.outcome_of("死亡") == "deceased"
    assert residence.outcome_of(" 迁出 ") == "moved_away"
    assert residence.outcome_of("正常") == residence.outcome_of(None) == "confirmed"
    assert pension.unmatched == "not_found"
    assert found["senior_card"].outcome("moved_away").action == "cancel_card"
    dibao = found["dibao"].slot("property").finds
    assert dibao is not None and (dibao.outcome, dibao.min_matches) == ("multiple_properties", 2)


def _pension() -> dict:
    return yaml.safe_load((SHIPPED / "pension.yaml").read_text(encoding="utf-8"))


def _edit(path: list, value: object) -> dict:
    data = _pension()
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is KeyError:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "code", "where"),
    [
        (_edit(["colour"], "red"), "verify.scenario_unknown_key", "(top level)"),
        (_edit(["references"], KeyError), "verify.scenario_missing_key", "(top level)"),
        (_edit(["roster", "hint"], KeyError), "verify.scenario_missing_key", "roster"),
        (_edit(["rules"], "no_such_rules"), "verify.scenario_bad_value", "rules"),
        (_edit(["references", "deaths", "finds"], "buried"), "verify.scenario_bad_value",
         "references.deaths.finds"),
        (_edit(["references", "residence", "finds", "values", "迁出"], "gone"),
         "verify.scenario_bad_value", "references.residence.finds.values.迁出"),
        (_edit(["references", "residence", "finds", "min_matches"], 2),
         "verify.scenario_bad_value", "references.residence.finds.min_matches"),
        (_edit(["references", "deaths", "finds"], {"outcome": "deceased", "min_matches": 0}),
         "verify.scenario_bad_value", "references.deaths.finds.min_matches"),
        (_edit(["references", "deaths", "colour"], "red"), "verify.scenario_unknown_key",
         "references.deaths"),
        (_edit(["references", "roster"], {"hint": ["x"], "finds": "deceased"}),
         "verify.scenario_bad_value", "references.roster"),
        (_edit(["outcomes", "deceased", "action"], "shoot"), "verify.scenario_bad_value",
         "outcomes.deceased.action"),
        (_edit(["unmatched"], "lost"), "verify.scenario_bad_value", "unmatched"),
        (_edit(["title"], {"en": "no Chinese"}), "verify.scenario_missing_key", "title"),
        (_edit(["rules"], {"unique_id": "person_id", "fields": {"sex": "sex"},
                           "comparisons": [{"field": "sex", "kind": "soundex"}]}),
         "verify.rules_unknown_kind", "comparisons[0].kind"),
    ],
)  # fmt: skip
def test_a_bad_scenario_is_refused_at_its_key_path(data: dict, code: str, where: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        scenarios.parse_scenario(data, name="pension", rule_sets=sorted(builtin_rule_sets()))
    assert caught.value.code == code
    assert caught.value.params["path"] == where


def test_an_installation_adds_its_own_scenarios(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = home / "verify" / "scenarios"
    folder.mkdir(parents=True)
    own = _pension()
    own["name"] = "pension_inline"
    own["rules"] = yaml.safe_load((Path(builtin_rule_sets()["person_zh"])).read_text())
    own["rules"]["fields"]["district"] = {"left": "district", "right": "region"}
    (folder / "pension_inline.yaml").write_text(yaml.safe_dump(own, allow_unicode=True))
    (folder / "broken.yaml").write_text("name: broken\nrules: [1\n")
    names = [s.name for s in scenarios.list_scenarios(home)]
    assert names == ["pension", "senior_card", "dibao", "pension_inline"]
    inline = scenarios.get_scenario("pension_inline", home)
    slot = inline.slot("residence")
    columns = scenarios.slot_columns(inline, slot)
    assert "region" in columns and "district" not in columns and columns[-1] == "status"
    assert scenarios.scenario_problems(home)["broken"].code == "verify.scenario_syntax"
    with pytest.raises(InvalidInput):
        scenarios.get_scenario("broken", home)
    with pytest.raises(NotFound) as caught:
        scenarios.get_scenario("pension_inline")  # not without the home
    assert caught.value.code == "verify.scenario_not_found"


# --- the inputs that fit ------------------------------------------------------------------


def test_candidates_are_what_the_actor_may_read_best_name_first(city) -> None:
    with city.db.session() as s:
        found = scenarios.candidates(s, city.actor("hrss.analyst"), "pension")
    codes = {slot: [c.code for c in found[slot]] for slot in found}
    assert scenarios.defaults(found) == {
        "roster": CODES["pensioners"], "deaths": CODES["deaths"],
        "cremations": CODES["cremations"], "residence": CODES["residence"],
    }  # fmt: skip
    # Only the register with a status column fits residence; the others fit by columns.
    assert codes["residence"] == [CODES["residence"]]
    assert {POPULATION, PERMITS} <= set(codes["deaths"])
    assert BIRTHS not in codes["deaths"]  # no grant: not a candidate
    by_code = {c.code: c for c in found["deaths"]}
    assert by_code[PERMITS].score == 0 and by_code[CODES["deaths"]].score > 0
    assert by_code[CODES["deaths"]].basis == "grant"
    assert by_code[CODES["deaths"]].rows == city.data.tables["deaths"].num_rows
    assert found["roster"][0].basis == "provider"
    with city.db.session() as s:  # another department sees its own inputs
        theirs = scenarios.candidates(s, city.actor("civil.analyst"), "dibao")
        assert scenarios.defaults(theirs) == {
            "roster": CODES["dibao"], "vehicles": CODES["vehicles"],
            "property": CODES["property"],
        }  # fmt: skip
        nothing = scenarios.candidates(s, city.actor("edu.analyst"), "pension")
        assert all(not v for v in nothing.values())


# --- running against the ground truth -----------------------------------------------------


def _start(city, name: str, **references: str):
    who = USES[name][0]
    with city.db.session() as s:
        actor = city.actor(who)
        chosen = scenarios.defaults(scenarios.candidates(s, actor, name))
        roster = chosen.pop("roster")
        job = scenarios.start_scenario(
            s, actor, name, roster=roster, references={**chosen, **references}, home=city.home
        )
        s.expunge(job)
    return job


def _findings(scenario, slots: dict[str, str], rows: list[dict]) -> dict[str, set]:
    """Per roster key found anywhere, its findings (precedence rank, sure) from the
    result's rows — resolved here independently of the summary's code."""
    minimum = {code: scenario.slot(slot).finds.min_matches for code, slot in slots.items()}
    auto_count = Counter((r["left_id"], r["reference"]) for r in rows
                         if r["tier"] == "auto" and r["outcome"])  # fmt: skip
    rank = {o.name: i for i, o in enumerate(scenario.outcomes)}
    findings = defaultdict(set)
    for r in rows:
        if r["outcome"] is None:
            continue
        need = minimum[r["reference"]]
        sure = auto_count[(r["left_id"], r["reference"])] >= need if need > 1 else (
            r["tier"] == "auto")  # fmt: skip
        findings[r["left_id"]].add((rank[r["outcome"]], sure))
    return findings


def _people(scenario, slots: dict[str, str], rows: list[dict]) -> dict[str, tuple[str, str]]:
    """Per roster key found anywhere, (outcome, auto|review)."""
    out = {}
    for key, found in _findings(scenario, slots, rows).items():
        best = min(k for k, _ in found)
        out[key] = (scenario.outcomes[best].name, "auto" if (best, True) in found else "review")
    return out


#: How far a scenario's people per outcome may be from the truth: reference records are
#: damaged (typos, homophones, missing or 15-digit ID numbers, wrong birth dates), so a few
#: true matches score below the review threshold, and look-alikes (twins, namesakes) add a
#: few wrong review-tier findings. At this size that is a handful of people: 3, or 5 %.
TOLERANCE = (3, 0.05)
#: The ground truth's outcome each scenario outcome stands for.
TRUE = {
    "pension": {"deceased": "deceased", "moved_away": "moved_away", "confirmed": "ok",
                "not_found": "ok"},
    "senior_card": {"deceased": "deceased", "moved_away": "moved_away", "confirmed": "ok",
                    "not_found": "ok"},
    "dibao": {"owns_vehicle": "owns_vehicle", "multiple_properties": "multiple_properties",
              "eligible": "ok"},
}  # fmt: skip


@pytest.mark.parametrize("name", ["pension", "senior_card", "dibao"])
def test_people_and_money_per_outcome_agree_with_the_truth(city, name: str) -> None:
    job = runner.run_here(city.db, city.home, city.secret_key, _start(city, name))
    assert job.state == "done", job.error
    scenario = scenarios.get_scenario(name)
    who, roster, references = USES[name]
    assert job.scenario == name
    assert job.slots == {CODES[ref]: ref for ref in references}
    summary = job.summary
    outcomes = summary["outcomes"]
    truth = city.truth(name)
    assert list(outcomes) == [o.name for o in scenario.outcomes]
    assert summary["scenario"]["people"] == len(truth)
    assert sum(o["people"] for o in outcomes.values()) == len(truth)

    with city.db.session() as s:
        rows = table_reads.read_table(
            s, city.actor(who), home=city.home, code=job.result_code,
            columns=["reference", "left_id", "right_id", "tier", "outcome"],
        ).table.to_pylist()  # fmt: skip
    people = _people(scenario, job.slots, rows)
    # The summary is what the result rows say, person by person, to the cent.
    for o in scenario.outcomes:
        got = outcomes[o.name]
        auto = [k for k, (out, how) in people.items() if out == o.name and how == "auto"]
        review = [k for k, (out, how) in people.items() if out == o.name and how == "review"]
        none = [k for k in truth if k not in people] if o.name == scenario.unmatched else []
        assert (got["auto"], got["review"], got["unmatched"]) == (len(auto), len(review),
                                                                  len(none)), o.name  # fmt: skip
        assert got["money"] == round(sum(truth[k][1] for k in auto + none), 2), o.name
        assert got["money_review"] == round(sum(truth[k][1] for k in review), 2), o.name
        assert got["action"] == o.action
    pending = [k for k, (_, how) in people.items() if how == "review"]
    assert summary["awaiting_review"] == {
        "people": len(pending), "money": round(sum(truth[k][1] for k in pending), 2),
    }  # fmt: skip

    # People per outcome are the truth's, within the tolerance.
    true_counts = Counter(o for o, _ in truth.values())
    found = Counter()
    for o in scenario.outcomes:
        found[TRUE[name][o.name]] += outcomes[o.name]["people"]
    for outcome, n in true_counts.items():
        allowed = max(TOLERANCE[0], TOLERANCE[1] * n)
        assert abs(found[outcome] - n) <= allowed, (outcome, found[outcome], n)
    # And an action an automatic finding calls for is almost never on the wrong person:
    # per person the first outcome among their sure findings (a higher review-only
    # finding, a namesake's death record, does not hold it back).
    sure_best = {
        key: scenario.outcomes[min(k for k, sure in found if sure)].name
        for key, found in _findings(scenario, job.slots, rows).items()
        if any(sure for _, sure in found)
    }
    acted = [k for k, out in sure_best.items() if scenario.outcome(out).action]
    wrong = [k for k in acted if truth[k][0] != TRUE[name][sure_best[k]]]
    assert acted and len(wrong) <= max(1, len(acted) // 100), wrong
    # Every one of them waits for two reviewers: one action item per person, none more.
    with city.db.session() as s:
        items = review_queue(s, city.actor(who), job.id, limit=100_000)
    action_items = [i for i in items if i.tier == "auto"]
    assert sorted(i.left_id for i in action_items) == sorted(acted)
    assert all(
        i.evidence["suggested_action"] == scenario.outcome(i.evidence["outcome"]).action
        and i.state == "pending"
        for i in action_items
    )
    assert summary["action_items"] == len(action_items)
    assert summary["review_items"] == len(items)

    # A reference's extra column (the residence status) was read through the door, and
    # only it: what the scenario reads, nothing more.
    with city.db.session() as s:
        reads = s.execute(
            select(AuditEntry.resource_code, AuditEntry.fields).where(
                AuditEntry.action == "exchange.verify_read"
            )
        ).all()
    read = {code: set(fields) for code, fields in reads if code != job.result_code}
    assert set(read) == {CODES[roster], *job.slots}
    if "residence" in references:
        assert "status" in read[CODES["residence"]]
        assert "status_date" not in read[CODES["residence"]]


# --- bad input ----------------------------------------------------------------------------


def _nothing_queued(city) -> None:
    with city.db.session() as s:
        assert s.scalar(select(func.count()).select_from(VerificationJob)) == 0
        assert s.scalar(select(func.count()).select_from(Job)) == 0


PENSION_REFS = {"deaths": CODES["deaths"], "cremations": CODES["cremations"],
                "residence": CODES["residence"]}  # fmt: skip


BAD = [
    ("hrss.analyst", "burial", {}, NotFound, "verify.scenario_not_found"),
    ("hrss.analyst", "pension", {"cremations": None}, InvalidInput,
     "verify.scenario_missing_slot"),
    ("hrss.analyst", "pension", {"births": BIRTHS}, InvalidInput, "verify.scenario_unknown_slot"),
    ("hrss.analyst", "pension", {"cremations": CODES["deaths"]}, InvalidInput,
     "verify.scenario_same_resource"),
    ("hrss.analyst", "pension", {"residence": POPULATION}, InvalidInput,
     "verify.scenario_missing_column"),
    ("hrss.analyst", "pension", {"deaths": BIRTHS}, Forbidden, "exchange.no_grant_for"),
    ("hrss.approver", "pension", {}, Forbidden, "access.denied"),
]  # fmt: skip


def test_bad_input_is_refused_before_anything_is_queued(city) -> None:
    """Unknown scenario, a slot missing or unknown, one resource in two slots, a residence
    register without ``status``, a slot pointing at a resource without a grant, a user who
    may not run jobs: each its own error, and nothing queued."""
    for who, name, change, error, code in BAD:
        references = {k: v for k, v in {**PENSION_REFS, **change}.items() if v is not None}
        with city.db.session() as s, pytest.raises(error) as caught:
            scenarios.start_scenario(s, city.actor(who), name, roster=CODES["pensioners"],
                                     references=references, home=city.home)  # fmt: skip
        assert caught.value.code == code, (change, caught.value)
        if code == "verify.scenario_missing_slot":
            assert caught.value.params["field"] == "references.cremations"
            assert "cremations" in caught.value.message("en")
        if code == "verify.scenario_missing_column":
            assert caught.value.params["column"] == "status"
            assert caught.value.params["field"] == "references.residence"
        _nothing_queued(city)


def test_a_masked_status_is_refused(city) -> None:
    """教育局 gets every input, the residence register's status masked: a status that
    says nothing is refused rather than read as "confirmed" for everyone."""
    edu = city.actor("edu.analyst")
    for table in ("pensioners", "deaths", "cremations", "residence"):
        approver = city.actor(APPROVERS.get(OWNERS[table], "hrss.approver"))
        masking = {"status": {"rule": "redact"}} if table == "residence" else {}
        columns = city.data.tables[table].column_names
        grant(city.db, edu, approver, CODES[table], columns, masking=masking)
    with city.db.session() as s, pytest.raises(InvalidInput) as caught:
        scenarios.start_scenario(
            s, edu, "pension", roster=CODES["pensioners"], references=PENSION_REFS,
            home=city.home,
        )  # fmt: skip
    assert caught.value.code == "verify.scenario_masked_column"
    assert caught.value.params["column"] == "status"
    with city.db.session() as s:
        found = scenarios.candidates(s, edu, "pension")
    assert found["residence"] == [] and scenarios.defaults(found)["deaths"] == CODES["deaths"]
    _nothing_queued(city)


# --- the command line ---------------------------------------------------------------------


def test_the_command_line_lists_and_runs_scenarios(city) -> None:
    from zhili.cli.main import app

    listed = CliRunner().invoke(app, ["verify", "scenarios"])
    assert listed.exit_code == 0, listed.output
    for name in ("pension", "senior_card", "dibao", "--ref residence=", "stop_payment"):
        assert name in listed.output
    r = CliRunner().invoke(app, ["verify", "scenario", "dibao", "--user", "civil.analyst"])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    assert f"roster {CODES['dibao']}" in r.output and f"vehicles {CODES['vehicles']}" in r.output
    assert "名下有机动车" in r.output and "monthly_allowance" in r.output
    assert "result → resource 3-90-001-000001 version 0" in r.output
    with city.db.session() as s:
        job = s.scalars(select(VerificationJob)).one()
    owns = job.summary["outcomes"]["owns_vehicle"]
    assert f"{owns['money']:,.2f}" in r.output
    bad = CliRunner().invoke(app, ["verify", "scenario", "pension", "--user", "hrss.analyst",
                                   "--ref", f"residence={POPULATION}"])  # fmt: skip
    assert bad.exit_code == 2 and "verify.scenario_missing_column" in bad.output
    worse = CliRunner().invoke(app, ["verify", "scenario", "pension", "--user", "hrss.analyst",
                                     "--ref", "residence"])  # fmt: skip
    assert worse.exit_code == 2 and "verify.scenario_bad_ref" in worse.output
