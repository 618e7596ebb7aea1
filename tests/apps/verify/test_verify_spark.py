"""The same verification on Spark (Splink's Spark backend, local[2]) as on DuckDB: the same
pairs, with the same evidence, on the same small data.

Splink's u sampling draws its random pairs with each engine's own random function, so the
trained u values — and so the match weights — differ slightly (well under half a bit
here): the pairs, passes and comparison levels must be identical, and the tiers too except
for a pair whose probability lies near a threshold.
The test needs no database, so it runs once, in the SQLite pass of CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from verify_data import rosters

from zhili.apps.verify.linker import LinkResult, dedupe, link
from zhili.apps.verify.rules import builtin_rule_sets, parse_rules

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(
        bool(os.environ.get("ZHILI_TEST_DATABASE_URL")),
        reason="database-independent: runs in the SQLite pass only",
    ),
]


@pytest.fixture(scope="module")
def spark() -> Iterator[None]:
    """The platform's shared Spark engine (as ``ZHILI_ENGINE=spark`` would use), stopped
    afterwards so other modules start their own."""
    pytest.importorskip("pyspark")
    from zhili.query import get_engine
    from zhili.query.engine import _shared_engine

    yield
    engine: Any = get_engine("spark")
    engine.stop()
    _shared_engine.cache_clear()


def _rules() -> Any:
    """person_zh with a smaller u sample (Spark's sampling is slow; 1M pairs take ~30 s)."""
    import yaml

    raw = yaml.safe_load(builtin_rule_sets()["person_zh"].read_text(encoding="utf-8"))
    raw["training"]["u_max_pairs"] = 100_000
    return parse_rules(raw)


def _by_pair(result: LinkResult) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["left_id"], r["right_id"]): r for r in result.matches.to_pylist()}


def _same(duck: LinkResult, spark: LinkResult, rules: Any) -> None:
    """Same pairs, passes and comparison levels; weights within half a bit; the same tier
    unless a probability lies within 0.05 of a tier's threshold (sampling noise decides)."""
    a, b = _by_pair(duck), _by_pair(spark)
    assert a.keys() == b.keys()
    edges = (rules.thresholds.auto, rules.thresholds.review)
    for pair, row in a.items():
        other = b[pair]
        assert row["pass"] == other["pass"], pair
        assert row["match_weight"] == pytest.approx(other["match_weight"], abs=0.5), pair
        gammas = [k for k in row if k.startswith("gamma_")]
        assert {k: row[k] for k in gammas} == {k: other[k] for k in gammas}, pair
        near = any(
            abs(p - edge) < 0.05
            for p in (row["match_probability"], other["match_probability"])
            for edge in edges
        )
        assert near or row["tier"] == other["tier"], pair
    assert duck.passes == spark.passes


def test_link_gives_the_same_matches_on_spark(spark) -> None:
    roster, reference, _ = rosters(n_reference=150, n_roster=80)
    rules = _rules()
    duck = link(roster, reference, rules)
    on_spark = link(roster, reference, rules, engine="spark")
    assert duck.tiers["auto"] > 50
    _same(duck, on_spark, rules)


def test_dedupe_gives_the_same_pairs_on_spark(spark) -> None:
    roster, reference, _ = rosters(n_reference=150, n_roster=80)
    import pyarrow as pa

    both = pa.concat_tables([roster, reference.select(roster.column_names)])
    rules = _rules()
    _same(dedupe(both, rules), dedupe(both, rules, engine="spark"), rules)
