"""The three scenario templates end to end on the demo city, as a department runs them.

`zhili demo`'s city (registers, grants through the exchange, accounts) in a fresh
ZHILI_HOME; each scenario job is started with `start_scenario` by the checking
department's analyst and run: roster and references read through the one door, linked,
outcomes resolved, the result version, review items and action items written. Scored
against the demo's ground truth (``synth/verification/outcomes.parquet``):

* per outcome that calls for an action (deceased → stop the pension, …): the true
  people, the action items (automatic findings awaiting two reviewers) and how many of
  them are right, the people found in all (action items plus review-tier findings), and
  the money per month;
* seconds per job, end to end.

Baseline in the same run: what a bureau would script — each reference joined to the
roster on the ID number as written (trimmed), the same outcome rules applied. Ratio:
people rightly found for an action by zhili (auto + review) ÷ by that join. Goal (the
issue's recall bar, per person): every acting outcome's recall over action items and
review ≥ 0.99. The action items' precision is reported, not a goal of its own: the auto
tier's pair precision is `verify_accuracy`'s bar, and every action item waits for two
reviewers, who see both records before anything is stopped.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.run import Case, Result, peak_rss_mb

PEOPLE, QUICK_PEOPLE = 100_000, 20_000
GOAL_RECALL = 0.99
#: The checking department's account per scenario (the demo's analysts).
WHO = {"pension": "hrss", "senior_card": "analyst", "dibao": "civil"}
#: The ground truth's name of each scenario outcome.
TRUE = {
    "deceased": "deceased",
    "moved_away": "moved_away",
    "owns_vehicle": "owns_vehicle",
    "multiple_properties": "multiple_properties",
}


def _city(home: Path, people: int) -> Any:
    from zhili.bootstrap import initialise
    from zhili.db import Database, migrate
    from zhili.demo import build_demo

    url = f"sqlite:///{home / 'zhili.db'}"
    migrate(url)
    db = Database(url)
    initialise(db)
    build_demo(db, home, people, verify_people=people)  # no secret key: no pension job
    return db


def _run(db: Any, home: Path, name: str) -> tuple[Any, float, list[Any]]:
    from zhili.apps.verify.review import queue
    from zhili.apps.verify.run import run_here
    from zhili.apps.verify.scenarios import start_scenario
    from zhili.demo_exchange import account_actor
    from zhili.demo_verify import REGISTERS
    from zhili.synth.verification import SCENARIOS

    s = SCENARIOS[name]
    start = time.perf_counter()
    with db.session() as session:
        who = account_actor(session, WHO[name])
        job = start_scenario(
            session, who, name, roster=REGISTERS[s.roster].code,
            references={slot: REGISTERS[slot].code for slot in s.references}, home=home,
        )  # fmt: skip
        session.expunge(job)
    job = run_here(db, home, "bench-secret-key-0123456789abcdef", job)
    seconds = time.perf_counter() - start
    assert job.state == "done", job.error
    with db.session() as session:
        items = queue(session, account_actor(session, WHO[name]), job.id, limit=10_000_000)
        session.expunge_all()
    return job, seconds, items


def _naive(home: Path, name: str) -> dict[str, set[str]]:
    """Roster keys per acting outcome by the ID-string join, with the scenario's rules."""
    from zhili.apps.verify.scenarios import get_scenario
    from zhili.synth.registers import KEYS
    from zhili.synth.verification import RULES, SCENARIOS

    s, scenario = SCENARIOS[name], get_scenario(name)
    tables = home / "synth" / "verification" / "tables"
    roster = pq.read_table(tables / f"{s.roster}.parquet")
    found: dict[str, set[str]] = {}

    def ids(table: pa.Table, column: str) -> pa.Array:
        return pc.utf8_trim_whitespace(table.column(column).cast(pa.string()))

    left = pa.table({"key": roster.column(KEYS[s.roster]).cast(pa.string()),
                     "id": ids(roster, "id_number")})  # fmt: skip
    for slot in s.references:
        finds = scenario.slot(slot).finds
        if finds is None:
            continue
        ref = pq.read_table(tables / f"{slot}.parquet")
        column = "owner_id_number" if RULES[slot] == "owner_zh" else "id_number"
        right = {"id": ids(ref, column)}
        if finds.by is not None:
            right["value"] = ref.column(finds.by).cast(pa.string())
        joined = left.join(pa.table(right), "id", join_type="inner")
        if finds.by is not None:
            mapping = dict(finds.values)
            for key, value in zip(joined["key"].to_pylist(), joined["value"].to_pylist(),
                                  strict=True):  # fmt: skip
                outcome = mapping.get(value, finds.otherwise)
                if outcome:
                    found.setdefault(outcome, set()).add(key)
        elif finds.min_matches > 1:
            counts = Counter(joined["key"].to_pylist())
            hit = {k for k, n in counts.items() if n >= finds.min_matches}
            found.setdefault(finds.outcome, set()).update(hit)
        else:
            found.setdefault(finds.outcome, set()).update(joined["key"].to_pylist())
    # one outcome per person, the first in precedence
    order = [o.name for o in scenario.outcomes]
    best: dict[str, str] = {}
    for outcome in order:
        for key in found.get(outcome, ()):
            best.setdefault(key, outcome)
    out: dict[str, set[str]] = {}
    for key, outcome in best.items():
        out.setdefault(outcome, set()).add(key)
    return out


