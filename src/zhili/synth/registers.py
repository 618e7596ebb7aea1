"""The departments' tables of the verification scenarios, built from a `Cohort`.

Rosters (人社 pensioners, 交通 senior cards, 民政 低保 recipients) list eligible residents
as the department has them — clean, and stale: some of the people on them died or moved
away, which is what the checks are for. References (卫健 deaths, 民政 cremations, the 公安
register, property and vehicle registers) hold everyone they should, residents and
outsiders, each record damaged by `zhili.synth.corrupt` at the source's `QUALITY`. Rows
are shuffled and keyed in their new order, so neither order nor key says who is who.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from zhili.synth import corrupt
from zhili.synth.city import City
from zhili.synth.cohort import Cohort, Events
from zhili.synth.rng import stream

#: The key column of each table.
KEYS = {
    "pensioners": "person_id",
    "senior_cards": "person_id",
    "dibao": "person_id",
    "deaths": "person_id",
    "cremations": "person_id",
    "residence": "person_id",
    "property": "record_id",
    "vehicles": "record_id",
}
#: Damage per reference, × `corrupt.RATES`: the 公安 register is the cleanest, cremation
#: records (copied from funeral homes' forms) the worst.
QUALITY = {"deaths": 1.0, "cremations": 1.5, "residence": 0.5, "property": 1.0, "vehicles": 0.7}
#: Share of the people who died (moved away) in the window still on a roster: the lists
#: lag behind, which is what the checks are for.
STALE_DIED, STALE_MOVED = 0.5, 0.6
_PERSON_FIELDS = ("name", "id", "birth", "sex", "district")
_OWNER_FIELDS = ("name", "id", "district")
_PROVINCES = ("北京市", "河北省", "山东省", "辽宁省", "河南省", "江苏省", "广东省", "海南省")
_VEHICLE_TYPES = ("小型轿车", "小型普通客车", "小型越野客车", "轻型厢式货车", "普通二轮摩托车")
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O
_DEATH_PLACES = ("医疗卫生机构", "家中", "养老机构", "其他")


def _keys(prefix: str, count: int, width: int = 9) -> pa.Array:
    numbers = pc.cast(pa.array(np.arange(1, count + 1)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(numbers, width, "0"), "")


def _dates(days: NDArray[np.datetime64], style: str = "date") -> pa.Array:
    """Dates as date32, or as text the way a source writes them."""
    out = pa.array(days.astype("datetime64[D]"), pa.date32(), mask=np.isnat(days))
    if style == "date":
        return out
    if style == "chinese":  # 1950年3月2日
        parts = [pc.cast(f(out), pa.string()) for f in (pc.year, pc.month, pc.day)]
        return pc.binary_join_element_wise(parts[0], "年", parts[1], "月", parts[2], "日", "")
    return pc.strftime(out, format={"iso": "%Y-%m-%d", "compact": "%Y%m%d"}[style])


def _money(values: NDArray[np.float64]) -> pa.Array:
    return pa.array(np.round(values, 2), pa.float64())


@dataclass
class Records:
    """One table's rows: whose they are (person indices), its columns, the damage."""

    rows: NDArray[np.int64]
    columns: dict[str, pa.Array]
    codes: NDArray[np.int16] | None = None  # damage per record, for references


