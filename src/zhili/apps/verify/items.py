"""The items a finished run puts before reviewers (待复核 / 待处置).

Two kinds, both `ReviewItem` rows decided the same way (`zhili.apps.verify.review`):

* every **review-tier pair**: the model was unsure whether the records are one person;
* in a scenario job, every roster person whose outcome calls for an **action** on them
  (stop a pension, cancel a card) on the strength of automatic matches: the match needs no
  review, but the action does — two reviewers of the job's organization must ask for it
  (the four-eyes rule) before it is approved. One item per person, on the automatic pair
  that gave the outcome most surely (chosen by the scenario's plan, which knows what
  makes a finding automatic), so a person found both dead and cremated is acted on once.

A scenario item's evidence also names the outcome and the action it suggests, which the
review page offers first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from zhili.apps.verify.models import ReviewItem
from zhili.apps.verify.review import build_evidence
from zhili.apps.verify.scenarios.outcomes import OUTCOME_COLUMN
from zhili.clock import utcnow

__all__ = ["Side", "build_items"]


@dataclass(frozen=True)
class Side:
    """One input as the run read it: its label (a resource code) and rows."""

    label: str
    table: pa.Table


def _records(side: Side, key: str, wanted: set[str]) -> dict[str, dict[str, Any]]:
    if not wanted:
        return {}
    keys = side.table.column(key).cast(pa.string())
    hit = side.table.filter(pc.is_in(keys, value_set=pa.array(sorted(wanted), pa.string())))
    return {str(r[key]): r for r in hit.to_pylist()}


def build_items(
    matches: pa.Table,
    roster: Side,
    references: Sequence[Side],
    keys: tuple[str, str],
    *,
    dedupe: bool = False,
    actions: Mapping[str, str | None] | None = None,
    acting: pa.Table | None = None,
) -> list[ReviewItem]:
    """The review-tier pairs, and the ``acting`` pairs (a scenario's
    `zhili.apps.verify.scenarios.outcomes.Plan.acting`) as action items, each with both
    records as read and the evidence; ``actions`` (outcome → action) names the action a
    scenario item suggests."""
    rows = matches.filter(pc.equal(matches.column("tier"), "review")).to_pylist()
    if acting is not None:
        rows += acting.to_pylist()
    if not rows:
        return []
    left_key, right_key = keys
    lefts = _records(roster, left_key, {str(r["left_id"]) for r in rows})
    rights: dict[str, dict[str, dict[str, Any]]] = {}
    for ref in references:
        wanted = {str(r["right_id"]) for r in rows if r["reference"] == ref.label}
        rights[ref.label] = _records(ref, right_key, wanted)
    if dedupe:
        both = _records(roster, left_key, {str(r["right_id"]) for r in rows})
        rights = {r["reference"]: both for r in rows}
    now = utcnow()
    items = []
    for r in rows:
        evidence = build_evidence(
            r,
            lefts.get(str(r["left_id"])),
            rights.get(r["reference"], {}).get(str(r["right_id"])),
        )
        outcome = r.get(OUTCOME_COLUMN)
        if actions is not None and outcome is not None:
            evidence["outcome"] = outcome
            evidence["suggested_action"] = actions.get(outcome)
        items.append(
            ReviewItem(
                reference_code=r["reference"],
                left_id=r["left_id"],
                right_id=r["right_id"],
                tier=r["tier"],
                match_probability=float(r["match_probability"]),
                evidence=evidence,
                created_at=now,
                updated_at=now,
            )
        )
    return items
