"""The SQL that turns Splink's scored pairs into matches with their evidence, and tiers.

Pure text builders (no database), so the shape of the output is tested without one. A
match row says who matched whom, by which pass, how sure (probability and weight), which
tier, and per comparison the values compared, the level reached (``gamma_``, with its
label) and the Bayes factor it contributed (``bf_``): a reviewer can see *why*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["CLEAR_WINNER_BITS", "ComparisonInfo", "evidence_sql", "exact_pairs_sql", "quote"]


@dataclass(frozen=True)
class ComparisonInfo:
    """What the output needs of one trained comparison."""

    name: str  # output column name (the field)
    labels: dict[int, str]  # gamma value → level label
    columns: tuple[str, ...]  # the input columns it reads (for the values compared)
    has_tf: bool = False  # has an mw_tf_adj_ column


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def exact_pairs_sql(left: str, right: str, id_column: str, *, dedupe: bool) -> str:
    """Pairs of records whose (valid, normalised) ID numbers are equal; NULLs never join.
    In a dedupe each pair once, the smaller key first."""
    col = ident(id_column)
    if dedupe:
        return (
            f"SELECT l.unique_id AS uid_l, r.unique_id AS uid_r FROM {left} l "
            f"JOIN {left} r ON l.{col} = r.{col} AND l.unique_id < r.unique_id"
        )
    return (
        f"SELECT l.unique_id AS uid_l, r.unique_id AS uid_r FROM {left} l "
        f"JOIN {right} r ON l.{col} = r.{col}"
    )


def _level_label(c: ComparisonInfo) -> str:
    cases = " ".join(f"WHEN {g} THEN {quote(label)}" for g, label in sorted(c.labels.items()))
    return f"CASE p.{ident('gamma_' + c.name)} {cases} END"


def _bayes_factor(c: ComparisonInfo) -> str:
    weight = f"p.{ident('mw_' + c.name)}"
    if c.has_tf:
        weight = f"({weight} + coalesce(p.{ident('mw_tf_adj_' + c.name)}, 0))"
    return f"pow(2.0, {weight})"


#: How much more likely (in bits, log2 of the odds: 10 to 1) a probabilistic pair must be
#: than its reference record's next candidate to be accepted without review.
CLEAR_WINNER_BITS = 3.32


def _clear_winner(dedupe: bool) -> str:
    """True where the pair is its reference record's best candidate by `CLEAR_WINNER_BITS`
    (window functions over the output's pairs, evaluated after the WHERE)."""
    if dedupe:
        return "TRUE"
    window = "OVER (PARTITION BY p.unique_id_r ORDER BY p.match_weight DESC, p.unique_id_l)"
    margin = f"p.match_weight - lead(p.match_weight) {window}"
    return (
        f"(row_number() {window} = 1 AND coalesce({margin}, {CLEAR_WINNER_BITS!r}) "
        f">= {CLEAR_WINNER_BITS!r})"
    )


def evidence_sql(
    predictions: str,
    comparisons: Sequence[ComparisonInfo],
    *,
    auto: float,
    review: float,
    exact: str | None = None,
    id_comparison: str | None = None,
    dedupe: bool = False,
) -> str:
    """Matches at or above ``review`` from ``predictions`` (Splink's scored pairs), and
    every pair of the ``exact`` table (pairs with equal ID numbers).

    Exact pairs get probability 1.0 and tier ``auto`` — unless the other fields, on their
    own (the weight without ``id_comparison``'s), fall below ``review``: the same number
    on two different-looking records is sent to review, not accepted. In a ``dedupe`` the
    exact pairs are keyed smaller key first, whichever way Splink ordered the pair.

    In a link, a reference record is one person, so a probabilistic pair is ``auto`` only
    if it is its reference record's best candidate by `CLEAR_WINNER_BITS` over the next
    (any other pair in the output): two roster people who both look like one death record
    without an ID number — namesakes born the same day — are sent to review, not both
    declared dead.
    """
    keys = "p.unique_id_l AS left_id, p.unique_id_r AS right_id"
    is_exact = "e.uid_l IS NOT NULL" if exact else "FALSE"
    if exact and id_comparison:
        rest = f"(p.match_weight - coalesce(p.{ident('mw_' + id_comparison)}, 0))"
        fields_agree = f"1.0 / (1.0 + pow(2.0, -{rest})) >= {review!r}"
    else:
        fields_agree = "TRUE"
    select = [
        keys,
        f"CASE WHEN {is_exact} THEN 'exact' ELSE 'probabilistic' END AS pass",
        f"CASE WHEN {is_exact} THEN 1.0 ELSE p.match_probability END AS match_probability",
        "p.match_weight",
        f"CASE WHEN {is_exact} THEN (CASE WHEN {fields_agree} THEN 'auto' ELSE 'review' END) "
        f"WHEN p.match_probability >= {auto!r} AND {_clear_winner(dedupe)} THEN 'auto' "
        "ELSE 'review' END AS tier",
    ]
    for c in comparisons:
        for column in c.columns:
            select.append(f"p.{ident(column + '_l')} AS {ident(column + '_left')}")
            select.append(f"p.{ident(column + '_r')} AS {ident(column + '_right')}")
        select.append(f"p.{ident('gamma_' + c.name)}")
        select.append(f"{_level_label(c)} AS {ident('label_' + c.name)}")
        select.append(f"{_bayes_factor(c)} AS {ident('bf_' + c.name)}")
    sql = f"SELECT {', '.join(select)} FROM {predictions} p"
    if exact:
        sql += (
            f" LEFT JOIN {exact} e ON e.uid_l = least(p.unique_id_l, p.unique_id_r)"
            " AND e.uid_r = greatest(p.unique_id_l, p.unique_id_r)"
            if dedupe
            else f" LEFT JOIN {exact} e ON e.uid_l = p.unique_id_l AND e.uid_r = p.unique_id_r"
        )
        sql += f" WHERE {is_exact} OR p.match_probability >= {review!r}"
    else:
        sql += f" WHERE p.match_probability >= {review!r}"
    return sql + " ORDER BY match_probability DESC, left_id, right_id"