class Builder:
    """Makes tables of a cohort's people; ``events`` is needed for the scenario tables
    (`rosters`, `references`), not for plain `records`."""

    def __init__(
        self, people: Cohort, events: Events | None, seed: int, as_of: dt.date, city: City
    ) -> None:
        self.people, self.seed, self.as_of = people, seed, as_of
        self._events = events
        self.today = np.datetime64(as_of, "D")
        self.district_names = pa.array([d.name for d in city.districts])

    @property
    def events(self) -> Events:
        if self._events is None:
            raise ValueError("this builder was made without events")
        return self._events

    def rng(self, *path: str) -> np.random.Generator:
        return stream(self.seed, "verification", *path)

    def records(
        self,
        table: str,
        rows: NDArray[np.int64],
        *,
        prefix: str,
        owner: bool = False,
        birth: str = "date",
        quality: float | None = None,
        shuffle: bool = True,
    ) -> Records:
        """Person columns of ``rows`` (shuffled unless not ``shuffle``) with sequential
        keys; damaged at ``quality`` (default: the table's `QUALITY`, none for a roster)."""
        rng = self.rng(table, "records")
        if shuffle:
            rows = rows[rng.permutation(len(rows))]
        p = self.people.take(rows)
        codes = None
        quality = QUALITY.get(table) if quality is None else quality
        if quality is not None:
            fields = _OWNER_FIELDS if owner else _PERSON_FIELDS
            codes = corrupt.damage(
                p,
                rng,
                quality=quality,
                districts=len(self.district_names),
                fields=fields,
                as_of=self.today,
            )
        else:
            p.id_number = corrupt.id_strings(p.id_bytes)
        sex = pa.array(np.where(p.sex == 1, "男", "女"), pa.string(), mask=p.sex == 0)
        district = self.district_names.take(pa.array(p.district, mask=p.district < 0))
        key, name, number = (
            ("record_id", "owner_name", "owner_id_number")
            if owner
            else ("person_id", "name", "id_number")
        )
        columns = {
            key: _keys(prefix, len(rows)),
            name: pa.array(p.name, pa.string()),
            number: pa.array(p.id_number, pa.string()),
        }
        if not owner:
            columns["sex"] = sex
            columns["birth_date"] = _dates(p.birth, birth)
        columns["district"] = district
        return Records(rows, columns, codes)


def rosters(b: Builder) -> dict[str, Records]:
    """Who is on each department's list: eligible residents, alive or not (the lists are
    what the checks are for)."""
    people, ev, today = b.people, b.events, b.today
    rng = b.rng("eligibility")
    n = len(people)
    retired = (people.sex == 1) & (ev.age >= 60) | (people.sex == 2) & (ev.age >= 55)
    dead = ev.died & (rng.random(n) >= STALE_DIED)  # already taken off the lists
    gone = dead | ev.moved & (rng.random(n) >= STALE_MOVED)
    pension = people.resident & retired & ~dead & (rng.random(n) < 0.85)
    senior = people.resident & (ev.age >= 60) & ~gone & (rng.random(n) < 0.65)
    poor = rng.random(n) < np.where(ev.age >= 60, 0.04, 0.02)
    dibao = people.resident & (ev.age >= 18) & ~gone & poor
    out = {}

    r = b.records("pensioners", np.flatnonzero(pension), prefix="YL")
    age, male = ev.age[r.rows], people.sex[r.rows] == 1
    rng = b.rng("pensioners", "money")
    amount = 2600 + 35 * (age - 60) + 400 * male + rng.normal(0, 700, len(r.rows))
    retire_age = np.where(male, 60, 55) * 365.2425
    r.columns["monthly_pension"] = _money(np.clip(amount, 1300, 9000))
    retired_on = people.birth[r.rows] + retire_age.astype(np.int64)
    r.columns["retired_on"] = _dates(np.minimum(retired_on, today))
    out["pensioners"] = r

    r = b.records("senior_cards", np.flatnonzero(senior), prefix="LN")
    rng = b.rng("senior_cards", "cards")
    over65 = ev.age[r.rows] >= 65
    numbers = pc.cast(pa.array(rng.choice(10**8, len(r.rows), replace=False)), pa.string())
    r.columns = {
        "person_id": r.columns.pop("person_id"),
        "card_no": pc.binary_join_element_wise("3101", pc.utf8_lpad(numbers, 8, "0"), ""),
        **r.columns,
        "card_type": pa.array(np.where(over65, "老年人免费乘车卡", "老年人优待卡")),
        "issued_on": _dates(today - rng.integers(0, 3650, len(r.rows))),
        "monthly_benefit": _money(np.where(over65, 100.0, 50.0)),
    }
    out["senior_cards"] = r

    r = b.records("dibao", np.flatnonzero(dibao), prefix="DB")
    rng = b.rng("dibao", "money")
    size = 1 + np.searchsorted([0.45, 0.75, 0.9], rng.random(len(r.rows)))
    r.columns["address"] = people.address.take(pa.array(r.rows))
    r.columns["phone"] = people.phone.take(pa.array(r.rows))
    r.columns["household_size"] = pa.array(size, pa.int8())
    r.columns["monthly_allowance"] = _money(1010 * size * rng.uniform(0.4, 1.0, len(r.rows)))
    r.columns["approved_on"] = _dates(today - rng.integers(30, 2000, len(r.rows)))
    out["dibao"] = r
    return out


