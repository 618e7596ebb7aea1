"""Tiers of the evidence query: a reference record is one person, so only its clear best
candidate is accepted without review (namesakes born the same day go to review)."""

from __future__ import annotations

import duckdb
import pytest

from zhili.apps.verify.evidence import CLEAR_WINNER_BITS, ComparisonInfo, evidence_sql


def _tiers(rows: list[tuple[str, str, float]], *, dedupe: bool = False) -> dict:
    """Tiers of scored pairs (left, right, match weight) through `evidence_sql`."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE preds (unique_id_l VARCHAR, unique_id_r VARCHAR, match_weight DOUBLE, "
        "match_probability DOUBLE, gamma_name INTEGER, mw_name DOUBLE)"
    )
    con.executemany(
        "INSERT INTO preds VALUES (?, ?, ?, ?, 1, 1.0)",
        [(left, right, w, 1 / (1 + 2**-w)) for left, right, w in rows],
    )
    info = ComparisonInfo("name", {1: "same name"}, ())
    sql = evidence_sql("preds", [info], auto=0.99, review=0.5, dedupe=dedupe)
    out = {
        (a, b): t
        for a, b, t in con.execute(f"SELECT left_id, right_id, tier FROM ({sql})").fetchall()
    }
    con.close()
    return out


ROWS = [
    ("P-1", "D-1", 12.0),  # the clear best of D-1 ...
    ("P-2", "D-1", 12.0 - CLEAR_WINNER_BITS - 1),  # ... and a weaker look-alike
    ("P-3", "D-2", 10.0),  # two near-equal candidates: neither is clear
    ("P-4", "D-2", 9.5),
    ("P-5", "D-3", 8.0),  # alone
    ("P-6", "H-1", 10.0),  # one person, two records (two properties): both fine
    ("P-6", "H-2", 10.0),
    ("P-7", "D-4", 4.0),  # below auto whatever the rest
]


def test_only_a_clear_best_candidate_of_a_reference_record_is_automatic() -> None:
    tiers = _tiers(ROWS)
    assert tiers[("P-1", "D-1")] == "auto"
    assert tiers[("P-2", "D-1")] == "review"
    assert tiers[("P-3", "D-2")] == tiers[("P-4", "D-2")] == "review"
    assert tiers[("P-5", "D-3")] == "auto"
    assert tiers[("P-6", "H-1")] == tiers[("P-6", "H-2")] == "auto"
    assert tiers[("P-7", "D-4")] == "review"


@pytest.mark.parametrize("pair", [("P-2", "D-1"), ("P-3", "D-2"), ("P-4", "D-2")])
def test_a_dedupe_has_no_reference_side_to_be_one_person(pair: tuple[str, str]) -> None:
    assert _tiers(ROWS, dedupe=True)[pair] == "auto"
