"""Action items: per roster person whose outcome is decided automatically and calls for an
action, one item on the surest automatic pair giving it (precedence first); review-tier
pairs as before; a person whose top finding rests on review only gets no action item."""

from __future__ import annotations

import dataclasses

import pyarrow as pa

from zhili.apps.verify.items import Side, build_items
from zhili.apps.verify.scenarios import get_scenario
from zhili.apps.verify.scenarios.outcomes import Plan

PENSION = Plan(
    get_scenario("pension"),
    {"deaths": "deaths", "cremations": "cremations", "residence": "residence"},
)
ACTIONS = {o.name: o.action for o in PENSION.scenario.outcomes}


def _annotated(rows: list[tuple]) -> tuple[pa.Table, pa.Array]:
    names = ["reference", "left_id", "right_id", "tier", "match_probability", "outcome"]
    table = pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
    table = table.append_column("pass", pa.array(["probabilistic"] * len(rows)))
    return table, pa.array([r[6] for r in rows], pa.string())


MATCHES, STRENGTH = _annotated(
    [
        # p1: dead by two registers; the surer pair carries the item
        ("deaths", "p1", "d1", "auto", 0.995, "deceased", "auto"),
        ("cremations", "p1", "c1", "auto", 0.9999, "deceased", "auto"),
        ("residence", "p1", "r1", "auto", 1.0, "confirmed", "auto"),
        # p2: moved away: an outcome with no action, no item
        ("residence", "p2", "r2", "auto", 1.0, "moved_away", "auto"),
        # p3: dead only by a review-tier pair: a review item, not an action item
        ("deaths", "p3", "d3", "review", 0.8, "deceased", "review"),
        ("residence", "p3", "r3", "auto", 1.0, "confirmed", "auto"),
        # p4: living by the register, no death finding
        ("residence", "p4", "r4", "auto", 1.0, "confirmed", "auto"),
        # p5: moved away by the register, but dead by a certificate: dead comes first
        ("residence", "p5", "r5", "auto", 1.0, "moved_away", "auto"),
        ("deaths", "p5", "d5", "auto", 0.999, "deceased", "auto"),
        # p6: an auto pair whose finding is not sure on its own (two records needed)
        ("deaths", "p6", "d6", "auto", 0.999, "deceased", "review"),
    ]
)


def test_one_action_item_per_person_on_the_surest_automatic_pair() -> None:
    rows = PENSION.acting(MATCHES, STRENGTH).to_pylist()
    got = {(r["left_id"], r["right_id"], r["outcome"]) for r in rows}
    assert got == {("p1", "c1", "deceased"), ("p5", "d5", "deceased")}


def test_a_review_only_finding_that_ranks_higher_does_not_hold_back_an_action() -> None:
    cards = Plan(get_scenario("senior_card"), {"deaths": "deaths", "residence": "residence"})
    matches, strength = _annotated(
        [
            # the card holder's own register record, matched by ID: moved away
            ("residence", "c1", "r1", "auto", 1.0, "moved_away", "auto"),
            # a namesake's death record without an ID number, in review
            ("deaths", "c1", "d9", "review", 0.93, "deceased", "review"),
        ]
    )
    rows = cards.acting(matches, strength).to_pylist()
    assert [(r["left_id"], r["right_id"], r["outcome"]) for r in rows] == [
        ("c1", "r1", "moved_away")
    ]


def test_no_action_without_an_acting_outcome_or_without_rows() -> None:
    scenario = PENSION.scenario
    quiet = dataclasses.replace(
        scenario, outcomes=tuple(dataclasses.replace(o, action=None) for o in scenario.outcomes)
    )
    assert Plan(quiet, PENSION.slots).acting(MATCHES, STRENGTH).num_rows == 0
    assert PENSION.acting(MATCHES.slice(0, 0), STRENGTH.slice(0, 0)).num_rows == 0


def test_items_carry_both_records_the_outcome_and_the_suggested_action() -> None:
    roster = Side("roster", pa.table({"pid": [f"p{i}" for i in range(1, 7)],
                                      "name": ["甲", "乙", "丙", "丁", "戊", "己"]}))  # fmt: skip
    deaths = Side("deaths", pa.table({"pid": ["d1", "d3", "d5"], "name": ["甲", "丙", "戊"]}))
    cremations = Side("cremations", pa.table({"pid": ["c1"], "name": ["甲"]}))
    acting = PENSION.acting(MATCHES, STRENGTH)
    items = build_items(
        MATCHES, roster, [deaths, cremations], ("pid", "pid"), actions=ACTIONS, acting=acting
    )
    by_pair = {(i.left_id, i.right_id): i for i in items}
    assert set(by_pair) == {("p3", "d3"), ("p1", "c1"), ("p5", "d5")}
    action = by_pair[("p1", "c1")]
    assert action.tier == "auto" and action.match_probability == 0.9999
    assert action.evidence["outcome"] == "deceased"
    assert action.evidence["suggested_action"] == "stop_payment"
    assert action.evidence["left"]["name"] == "甲" and action.evidence["right"]["pid"] == "c1"
    review = by_pair[("p3", "d3")]
    assert review.tier == "review" and review.evidence["suggested_action"] == "stop_payment"
    # a job without a scenario: the review-tier pairs only, no outcome in the evidence
    plain = build_items(MATCHES.drop_columns(["outcome"]), roster, [deaths], ("pid", "pid"))
    assert [(i.left_id, i.tier) for i in plain] == [("p3", "review")]
    assert "outcome" not in plain[0].evidence
