"""The demo city's verification (比对核验) scenarios, with the ground truth to score a matcher.

Three scenarios, each a roster checked against references held by other departments:

=============  ==========================  =====================================================
scenario       roster (花名册)              references (比对库)
=============  ==========================  =====================================================
pension        pensioners (人社 养老金)     deaths (卫健 死亡证明), cremations (民政 火化),
                                           residence (公安 户籍: 迁出 moved away, 死亡)
senior_card    senior_cards (交通 老年卡)   deaths, residence
dibao          dibao (民政 低保)            property (不动产登记), vehicles (车管所)
=============  ==========================  =====================================================

Everyone comes from `zhili.synth.population` (same seed, same people), plus people added
to make matching hard: **twins** (same surname, birth date and district, another given
name — often sharing its first character, 建国/建华 — and another ID number), **namesakes**
(same name, birth date and sex, another district and ID number), **minority names** with a
middle dot (阿依古丽·买买提), and **outsiders** (people of other cities who die, are cremated
or own property here, in no roster). Rosters are clean; every reference record is damaged
as `zhili.synth.corrupt` describes — the true matches and everybody else alike, so damage
says nothing about truth.

`generate` returns the tables, `truth` (every true roster↔reference pair, with the damage
done to the reference record), `confounders` (look-alike pairs of two people that must
not match: twin, namesake) and `outcomes` (per roster record: what a perfect check finds,
and the money at stake), and `damage` (the kinds done to every reference record).
`person_pair` makes one plain roster and reference of any size for speed benchmarks and
`iter_id_roster` ten million ID numbers in bounded memory. Deterministic: each part draws
from its own named stream. The people are made in `zhili.synth.cohort`, the departments'
tables in `zhili.synth.registers`; docs/verify.md (Demo data and accuracy) lists the rates.

Example:
    >>> data = generate(2_000, seed=7)
    >>> sorted(data.tables)[:3]
    ['cremations', 'deaths', 'dibao']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from zhili.synth import corrupt
from zhili.synth.city import City, build_city
from zhili.synth.cohort import TWIN, build_cohort, events, id_matrix
from zhili.synth.population import DEFAULT_AS_OF, iter_population_batches
from zhili.synth.registers import KEYS, QUALITY, Builder, Records, references, rosters
from zhili.synth.rng import stream

__all__ = [
    "DEFAULT_SEED",
    "KEYS",
    "QUALITY",
    "RULES",
    "SCENARIOS",
    "PairData",
    "Scenario",
    "VerificationData",
    "generate",
    "iter_id_roster",
    "person_pair",
]

DEFAULT_SEED = 20261124


@dataclass(frozen=True)
class Scenario:
    """A roster, the references it is checked against, and its money column."""

    name: str
    title: str
    roster: str
    references: tuple[str, ...]
    amount: str  # monthly money paid per roster record


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "pension",
            "养老金资格核验",
            "pensioners",
            ("deaths", "cremations", "residence"),
            "monthly_pension",
        ),
        Scenario(
            "senior_card",
            "老年卡有效性核验",
            "senior_cards",
            ("deaths", "residence"),
            "monthly_benefit",
        ),
        Scenario("dibao", "低保资格核验", "dibao", ("property", "vehicles"), "monthly_allowance"),
    )
}
#: The shipped rule set (`zhili.apps.verify.rulesets`) that reads each reference.
RULES = {
    "deaths": "person_zh",
    "cremations": "person_zh",
    "residence": "person_zh",
    "property": "owner_zh",
    "vehicles": "owner_zh",
}


@dataclass(frozen=True)
class VerificationData:
    """The scenario tables and their ground truth (see the module docstring)."""

    tables: dict[str, pa.Table]
    truth: pa.Table  # roster, reference, roster_key, reference_key, corruptions
    confounders: pa.Table  # roster, reference, roster_key, reference_key, kind
    outcomes: pa.Table  # scenario, roster_key, outcome, amount
    damage: pa.Table  # reference, key, corruptions: every reference record

    def pairs(self, roster: str, reference: str) -> pa.Table:
        """The true pairs of one roster and reference."""
        mask = pc.and_(
            pc.equal(self.truth["roster"], roster), pc.equal(self.truth["reference"], reference)
        )
        return self.truth.filter(mask)


@dataclass(frozen=True)
class PairData:
    """One roster, one damaged reference and their true pairs (`person_pair`)."""

    roster: pa.Table
    reference: pa.Table
    truth: pa.Table  # roster_key, reference_key, corruptions


# --- ground truth -----------------------------------------------------------------------


def _same(left: NDArray[np.int64], right: NDArray[np.int64]) -> tuple[NDArray, NDArray]:
    """Every (i, j) with ``left[i] == right[j] >= 0``: positions, without a Python loop."""
    order = np.argsort(right, kind="stable")
    ordered = right[order]
    lo = np.searchsorted(ordered, left, "left")
    hi = np.searchsorted(ordered, left, "right")
    counts = np.where(left >= 0, hi - lo, 0)
    i = np.repeat(np.arange(len(left)), counts)
    starts = np.repeat(lo, counts)
    offset = np.arange(len(i)) - np.repeat(np.cumsum(counts) - counts, counts)
    return i, order[starts + offset]


def _pair_table(
    roster: str, reference: str, r: Records, f: Records, i: NDArray, j: NDArray
) -> dict[str, pa.Array]:
    return {
        "roster": pa.array([roster] * len(i), pa.string()),
        "reference": pa.array([reference] * len(i), pa.string()),
        "roster_key": r.columns[KEYS[roster]].take(pa.array(i, pa.int64())),
        "reference_key": f.columns[KEYS[reference]].take(pa.array(j, pa.int64())),
    }


def _truth(tables: dict[str, Records], sibling: NDArray, role: NDArray) -> tuple[pa.Table, ...]:
    truth, confounders = [], []
    kinds = {
        name: corrupt.kinds_array(t.codes) for name, t in tables.items() if t.codes is not None
    }
    for s in SCENARIOS.values():
        r = tables[s.roster]
        for ref in s.references:
            f = tables[ref]
            i, j = _same(r.rows, f.rows)
            pairs = _pair_table(s.roster, ref, r, f, i, j)
            pairs["corruptions"] = kinds[ref].take(pa.array(j, pa.int64()))
            truth.append(pa.table(pairs))
            # A look-alike on either side: the reference record of someone added as the
            # roster person's twin or namesake, or the other way round.
            i1, j1 = _same(r.rows, sibling[f.rows])
            j2, i2 = _same(f.rows, sibling[r.rows])
            i_all, j_all = np.concatenate([i1, i2]), np.concatenate([j1, j2])
            added = np.concatenate([f.rows[j1], r.rows[i2]])
            pairs = _pair_table(s.roster, ref, r, f, i_all, j_all)
            pairs["kind"] = pa.array(np.where(role[added] == TWIN, "twin", "namesake"), pa.string())
            confounders.append(pa.table(pairs))
    damage = [
        pa.table(
            {
                "reference": pa.array([name] * len(t.rows), pa.string()),
                "key": t.columns[KEYS[name]],
                "corruptions": kinds[name],
            }
        )
        for name, t in tables.items()
        if t.codes is not None
    ]
    return pa.concat_tables(truth), pa.concat_tables(confounders), pa.concat_tables(damage)


def _outcomes(tables: dict[str, Records], b: Builder) -> pa.Table:
    """What a perfect check of each roster record finds in the references, and the money
    paid on it each month."""
    status = tables["residence"].columns["status"].to_numpy(zero_copy_only=False)
    register = tables["residence"].rows

    def has(table: str, rows: NDArray) -> NDArray[np.bool_]:
        return np.isin(rows, tables[table].rows)

    parts = []
    for s in SCENARIOS.values():
        r = tables[s.roster]
        rows = r.rows
        if s.name == "dibao":
            homes = np.bincount(tables["property"].rows, minlength=len(b.people))[rows]
            outcome = np.select(
                [has("vehicles", rows), homes >= 2], ["owns_vehicle", "multiple_properties"], "ok"
            )
        else:
            dead = np.isin(rows, register[status == "死亡"]) | has("deaths", rows)
            if "cremations" in s.references:
                dead |= has("cremations", rows)
            moved = np.isin(rows, register[status == "迁出"])
            outcome = np.select([dead, moved], ["deceased", "moved_away"], "ok")
        parts.append(
            pa.table(
                {
                    "scenario": pa.array([s.name] * len(rows), pa.string()),
                    "roster_key": r.columns[KEYS[s.roster]],
                    "outcome": pa.array(outcome, pa.string()),
                    "amount": r.columns[s.amount],
                }
            )
        )
    return pa.concat_tables(parts)


def generate(
    n: int,
    *,
    seed: int = DEFAULT_SEED,
    city: City | None = None,
    as_of: dt.date = DEFAULT_AS_OF,
) -> VerificationData:
    """The three scenarios for a city of ``n`` residents (plus the added look-alikes and
    outsiders); same arguments, same tables."""
    if n < 0:
        raise ValueError("n must be >= 0")
    city = city or build_city()
    people = build_cohort(n, seed, city, as_of, extras=True)
    builder = Builder(people, events(people, seed, as_of), seed, as_of, city)
    records = rosters(builder)
    records.update(references(builder, records["dibao"].rows))
    truth, confounders, damage = _truth(records, people.sibling, people.role)
    return VerificationData(
        tables={name: pa.table(r.columns) for name, r in sorted(records.items())},
        truth=truth,
        confounders=confounders,
        outcomes=_outcomes(records, builder),
        damage=damage,
    )


# --- plain pairs for speed benchmarks ---------------------------------------------------


def person_pair(
    roster_rows: int,
    reference_rows: int,
    *,
    seed: int = DEFAULT_SEED,
    shared: float = 0.5,
    city: City | None = None,
    as_of: dt.date = DEFAULT_AS_OF,
) -> PairData:
    """A clean roster of the first ``roster_rows`` residents and a reference of
    ``reference_rows`` damaged records (quality 1.0), ``shared`` of them copies of roster
    people and the rest of people after them; columns as person_zh reads them."""
    if not 0 <= shared <= 1 or roster_rows < 0 or reference_rows < 0:
        raise ValueError("rows must be >= 0 and shared within [0, 1]")
    copies = min(round(shared * reference_rows), roster_rows)
    others = reference_rows - copies
    city = city or build_city()
    people = build_cohort(roster_rows + others, seed, city, as_of, extras=False)
    b = Builder(people, None, seed, as_of, city)
    roster = np.arange(roster_rows)
    r = b.records("pair_roster", roster, prefix="R", shuffle=False)
    rng = b.rng("pair", "sample")
    sample = np.sort(rng.choice(roster_rows, copies, replace=False)) if copies else roster[:0]
    picked = np.concatenate([sample, np.arange(roster_rows, roster_rows + others)])
    f = b.records("pair_reference", picked, prefix="P", birth="iso", quality=1.0)
    i, j = _same(r.rows, f.rows)
    truth = {
        "roster_key": r.columns["person_id"].take(pa.array(i, pa.int64())),
        "reference_key": f.columns["person_id"].take(pa.array(j, pa.int64())),
        "corruptions": corrupt.kinds_array(f.codes).take(pa.array(j, pa.int64())),
    }
    return PairData(pa.table(r.columns), pa.table(f.columns), pa.table(truth))


def iter_id_roster(
    rows: int,
    *,
    seed: int = DEFAULT_SEED,
    city: City | None = None,
    batch_size: int = 1_000_000,
    as_of: dt.date = DEFAULT_AS_OF,
) -> Iterator[pa.RecordBatch]:
    """A roster of ``rows`` residents as (person_id, id_number) batches, with the ID numbers
    written as departments write them (`corrupt` at quality 1.0: missing, 15-digit,
    full-width …), in bounded memory: the exact pass of ten million rows. Row ``i`` is
    `person_pair`'s roster row ``i`` (its key is the same, unshuffled: ``R`` + position);
    which numbers are damaged depends on ``batch_size`` too."""
    city = city or build_city()
    done = 0
    for k, batch in enumerate(
        iter_population_batches(rows, seed, city, batch_size=batch_size, as_of=as_of)
    ):
        p = corrupt.People(
            name=np.empty(batch.num_rows, object),
            id_bytes=id_matrix(batch.column("id_number")),
            birth=np.zeros(batch.num_rows, "datetime64[D]"),
            sex=np.zeros(batch.num_rows, np.int8),
            district=np.zeros(batch.num_rows, np.int64),
        )
        corrupt.damage(p, stream(seed, "verification", "id_roster", k), districts=1, fields=("id",))
        numbers = pc.cast(pa.array(np.arange(done + 1, done + batch.num_rows + 1)), pa.string())
        yield pa.RecordBatch.from_arrays(
            [
                pc.binary_join_element_wise("R", pc.utf8_lpad(numbers, 9, "0"), ""),
                pa.array(p.id_number, pa.string()),
            ],
            names=["person_id", "id_number"],
        )
        done += batch.num_rows
