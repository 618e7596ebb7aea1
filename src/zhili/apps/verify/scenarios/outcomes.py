"""What a scenario job's matches mean: an outcome per match row and per roster person,
and people and money per outcome for the summary.

A match in a reference slot is a *finding* about the roster person: the slot's outcome for
any match (``finds: deceased``), the outcome of the matched record's value in a column
(``by: status``: 死亡 → deceased), or — with ``min_matches`` — the outcome once the
person matched that many distinct records (two properties). A finding is as sure as its
match: ``auto``, or ``review`` when it rests on review-tier pairs only (for
``min_matches``: auto when enough auto pairs alone reach the count).

Each roster person gets one outcome: the first in the scenario's precedence among their
findings; it counts as ``auto`` when an auto finding gives it, else as ``review`` (awaiting
review: a reviewer's decision settles it). A person with no finding gets the scenario's
``unmatched`` outcome. So the outcomes' people add up to the roster, and the money of the
people decided automatically is what an action would touch now.

Vectorised with Arrow (a roster of millions has millions of matches).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zhili.apps.verify.scenarios.spec import Scenario
from zhili.apps.verify.spec import RuleSet

if TYPE_CHECKING:
    from zhili.apps.verify.models import VerificationJob

__all__ = ["OUTCOME_COLUMN", "Plan", "plan_of"]

#: The column a scenario job adds to its result's match rows.
OUTCOME_COLUMN = "outcome"
AUTO, REVIEW = "auto", "review"


@dataclass(frozen=True)
class Plan:
    """A scenario and the slot each of a job's references fills (code → slot name)."""

    scenario: Scenario
    slots: dict[str, str]

    def columns(self, code: str) -> tuple[str, ...]:
        """Reference columns read besides the rule set's (the ``by`` column)."""
        slot = self.slots.get(code)
        return self.scenario.slot(slot).extra_columns if slot else ()

    def apply(
        self, rules: RuleSet, roster: pa.Table, references: dict[str, pa.Table], matches: pa.Table
    ) -> tuple[pa.Table, dict[str, Any], pa.Table]:
        """The matches with their ``outcome`` column, the summary's outcomes, and the
        pairs to act on (`acting`)."""
        outcome, strength = self._findings(rules, references, matches)
        annotated = matches.append_column(OUTCOME_COLUMN, outcome)
        found = pa.table(
            {
                "left_id": pc.cast(matches.column("left_id"), pa.string()),
                "outcome": outcome,
                "strength": strength,
            }
        ).filter(pc.is_valid(outcome))
        acting = self.acting(annotated, strength)
        return annotated, self._summary(rules, roster, found), acting

    def acting(self, annotated: pa.Table, strength: pa.Array) -> pa.Table:
        """The automatic pairs that put an action before reviewers: per roster person,
        the first outcome in precedence among their *automatic* findings, when it calls
        for an action — on its most probable auto pair. A review-tier finding that ranks
        higher (a namesake's death record without an ID number) does not hold back an
        action an automatic finding already calls for (the person's own register record,
        matched by ID number, says moved away): that review item is decided on its own."""
        order = pa.array([o.name for o in self.scenario.outcomes], pa.string())
        acting = pa.array([o.name for o in self.scenario.outcomes if o.action], pa.string())
        rank = pc.index_in(annotated.column(OUTCOME_COLUMN), value_set=order)
        rows = annotated.append_column("__rank", rank).append_column("__sure", strength)
        rows = rows.append_column("__left", pc.cast(rows.column("left_id"), pa.string()))
        rows = rows.filter(pc.is_valid(rows.column("__rank")))
        if not rows.num_rows or not len(acting):
            return annotated.slice(0, 0)
        sure = rows.filter(pc.equal(rows.column("__sure"), AUTO))
        if not sure.num_rows:
            return annotated.slice(0, 0)
        best = sure.group_by("__left").aggregate([("__rank", "min")])
        at = pc.index_in(sure.column("__left"), value_set=best.column("__left"))
        top = best.column("__rank_min").combine_chunks().take(at)
        chosen = sure.filter(
            pc.and_(
                pc.equal(sure.column("__rank"), top),
                pc.is_in(sure.column(OUTCOME_COLUMN), value_set=acting),
            )
        )
        if not chosen.num_rows:
            return annotated.slice(0, 0)
        ordered = chosen.sort_by([("__left", "ascending"), ("match_probability", "descending")])
        left = ordered.column("__left").combine_chunks()
        n = len(left)  # the first row of each person: where the key differs from the one before
        first = pa.concat_arrays(
            [pa.array([True]), pc.not_equal(left.slice(1), left.slice(0, n - 1))]
        )
        return ordered.filter(first).drop_columns(["__rank", "__sure", "__left"])

    # --- per match row ----------------------------------------------------------------

    def _findings(
        self, rules: RuleSet, references: dict[str, pa.Table], matches: pa.Table
    ) -> tuple[pa.Array, pa.Array]:
        """Per match row: the outcome it finds (null: none) and how sure (auto/review)."""
        n = matches.num_rows
        outcome = pa.nulls(n, pa.string())
        strength = pa.nulls(n, pa.string())
        if not n:
            return outcome, strength
        reference = matches.column("reference").combine_chunks()
        tier = matches.column("tier").combine_chunks().cast(pa.string())
        left = pc.cast(matches.column("left_id"), pa.string()).combine_chunks()
        right = pc.cast(matches.column("right_id"), pa.string()).combine_chunks()
        for code, slot_name in self.slots.items():
            finds = self.scenario.slot(slot_name).finds
            here = pc.equal(reference, code)
            if finds is None or not pc.any(here).as_py():
                continue
            if finds.by is not None:
                table = references[code]
                keys = pc.cast(table.column(rules.unique_id.right), pa.string()).combine_chunks()
                values = table.column(finds.by).combine_chunks().cast(pa.string())
                value = pc.utf8_trim_whitespace(values.take(pc.index_in(right, value_set=keys)))
                mapped = _constant(finds.otherwise, n)
                for raw, name in finds.values:
                    mapped = pc.if_else(pc.equal(value, raw), name, mapped)
                mapped = pc.if_else(pc.is_valid(value), mapped, finds.otherwise)
                row_outcome, row_strength = mapped, tier
            elif finds.min_matches <= 1:
                row_outcome, row_strength = _constant(finds.outcome, n), tier
            else:
                row_outcome, row_strength = _counted(
                    left, right, tier, here, finds.outcome, finds.min_matches
                )
            outcome = pc.if_else(here, row_outcome, outcome)
            strength = pc.if_else(pc.and_(here, pc.is_valid(row_outcome)), row_strength, strength)
        return outcome, pc.if_else(pc.is_valid(outcome), strength, pa.nulls(n, pa.string()))

    # --- per roster person ------------------------------------------------------------

    def _summary(self, rules: RuleSet, roster: pa.Table, found: pa.Table) -> dict[str, Any]:
        s = self.scenario
        names = [o.name for o in s.outcomes]
        order = pa.array(names, pa.string())
        keys = pc.cast(roster.column(rules.unique_id.left), pa.string()).combine_chunks()
        best = _best(found, order, keys)
        auto_best = _best(found.filter(pc.equal(found.column("strength"), AUTO)), order, keys)
        unmatched = names.index(s.unmatched)
        matched = best >= 0
        rank = np.where(matched, best, unmatched)
        by_auto = matched & (auto_best == best)
        by_review = matched & ~by_auto
        money = np.zeros(len(keys))
        if s.money is not None and s.money in roster.column_names:
            amounts = pc.fill_null(roster.column(s.money).cast(pa.float64()), 0.0)
            money = amounts.to_numpy()
        k = len(names)

        def count(mask: np.ndarray) -> np.ndarray:
            return np.bincount(rank[mask], minlength=k)

        def total(mask: np.ndarray) -> np.ndarray:
            return np.bincount(rank[mask], weights=money[mask], minlength=k)

        autos, reviews, nones = count(by_auto), count(by_review), count(~matched)
        decided, pending = total(~by_review), total(by_review)
        outcomes = {}
        for i, o in enumerate(s.outcomes):
            outcomes[o.name] = {
                "title": o.title.as_dict(),
                "action": o.action,
                "people": int(autos[i] + reviews[i] + nones[i]),
                "auto": int(autos[i]),
                "review": int(reviews[i]),
                "unmatched": int(nones[i]),
                "money": round(float(decided[i]), 2),
                "money_review": round(float(pending[i]), 2),
            }
        return {
            "scenario": {
                "name": s.name,
                "title": s.title.as_dict(),
                "unmatched": s.unmatched,
                "money_column": s.money,
                "slots": dict(self.slots),
                "people": len(keys),
            },
            "outcomes": outcomes,
            "awaiting_review": {
                "people": int(by_review.sum()),
                "money": round(float(money[by_review].sum()), 2),
            },
        }