def references(b: Builder, dibao: NDArray[np.int64]) -> dict[str, Records]:
    """The other departments' records: deaths, cremations and the 公安 register of the
    last three years, and who owns property and vehicles."""
    people, ev = b.people, b.events
    n = len(people)
    rng = b.rng("references")
    out = {}

    certified = ev.died & (rng.random(n) < 0.95)
    r = b.records("deaths", np.flatnonzero(certified), prefix="SW", birth="iso")
    r.columns["death_date"] = _dates(ev.died_on[r.rows])
    place = rng.choice(len(_DEATH_PLACES), len(r.rows), p=[0.62, 0.3, 0.06, 0.02])
    r.columns["death_place"] = pa.array(np.array(_DEATH_PLACES)[place])
    out["deaths"] = r

    cremated = ev.died & (rng.random(n) < np.where(people.resident, 0.9, 0.6))
    r = b.records("cremations", np.flatnonzero(cremated), prefix="HH", birth="chinese")
    r.columns["cremated_on"] = _dates(ev.died_on[r.rows] + rng.integers(1, 8, len(r.rows)))
    homes = np.array(["示例市殡仪馆", "示例市第二殡仪馆", "滨海殡仪馆"])
    r.columns["funeral_home"] = pa.array(homes[rng.integers(0, 3, len(r.rows))])
    out["cremations"] = r

    deregistered = ev.died & (rng.random(n) < 0.7)
    r = b.records("residence", np.flatnonzero(people.resident), prefix="GA", birth="compact")
    dead, moved = deregistered[r.rows], ev.moved[r.rows]
    r.columns["status"] = pa.array(np.where(dead, "死亡", np.where(moved, "迁出", "正常")))
    when = np.where(dead, ev.died_on[r.rows], ev.moved_on[r.rows])
    r.columns["status_date"] = _dates(np.where(dead | moved, when, np.datetime64("NaT")))
    dest = np.array(_PROVINCES, dtype=object)[rng.integers(0, len(_PROVINCES), len(r.rows))]
    r.columns["moved_to"] = pa.array(np.where(moved & ~dead, dest, None), pa.string())
    out["residence"] = r

    out["property"] = _property(b, dibao)
    out["vehicles"] = _vehicles(b, dibao)
    return out


def _owners(
    b: Builder, rng: np.random.Generator, dibao: NDArray[np.int64], share: tuple[float, ...]
) -> NDArray[np.int64]:
    """Owners, one row per thing owned. ``share``: residents, 低保 recipients, outsiders
    owning one; then the chance of each further one (the poor less often)."""
    people, age = b.people, b.events.age
    n = len(people)
    own, poor, outside, more, poor_more = share
    is_poor = np.zeros(n, bool)
    is_poor[dibao] = True
    p = np.where(is_poor, poor, np.where(people.resident, own, outside))
    rows = np.flatnonzero((age >= 25) & (rng.random(n) < p))
    extra = rows[rng.random(len(rows)) < np.where(is_poor[rows], poor_more, more)]
    third = extra[rng.random(len(extra)) < 0.15]
    return np.sort(np.concatenate([rows, extra, third]))


def _other_addresses(b: Builder, rng: np.random.Generator, count: int) -> NDArray[np.int64]:
    """Residents whose address (and district) stands in for another place."""
    return rng.integers(0, int(b.people.resident.sum()), count)


