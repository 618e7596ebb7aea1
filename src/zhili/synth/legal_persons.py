"""Legal persons (市场监管 企业登记): companies registered in the demo city, with valid
unified social credit codes, for the 法人单位基础信息 resource and the risk scenarios later.

Deterministic from the seed (own random stream), vectorised; unique codes by construction
(the organization-code body is a running number through a fixed permutation)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from zhili.synth.city import City
from zhili.synth.names import draw_names
from zhili.synth.rng import stream
from zhili.synth.uscc import make_uscc

LEGAL_PERSON_SCHEMA = pa.schema(
    [
        pa.field("uscc", pa.string(), nullable=False),
        pa.field("company", pa.string(), nullable=False),
        pa.field("legal_rep", pa.string(), nullable=False),
        pa.field("capital", pa.float64(), nullable=False),  # 万元
        pa.field("founded", pa.date32(), nullable=False),
        pa.field("district_code", pa.string(), nullable=False),
        pa.field("address", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
    ]
)
WORDS = tuple("华信达通恒泰兴隆瑞丰源鑫润安博远宏盛康佳和顺德嘉凯中天海新城创益合汇金利诚")
INDUSTRIES = (
    ("科技", 0.18), ("商贸", 0.2), ("餐饮管理", 0.1), ("建筑工程", 0.08), ("物流", 0.07),
    ("文化传媒", 0.06), ("医药", 0.04), ("物业服务", 0.06), ("教育咨询", 0.05),
    ("机械制造", 0.06), ("食品", 0.05), ("环保科技", 0.05),
)  # fmt: skip
FORMS = (("有限公司", 0.82), ("有限责任公司", 0.1), ("股份有限公司", 0.03), ("个人独资企业", 0.05))
STATUS = (("存续", 0.86), ("在业", 0.06), ("注销", 0.05), ("吊销", 0.03))


def _pick(rng: np.random.Generator, pairs: tuple[tuple[str, float], ...], n: int) -> np.ndarray:
    names = np.array([p[0] for p in pairs], dtype=object)
    weights = np.array([p[1] for p in pairs])
    return names[rng.choice(len(pairs), n, p=weights / weights.sum())]


def legal_persons(n: int, seed: int, city: City, *, as_of: dt.date | None = None) -> pa.Table:
    """``n`` companies as a table of :data:`LEGAL_PERSON_SCHEMA`."""
    rng = stream(seed, "legal_persons")
    as_of = as_of or dt.date(2026, 11, 24)
    districts = city.districts
    d_idx = rng.choice(len(districts), n, p=_weights(districts))
    bodies = rng.permutation(10**7)[:n] + 10**7 * 3
    codes = [
        make_uscc("91", districts[d].code[:6], f"{b:08d}")
        for d, b in zip(d_idx, bodies, strict=True)
    ]
    word = np.array(WORDS, dtype=object)
    brand = word[rng.integers(0, len(word), n)] + word[rng.integers(0, len(word), n)]
    dname = np.array([d.name for d in districts], dtype=object)[d_idx]
    company = "示例市" + dname + brand + _pick(rng, INDUSTRIES, n) + _pick(rng, FORMS, n)
    founded = np.datetime64(as_of) - rng.integers(30, 365 * 30, n).astype("timedelta64[D]")
    capital = np.round(np.exp(rng.normal(4.5, 1.4, n)), 2)
    sex = np.where(rng.random(n) < 0.7, 1, 2)
    birth_year = as_of.year - rng.integers(25, 70, n)
    street = np.array([s.name for s in city.streets], dtype=object)[
        rng.integers(0, len(city.streets), n)
    ]
    address = "示例市" + dname + street + rng.integers(1, 400, n).astype(str).astype(object) + "号"
    return pa.table(
        {
            "uscc": pa.array(codes, pa.string()),
            "company": pa.array(company.astype(str), pa.string()),
            "legal_rep": draw_names(rng, sex, birth_year),
            "capital": pa.array(capital, pa.float64()),
            "founded": pa.array(founded, pa.date32()),
            "district_code": pa.array([districts[d].code[:6] for d in d_idx], pa.string()),
            "address": pa.array(address.astype(str), pa.string()),
            "status": pa.array(_pick(rng, STATUS, n).astype(str), pa.string()),
        },
        schema=LEGAL_PERSON_SCHEMA,
    )


def _weights(districts: list) -> np.ndarray:
    w = np.array([d.population_weight for d in districts], dtype=float)
    return w / w.sum()