def plan_of(job: VerificationJob, home: Path) -> Plan | None:
    """A scenario job's plan (its scenario read again by name, its slots); None for a job
    started without a scenario."""
    if job.scenario is None:
        return None
    from zhili.apps.verify.scenarios.service import plan_for

    return plan_for(job.scenario, job.slots or {}, home)


def _counted(
    left: pa.Array, right: pa.Array, tier: pa.Array, here: pa.Array, outcome: str | None,
    minimum: int,
) -> tuple[pa.Array, pa.Array]:  # fmt: skip
    """``outcome`` on the rows of people matched to ``minimum`` distinct records of this
    reference (any tier), auto when their auto pairs alone reach it."""
    rows = pa.table({"left": left, "right": right, "tier": tier}).filter(here)
    every = rows.group_by("left").aggregate([("right", "count_distinct")])
    sure = (
        rows.filter(pc.equal(rows.column("tier"), AUTO))
        .group_by("left")
        .aggregate([("right", "count_distinct")])
    )

    def reached(counts: pa.Table) -> pa.Array:
        hit = counts.filter(pc.greater_equal(counts.column("right_count_distinct"), minimum))
        return pc.is_in(left, value_set=hit.column("left").combine_chunks())

    n = len(left)
    some, enough = reached(every), reached(sure)
    out = pc.if_else(some, _constant(outcome, n), pa.nulls(n, pa.string()))
    return out, pc.if_else(enough, AUTO, REVIEW)


def _constant(value: str | None, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, pa.string())
    return pa.repeat(pa.scalar(value, pa.string()), n)


def _best(found: pa.Table, order: pa.Array, keys: pa.Array) -> np.ndarray:
    """Per roster key, the precedence rank of its first outcome among ``found`` (-1: none)."""
    if not found.num_rows:
        return np.full(len(keys), -1)
    ranked = pa.table(
        {
            "left_id": found.column("left_id"),
            "rank": pc.index_in(found.column("outcome"), value_set=order),
        }
    )
    best = ranked.group_by("left_id").aggregate([("rank", "min")])
    at = pc.index_in(keys, value_set=best.column("left_id").combine_chunks())
    ranks = best.column("rank_min").combine_chunks().take(at)
    return pc.fill_null(ranks, -1).to_numpy(zero_copy_only=False).astype(np.int64)