def run(quick: bool) -> Result:
    warnings.simplefilter("ignore")
    from zhili.apps.verify.scenarios import get_scenario

    people = QUICK_PEOPLE if quick else PEOPLE
    metrics: dict[str, Any] = {"people": people}
    right_zhili = right_naive = 0
    met = True
    with tempfile.TemporaryDirectory(prefix="zhili-bench-scenarios-") as tmp:
        home = Path(tmp)
        begin = time.perf_counter()
        db = _city(home, people)
        metrics["demo_city_s"] = round(time.perf_counter() - begin, 1)
        truth = pq.read_table(home / "synth" / "verification" / "outcomes.parquet").to_pylist()
        for name in WHO:
            scenario = get_scenario(name)
            job, seconds, items = _run(db, home, name)
            naive = _naive(home, name)
            true_of = {r["roster_key"]: r for r in truth if r["scenario"] == name}
            metrics[f"{name}_roster"] = len(true_of)
            metrics[f"{name}_job_s"] = round(seconds, 1)
            metrics[f"{name}_review_items"] = job.summary["review_items"]
            metrics[f"{name}_action_items"] = job.summary["action_items"]
            for o in scenario.outcomes:
                if not o.action:
                    continue
                expect = TRUE[o.name]
                real = {k for k, r in true_of.items() if r["outcome"] == expect}
                acting = {i.left_id for i in items if i.tier == "auto"
                          and i.evidence.get("outcome") == o.name}  # fmt: skip
                review = {i.left_id for i in items if i.tier == "review"
                          and i.evidence.get("outcome") == o.name}  # fmt: skip
                found = acting | review
                ok_acting = len(acting & real)
                precision = ok_acting / len(acting) if acting else 1.0
                recall = len(found & real) / len(real) if real else 1.0
                script = naive.get(o.name, set())
                right_zhili += len(found & real)
                right_naive += len(script & real)
                got = job.summary["outcomes"][o.name]
                metrics[f"{name}_{o.name}"] = (
                    f"true {len(real):,} ({sum(true_of[k]['amount'] for k in real):,.0f} 元/月); "
                    f"action items {len(acting):,} ({ok_acting:,} right), review {len(review):,}; "
                    f"money auto {got['money']:,.0f} + review {got['money_review']:,.0f} 元/月"
                )
                metrics[f"{name}_{o.name}_action_precision"] = round(precision, 5)
                metrics[f"{name}_{o.name}_recall"] = round(recall, 5)
                metrics[f"{name}_{o.name}_script_recall"] = round(
                    len(script & real) / len(real) if real else 1.0, 5
                )
                met &= recall >= GOAL_RECALL
        db.dispose()
    metrics["peak_rss_mib"] = peak_rss_mb()
    ratio = right_zhili / max(right_naive, 1)
    return Result(
        metrics=metrics,
        ratio=ratio,
        ratio_label="people rightly found for an action: zhili ÷ ID-string join (higher: better)",
        goal=f"every acting outcome: people found (action items + review) recall ≥ {GOAL_RECALL}",
        goal_met=met if not quick else None,
        notes=[
            "The demo city (zhili demo) in a fresh home; each job as the checking "
            "department's analyst, through the one door, in this process.",
            "Action items are automatic findings that call for an action; two reviewers of "
            "the department approve each before it is taken (docs/verify.md).",
            "Script: roster and reference joined on the ID number string (trimmed), the "
            "scenario's outcome rules applied.",
        ],
    )


CASE = Case(
    name="verify_scenarios",
    title="Verification: the pension, senior-card and 低保 scenarios end to end on the demo city",
    baseline="an ID-number string join with the same outcome rules (what a bureau would script)",
    run=run,
)
