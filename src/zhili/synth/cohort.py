"""Everyone the verification scenarios draw on, and what happened to them.

The residents of `zhili.synth.population` (same seed, same people), plus people added to
make matching hard — **twins** (same surname, birth date, district and ID region code,
another given name, half the time sharing its first character: 建国/建华), **namesakes**
(same name, birth date and sex, another district and ID number) and residents given a
dotted **minority name** (阿依古丽·买买提) — and **outsiders**, people of other cities who
die, are cremated or own property here but are on no roster. `events` then says who died
or moved away within the references' window. All as NumPy arrays, built without a Python
loop per person except over the few added ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from zhili.synth import corrupt, demography, idcard, names
from zhili.synth.city import City
from zhili.synth.population import iter_population_batches
from zhili.synth.regions import district_spec, id_region_code
from zhili.synth.rng import stream

TWIN_SHARE = 0.02  #: twins added, per resident
NAMESAKE_SHARE = 0.01  #: same-name-same-birthday strangers added, per resident
MINORITY_SHARE = 0.005  #: residents with a dotted minority name
OUTSIDER_SHARE = 0.08  #: people of other cities, per resident
WINDOW_DAYS = 3 * 365  #: the references cover the last three years
#: Chance that an added twin or namesake died or moved away in the window (so that they
#: turn up in the references, next to their look-alike in the rosters).
EXTRA_DIED, EXTRA_MOVED = 0.3, 0.2
#: Roles in `Cohort.role`.
RESIDENT, TWIN, NAMESAKE, OUTSIDER = 0, 1, 2, 3


@dataclass
class Cohort:
    """Everyone as arrays: residents, then added twins and namesakes, then outsiders."""

    name: NDArray[np.object_]
    id_bytes: NDArray[np.uint8]
    birth: NDArray[np.datetime64]
    sex: NDArray[np.int8]
    district: NDArray[np.int64]
    address: pa.Array
    phone: pa.Array
    resident: NDArray[np.bool_]  # False for outsiders
    sibling: NDArray[np.int64]  # the look-alike an added person was made from, else -1
    role: NDArray[np.int8]  # 0 resident, 1 twin, 2 namesake, 3 outsider

    def __len__(self) -> int:
        return len(self.name)

    def take(self, rows: NDArray[np.intp]) -> corrupt.People:
        return corrupt.People(
            name=self.name[rows].copy(),
            id_bytes=self.id_bytes[rows].copy(),
            birth=self.birth[rows].copy(),
            sex=self.sex[rows].copy(),
            district=self.district[rows].copy(),
        )


def id_matrix(ids: pa.Array) -> NDArray[np.uint8]:
    """Valid 18-character numbers as an (n, 18) byte matrix, without a Python loop."""
    offsets = np.frombuffer(ids.buffers()[1], np.int32)[ids.offset : ids.offset + len(ids) + 1]
    data = np.frombuffer(ids.buffers()[2], np.uint8)
    if len(ids) and not (np.diff(offsets) == 18).all():
        raise ValueError("expected 18-character ID numbers")
    return data[offsets[0] : offsets[-1]].reshape(-1, 18).copy()


def _population(n: int, seed: int, city: City, as_of: dt.date) -> dict[str, pa.Array]:
    columns = ("id_number", "name", "sex_code", "birth_date", "district_code", "address", "phone")
    parts: dict[str, list[pa.Array]] = {c: [] for c in columns}
    for batch in iter_population_batches(n, seed, city, as_of=as_of):
        for c in columns:
            parts[c].append(batch.column(c))
    return {c: pa.concat_arrays(v) if v else pa.array([], pa.string()) for c, v in parts.items()}


def build_cohort(n: int, seed: int, city: City, as_of: dt.date, *, extras: bool) -> Cohort:
    """``n`` residents (with twins, namesakes and minority names when ``extras``), then
    outsiders."""
    outsiders = int(np.ceil(OUTSIDER_SHARE * n)) if extras else 0
    pop = _population(n + outsiders, seed, city, as_of)
    codes = pa.array([d.code for d in city.districts])
    people = Cohort(
        name=pop["name"].to_numpy(zero_copy_only=False).astype(object),
        id_bytes=id_matrix(pop["id_number"]),
        birth=pop["birth_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]"),
        sex=pop["sex_code"].to_numpy(zero_copy_only=False).astype(np.int8),
        district=pc.index_in(pop["district_code"], value_set=codes).to_numpy().astype(np.int64),
        address=pop["address"],
        phone=pop["phone"],
        resident=np.arange(n + outsiders) < n,
        sibling=np.full(n + outsiders, -1, np.int64),
        role=np.where(np.arange(n + outsiders) < n, RESIDENT, OUTSIDER).astype(np.int8),
    )
    if not extras or n == 0:
        return people
    _minority_names(people, n, stream(seed, "verification", "minority"))
    added = _twins(people, n, stream(seed, "verification", "twins"), as_of)
    added += _namesakes(people, n, stream(seed, "verification", "namesakes"), city)
    return _insert(people, n, added, stream(seed, "verification", "homes"))


def _minority_names(people: Cohort, n: int, rng: np.random.Generator) -> None:
    rows = rng.choice(n, round(MINORITY_SHARE * n), replace=False)
    given = np.array(corrupt.MINORITY_GIVEN, dtype=object)[
        rng.integers(len(corrupt.MINORITY_GIVEN), size=len(rows))
    ]
    father = np.array(corrupt.MINORITY_FATHER, dtype=object)[
        rng.integers(len(corrupt.MINORITY_FATHER), size=len(rows))
    ]
    people.name[rows] = given + "·" + father


@dataclass
class _Added:
    """People made from a resident (``sibling``): their columns, before insertion."""

    sibling: NDArray[np.int64]
    name: NDArray[np.object_]
    id_bytes: NDArray[np.uint8]
    sex: NDArray[np.int8]
    district: NDArray[np.int64]
    role: int


def _birth_years(birth: NDArray[np.datetime64]) -> NDArray[np.int64]:
    return birth.astype("datetime64[Y]").astype(np.int64) + 1970


def _seq_for(rng: np.random.Generator, sex: NDArray[np.int8]) -> NDArray[np.int64]:
    """A random sequence number of the right parity (men odd, women even)."""
    slot = rng.integers(0, 499, len(sex))
    return 2 * slot + np.where(sex == 1, 1, 2)


def _twins(people: Cohort, n: int, rng: np.random.Generator, as_of: dt.date) -> list[_Added]:
    """Twins: same surname, birth date, district and region code; a sex of their own and
    another given name, half the time sharing its first character (建国/建华)."""
    plain = np.array(["·" not in s for s in people.name[:n]], dtype=bool)
    rows = rng.choice(np.flatnonzero(plain), round(TWIN_SHARE * n), replace=False)
    rows.sort()
    sex = np.where(rng.random(len(rows)) < 0.5, people.sex[rows], 3 - people.sex[rows]).astype(
        np.int8
    )
    drawn = names.draw_names(rng, sex, _birth_years(people.birth[rows])).to_pylist()
    share = rng.random(len(rows)) < 0.5
    out = np.empty(len(rows), dtype=object)
    for k, (i, new) in enumerate(zip(rows, drawn, strict=True)):
        old = people.name[i]
        cut, new_cut = corrupt.surname_length(old), corrupt.surname_length(new)
        given = new[new_cut:]
        if share[k] and len(given) == 2 and len(old) - cut == 2:
            given = old[cut] + given[1]
        if given == old[cut:]:
            given = given[:-1] + ("华" if given[-1] != "华" else "明")
        out[k] = old[:cut] + given
    region = _digits_value(people.id_bytes[rows, :6])
    seq = _seq_for(rng, sex)
    ids = idcard.id_digits(region, people.birth[rows], seq)
    return [_Added(rows, out, ids, sex, people.district[rows].copy(), TWIN)]


def _namesakes(people: Cohort, n: int, rng: np.random.Generator, city: City) -> list[_Added]:
    """Strangers with the same name, birth date and sex, from another district."""
    rows = np.sort(rng.choice(n, round(NAMESAKE_SHARE * n), replace=False))
    count = len(city.districts)
    district = (people.district[rows] + rng.integers(1, count, len(rows))) % count
    years = _birth_years(people.birth[rows])
    specs = [district_spec(d.code) for d in city.districts]
    region = np.array(
        [id_region_code(specs[d], int(y)) for d, y in zip(district, years, strict=True)],
        dtype=np.int64,
    )
    sex = people.sex[rows].copy()
    ids = idcard.id_digits(region, people.birth[rows], _seq_for(rng, sex))
    return [_Added(rows, people.name[rows].copy(), ids, sex, district, NAMESAKE)]


def _digits_value(chars: NDArray[np.uint8]) -> NDArray[np.int64]:
    return ((chars.astype(np.int64) - ord("0")) * 10 ** np.arange(chars.shape[1] - 1, -1, -1)).sum(
        axis=1
    )


def _insert(people: Cohort, n: int, added: list[_Added], rng: np.random.Generator) -> Cohort:
    """The added people after the residents (they are residents too), before outsiders.
    One whose ID number is already taken is left out."""
    ids = np.concatenate([a.id_bytes for a in added])
    taken = np.concatenate([people.id_bytes, ids]).view("S18").ravel()
    _, first = np.unique(taken, return_index=True)
    keep = np.zeros(len(taken), bool)
    keep[first] = True
    keep = keep[len(people) :]
    sib = np.concatenate([a.sibling for a in added])[keep]
    extra = len(sib)
    # Homes: the address of a random resident of the same district; phones of their own.
    district = np.concatenate([a.district for a in added])[keep]
    order = np.argsort(people.district[:n], kind="stable")
    starts = np.searchsorted(people.district[:n][order], np.arange(district.max(initial=0) + 2))
    lo, hi = starts[district], starts[district + 1]
    home = order[lo + (rng.random(extra) * np.maximum(hi - lo, 1)).astype(np.int64)]
    phone = 13_000_000_000 + rng.integers(0, 10**9, extra)

    def join(base: np.ndarray, new: np.ndarray) -> np.ndarray:
        return np.concatenate([base[:n], new, base[n:]])

    def join_arrow(base: pa.Array, new: pa.Array) -> pa.Array:
        return pa.concat_arrays([base.slice(0, n), new, base.slice(n)])

    return Cohort(
        name=join(people.name, np.concatenate([a.name for a in added])[keep]),
        id_bytes=join(people.id_bytes, ids[keep]),
        birth=join(people.birth, people.birth[sib]),
        sex=join(people.sex, np.concatenate([a.sex for a in added])[keep]),
        district=join(people.district, district),
        address=join_arrow(people.address, people.address.take(pa.array(home))),
        phone=join_arrow(people.phone, pc.cast(pa.array(phone), pa.string())),
        resident=join(people.resident, np.ones(extra, bool)),
        sibling=join(people.sibling, sib),
        role=join(
            people.role, np.concatenate([np.full(len(a.sibling), a.role) for a in added])[keep]
        ),
    )


@dataclass
class Events:
    """Who died or moved away from the city within the window, when, and ages at as_of."""

    died: NDArray[np.bool_]
    died_on: NDArray[np.datetime64]
    moved: NDArray[np.bool_]
    moved_on: NDArray[np.datetime64]
    age: NDArray[np.int64]


def events(people: Cohort, seed: int, as_of: dt.date) -> Events:
    """Deaths (Gompertz-like by age) and moves away from the city within the window; the
    added look-alikes far more often, so they meet their originals in the references."""
    rng = stream(seed, "verification", "events")
    age = demography.ages_at(as_of, people.birth)
    years = WINDOW_DAYS / 365
    yearly_death = np.minimum(np.exp(-10.6 + 0.093 * age), 0.6)
    yearly_move = np.select([age < 18, age < 40, age < 60], [0.008, 0.015, 0.006], 0.003)
    added = (people.role == TWIN) | (people.role == NAMESAKE)
    p_died = np.where(added, EXTRA_DIED, 1 - (1 - yearly_death) ** years)
    p_moved = np.where(added, EXTRA_MOVED / (1 - EXTRA_DIED), 1 - (1 - yearly_move) ** years)
    died = rng.random(len(people)) < p_died
    moved = ~died & people.resident & (rng.random(len(people)) < p_moved)
    start = np.datetime64(as_of, "D") - WINDOW_DAYS
    died_on = np.maximum(start + rng.integers(1, WINDOW_DAYS + 1, len(people)), people.birth)
    moved_on = np.maximum(start + rng.integers(1, WINDOW_DAYS + 1, len(people)), people.birth)
    return Events(died, died_on, moved, moved_on, age)
