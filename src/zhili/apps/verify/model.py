"""A `RuleSet` resolved into Splink's settings: comparisons from Splink's own libraries.

The rule set says *what* to compare (a field and a kind); this module says *how*, as lists
of Splink comparison levels, so the rule-set file stays engine-neutral and a benchmark can
hold bare Splink to the very same levels. Every comparison is named after its field, so
the evidence columns are ``gamma_<field>`` whatever the kind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.comparison_level_creator import ComparisonLevelCreator

from zhili.apps.verify.prepare import DATE_FORMAT
from zhili.apps.verify.spec import ID_FIELD, Comparison, RuleSet

__all__ = ["ID_M_DIFFERENT", "ID_U_PROBABILITY", "blocking_rules", "comparison", "settings"]

#: u of "the same valid ID number": how often two *different* people share a valid number.
#: Random sampling cannot estimate it (it sees no such pair in a million), so it is fixed
#: (STACK.md): one clerical error in a million pairs, worth ~20 bits of evidence.
ID_U_PROBABILITY = 1e-6
#: m of "two valid, different numbers": how often the *same* person has two. GB 11643's
#: check character catches every single wrong digit and every swap of neighbours, so only
#: a wholly wrong number (a relative's) gets here; fixed, because EM on a roster with few
#: duplicates has nothing to learn it from (−13 bits: the same name and birth date alone do
#: not outweigh two valid numbers).
ID_M_DIFFERENT = 1e-4
Levels = list[ComparisonLevelCreator]


def _exact(c: Comparison) -> Levels:
    return [cll.NullLevel(c.field), cll.ExactMatchLevel(c.field), cll.ElseLevel()]


#: How each engine's SQL reads `prepare`'s ``YYYYMMDD`` text as a date (Splink passes the
#: pattern through: strptime's on DuckDB, Java's on Spark).
DATE_PATTERNS = {"duckdb": DATE_FORMAT, "spark": "yyyyMMdd"}


def _date(c: Comparison, engine: str = "duckdb") -> Levels:
    """Exact; one edit or two adjacent digits swapped (19900112 / 19900121, also across
    month and day: 19941127 / 19941217); then the rule set's ``within`` windows; else.
    Reads the ``YYYYMMDD`` text `prepare` makes."""
    levels: Levels = [
        cll.NullLevel(c.field),
        cll.ExactMatchLevel(c.field).configure(label_for_charts="same date"),
        cll.DamerauLevenshteinLevel(c.field, 1).configure(
            label_for_charts="one digit wrong or two swapped"
        ),
    ]
    for amount, unit in c.within:
        levels.append(
            cll.AbsoluteDateDifferenceLevel(
                c.field,
                input_is_string=True,
                threshold=amount,
                metric=unit,
                datetime_format=DATE_PATTERNS[engine],
            ).configure(label_for_charts=f"within {amount} {unit}")
        )
    return [*levels, cll.ElseLevel()]


def _chinese_name(c: Comparison) -> Levels:
    """Same normalised name; same pinyin (homophone: 章三/张三); a reading in common
    (polyphonic: 单 dan/shan); pinyin Jaro-Winkler (near-homophone: zhangshan/zhangsan);
    else. Reads the ``<field>_pinyin`` and ``<field>_pinyins`` columns `prepare` adds."""
    key, readings = f"{c.field}_pinyin", f"{c.field}_pinyins"
    return [
        cll.NullLevel(c.field),
        cll.ExactMatchLevel(c.field).configure(label_for_charts="same name"),
        cll.ExactMatchLevel(key).configure(label_for_charts="same pinyin"),
        cll.ArrayIntersectLevel(readings, 1).configure(
            label_for_charts="a pinyin reading in common"
        ),
        *[
            cll.JaroWinklerLevel(key, t).configure(label_for_charts=f"pinyin similarity ≥ {t}")
            for t in c.thresholds
        ],
        cll.ElseLevel(),
    ]


def _library(factory: Callable[[Comparison], ComparisonCreator]) -> Callable[[Comparison], Levels]:
    return lambda c: factory(c).create_comparison_levels()


KINDS: dict[str, Callable[[Comparison], Levels]] = {
    "exact": _exact,
    "levenshtein": _library(lambda c: cl.LevenshteinAtThresholds(c.field, list(c.thresholds))),
    "damerau_levenshtein": _library(
        lambda c: cl.DamerauLevenshteinAtThresholds(c.field, list(c.thresholds))
    ),
    "jaro_winkler": _library(lambda c: cl.JaroWinklerAtThresholds(c.field, list(c.thresholds))),
    "name": _library(
        lambda c: cl.NameComparison(c.field, jaro_winkler_thresholds=list(c.thresholds))
    ),
    "email": _library(lambda c: cl.EmailComparison(c.field)),
    "date": _date,
    "chinese_name": _chinese_name,
}


def comparison(c: Comparison, engine: str = "duckdb") -> ComparisonCreator:
    """The Splink comparison of one rule-set comparison, named after its field.

    Term-frequency adjustment (rarer values weigh more: 欧阳 agreeing says more than 王)
    goes on the exact level of the field itself when ``term_frequency`` is set.
    """
    levels = _date(c, engine) if c.kind == "date" else KINDS[c.kind](c)
    for level in levels:
        exact = getattr(level, "is_exact_match_level", False)
        column = getattr(level, "col_expression", None)
        pure = column is not None and column.is_pure_column_or_column_reference
        if exact and pure and column.raw_sql_expression == c.field and c.term_frequency:
            level.configure(tf_adjustment_column=c.field)
        elif getattr(level, "tf_adjustment_column", None) and not c.term_frequency:
            level.configure(tf_adjustment_column=None)
    return cl.CustomComparison(levels, output_column_name=c.field, comparison_description=c.kind)


def id_comparison() -> ComparisonCreator:
    """Normalised ID numbers: NULL when missing or invalid; the same; else — two valid,
    different numbers, strong evidence of two people. m and u are fixed where training
    cannot see them (`ID_U_PROBABILITY`, `ID_M_DIFFERENT`)."""
    return cl.CustomComparison(
        [
            cll.NullLevel(ID_FIELD),
            cll.ExactMatchLevel(ID_FIELD).configure(
                label_for_charts="same ID number",
                m_probability=1 - ID_M_DIFFERENT,
                fix_m_probability=True,
                u_probability=ID_U_PROBABILITY,
                fix_u_probability=True,
            ),
            cll.ElseLevel().configure(
                label_for_charts="different ID numbers",
                m_probability=ID_M_DIFFERENT,
                fix_m_probability=True,
            ),
        ],
        output_column_name=ID_FIELD,
        comparison_description="id_number",
    )


def blocking_rules(rules: RuleSet) -> list[str]:
    """The rule set's blocking rules, plus equal ID numbers so that every pair of the exact
    pass is scored too (its evidence shows whether the other fields agree)."""
    out = list(rules.blocking)
    if rules.id_number:
        out.append(f"l.{ID_FIELD} = r.{ID_FIELD}")
    return out


def settings(
    rules: RuleSet, *, link_type: str, prior: float | None = None, engine: str = "duckdb"
) -> SettingsCreator:
    """Splink settings for ``rules``; ``prior`` is the probability that two random records
    match (the rule set's value wins, else ``prior``, else Splink's default 1e-4)."""
    comparisons = [comparison(c, engine) for c in rules.comparisons]
    if rules.id_number:
        comparisons.append(id_comparison())
    extra: dict[str, Any] = {}
    chosen = rules.training.probability_two_random_records_match or prior
    if chosen is not None:
        extra["probability_two_random_records_match"] = chosen
    return SettingsCreator(
        link_type=link_type,  # type: ignore[arg-type]
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=blocking_rules(rules),
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
        **extra,
    )
