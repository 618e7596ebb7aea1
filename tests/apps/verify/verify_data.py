"""Test rosters for verification: a synthetic reference (比对库) of residents, a roster
(花名册) drawn from it with the usual damage, and hand-made hard cases on top.

Deterministic from the seed. The background people give EM and u sampling enough pairs to
learn from; the hard cases are the ones the tests look at:

=========  =====================================================  ==================
roster     reference                                              expected
=========  =====================================================  ==================
R-HOMO     章三丰 (no ID)  ↔ P-HOMO 张三丰                         match (homophone)
R-TRAD     陳偉東 (no ID)  ↔ P-TRAD 陈伟东                         match (traditional)
R-OLD15    15-digit ID     ↔ P-OLD15 (18-digit)                   exact pass
R-SWAP     1985-03-21 (no ID) ↔ P-SWAP 1985-03-12                 match (swapped digits)
R-TWIN     王建华 (no ID)  ↔ P-TWIN1 王建华; P-TWIN2 王建国 (twin)  only TWIN1 auto
R-BADID    invalid ID (check digit) ↔ P-BADID                     probabilistic match
=========  =====================================================  ==================
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from zhili.synth.idcard import make_id
from zhili.synth.names import draw_names

DISTRICTS = ("上城区", "拱墅区", "西湖区", "滨江区", "萧山区", "余杭区", "临平区", "钱塘区")
REGIONS = ("330102", "330105", "330106", "330108", "330109", "330110", "330113", "330114")
COLUMNS = ("person_id", "name", "birth_date", "sex", "district", "id_number")


def _person(pid: str, name: str, birth: dt.date, sex: str, d: int, seq: int) -> dict:
    code = 2 * seq + (1 if sex == "男" else 2)
    return {
        "person_id": pid,
        "name": name,
        "birth_date": birth.isoformat(),
        "sex": sex,
        "district": DISTRICTS[d],
        "id_number": make_id(REGIONS[d], birth, code % 1000),
    }


HARD_REFERENCE = [
    _person("P-HOMO", "张三丰", dt.date(1962, 4, 9), "男", 0, 11),
    _person("P-TRAD", "陈伟东", dt.date(1978, 11, 23), "男", 1, 12),
    _person("P-OLD15", "刘秀英", dt.date(1956, 7, 1), "女", 2, 13),
    _person("P-SWAP", "赵丽娟", dt.date(1985, 3, 12), "女", 3, 14),
    _person("P-TWIN1", "王建华", dt.date(1980, 5, 5), "男", 4, 15),
    _person("P-TWIN2", "王建国", dt.date(1980, 5, 5), "男", 4, 16),
    _person("P-BADID", "孙志明", dt.date(1990, 8, 30), "男", 5, 17),
]


def _hard_roster() -> list[dict]:
    ref = {p["person_id"]: p for p in HARD_REFERENCE}

    def copy(pid: str, rid: str, **changes: str) -> dict:
        row = {**ref[pid], "person_id": rid}
        row.update(changes)
        return row

    old = ref["P-OLD15"]["id_number"]
    bad = ref["P-BADID"]["id_number"]
    wrong_check = bad[:17] + ("0" if bad[17] != "0" else "1")
    return [
        copy("P-HOMO", "R-HOMO", name="章三丰", id_number=""),
        copy("P-TRAD", "R-TRAD", name="陳偉東", id_number=""),
        copy("P-OLD15", "R-OLD15", id_number=old[:6] + old[8:17]),
        copy("P-SWAP", "R-SWAP", birth_date="1985-03-21", id_number=""),
        copy("P-TWIN1", "R-TWIN", id_number=""),
        copy("P-BADID", "R-BADID", id_number=wrong_check),
    ]


def people(n: int, seed: int = 5) -> list[dict]:
    """``n`` synthetic residents with valid, distinct ID numbers."""
    rng = np.random.default_rng(seed)
    sex = rng.integers(1, 3, n)
    births = [dt.date(1940, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 365 * 60, n)]
    names = draw_names(rng, sex, np.array([b.year for b in births])).to_pylist()
    districts = rng.integers(0, len(DISTRICTS), n)
    return [
        _person(f"P{i:05d}", names[i], births[i], "男" if sex[i] == 1 else "女",
                int(districts[i]), 100 + i)
        for i in range(n)
    ]  # fmt: skip


HARD_TRUTH = {
    ("R-HOMO", "P-HOMO"),
    ("R-TRAD", "P-TRAD"),
    ("R-OLD15", "P-OLD15"),
    ("R-SWAP", "P-SWAP"),
    ("R-TWIN", "P-TWIN1"),
    ("R-BADID", "P-BADID"),
}


def rosters(
    n_reference: int = 400, n_roster: int = 250, seed: int = 5
) -> tuple[pa.Table, pa.Table, set[tuple[str, str]]]:
    """(roster, reference, true pairs): the roster copies ``n_roster`` reference people,
    40 % without their ID number and 10 % with a wrong birth-date digit, plus the hard
    cases."""
    rng = np.random.default_rng(seed + 1)
    reference = people(n_reference, seed) + HARD_REFERENCE
    roster, pairs = [], set(HARD_TRUTH)
    for k, i in enumerate(rng.choice(n_reference, n_roster, replace=False)):
        row = {**reference[int(i)], "person_id": f"R{k:05d}"}
        pairs.add((row["person_id"], reference[int(i)]["person_id"]))
        if rng.random() < 0.4:
            row["id_number"] = ""
        if rng.random() < 0.1:
            day = row["birth_date"]
            row["birth_date"] = day[:-1] + str((int(day[-1]) + 1) % 10)
        roster.append(row)
    roster += _hard_roster()
    return table(roster), table(reference), pairs


def table(rows: list[dict]) -> pa.Table:
    return pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in COLUMNS})