def _property(b: Builder, dibao: NDArray[np.int64]) -> Records:
    rng = b.rng("property")
    people = b.people
    owners = _owners(b, rng, dibao, (0.55, 0.3, 0.25, 0.15, 0.05))
    r = b.records("property", owners, prefix="BDC", owner=True)
    first = np.r_[True, np.diff(np.sort(r.rows)) != 0]  # the owner's first property
    is_first = np.zeros(len(r.rows), bool)
    order = np.argsort(r.rows, kind="stable")
    is_first[order] = first
    home = is_first & people.resident[r.rows] & (rng.random(len(r.rows)) < 0.85)
    place = np.where(home, r.rows, _other_addresses(b, rng, len(r.rows)))
    r.columns["address"] = people.address.take(pa.array(place))
    r.columns["phone"] = people.phone.take(pa.array(r.rows, mask=rng.random(len(place)) < 0.3))
    located = pa.array(np.where(home, people.district[r.rows], people.district[place]))
    damaged = r.codes[:, 4] > 0
    r.columns["district"] = pc.if_else(
        pa.array(damaged), r.columns["district"], b.district_names.take(located)
    )
    r.columns["area_m2"] = _money(np.clip(rng.lognormal(4.45, 0.35, len(r.rows)), 18, 400))
    registered = b.today - rng.integers(30, 26 * 365, len(r.rows))
    r.columns["registered_on"] = _dates(registered)
    year = pc.cast(pc.year(r.columns["registered_on"]), pa.string())
    serial = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, len(r.rows) + 1)), pa.string()), 7, "0")
    cert = pc.binary_join_element_wise("津(", year, ")示例市不动产权第", serial, "号", "")
    r.columns = {"record_id": r.columns.pop("record_id"), "cert_no": cert, **r.columns}
    other = ~home & people.resident[r.rows] & is_first
    r.codes = np.column_stack([r.codes, np.where(other, corrupt.code("address_other"), 0)])
    return r


def _vehicles(b: Builder, dibao: NDArray[np.int64]) -> Records:
    rng = b.rng("vehicles")
    people = b.people
    owners = _owners(b, rng, dibao, (0.3, 0.05, 0.05, 0.05, 0.0))
    r = b.records("vehicles", owners, prefix="JDC", owner=True)
    m = len(r.rows)
    old = rng.random(m) < corrupt.RATES["address_other"]
    place = np.where(old, _other_addresses(b, rng, m), r.rows)
    r.columns["address"] = people.address.take(pa.array(place))
    changed = rng.random(m) < corrupt.RATES["phone_other"]
    other_phone = pc.cast(pa.array(13_000_000_000 + rng.integers(0, 10**9, m)), pa.string())
    r.columns["phone"] = pc.if_else(
        pa.array(changed), other_phone, people.phone.take(pa.array(r.rows))
    )
    r.columns["vehicle_type"] = pa.array(
        np.array(_VEHICLE_TYPES)[rng.choice(5, m, p=[0.6, 0.2, 0.12, 0.05, 0.03])]
    )
    r.columns["registered_on"] = _dates(b.today - rng.integers(30, 15 * 365, m))
    r.columns = {"record_id": r.columns.pop("record_id"), "plate_no": _plates(rng, m), **r.columns}
    r.codes = np.column_stack(
        [
            r.codes,
            np.where(old, corrupt.code("address_other"), 0),
            np.where(changed, corrupt.code("phone_other"), 0),
        ]
    )
    return r


def _plates(rng: np.random.Generator, count: int) -> pa.Array:
    """Distinct plates such as 津A·B1234 written 津AB1234: a letter for the issuing office,
    then a letter or digit and four digits."""
    letters, serials = len(_PLATE_LETTERS), 34 * 10**4
    drawn = rng.choice(letters * serials, count, replace=False)
    office = np.array(list(_PLATE_LETTERS))[drawn // serials]
    first = np.array(list("0123456789" + _PLATE_LETTERS))[drawn % serials // 10**4]
    digits = pc.utf8_lpad(pc.cast(pa.array(drawn % 10**4), pa.string()), 4, "0")
    return pc.binary_join_element_wise("津", pa.array(office), pa.array(first), digits, "")
