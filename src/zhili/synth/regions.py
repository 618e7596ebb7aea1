"""The demo city's districts and the region codes its residents' identity numbers carry.

示例市 is fictional but borrows the administrative division codes of Tianjin's 16
districts (120101–120119), so its identity numbers pass real validators. An identity
number keeps the region code in force when it was issued: people from districts that
were counties (县) until recently carry the old county code, and people who moved in
carry their home county's code. `id_region_code` answers which one, by birth year, using
the code history of GB/T 2260 (as recorded by python-stdnum).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CITY_CODE = "120000"
CITY_NAME = "示例市"
CITY_NAME_EN = "Example City"

Zone = Literal["core", "inner", "outer"]
#: A region code and the birth years (inclusive, None = open) it is issued for.
CodeSpan = tuple[int, int | None, int | None]


@dataclass(frozen=True, slots=True)
class DistrictSpec:
    """What the generator needs to know about a district before drawing anything."""

    code: str
    name: str
    name_en: str
    zone: Zone  #: core = old town, inner = near suburbs, outer = former counties
    streets: int  #: number of 街道/镇/乡
    id_codes: tuple[CodeSpan, ...]  #: identity-number region codes over time


def _always(code: int) -> tuple[CodeSpan, ...]:
    return ((code, None, None),)


def _former_county(old: int, county: int, new: int, became: int) -> tuple[CodeSpan, ...]:
    """Before 1982 the old county code, then the county code, then the district's."""
    return ((old, None, 1981), (county, 1982, became - 1), (new, became, None))


DISTRICTS: tuple[DistrictSpec, ...] = (
    DistrictSpec("120101", "和平区", "Heping District", "core", 6, _always(120101)),
    DistrictSpec("120102", "河东区", "Hedong District", "core", 13, _always(120102)),
    DistrictSpec("120103", "河西区", "Hexi District", "core", 14, _always(120103)),
    DistrictSpec("120104", "南湖区", "Nanhu District", "core", 13, _always(120104)),
    DistrictSpec("120105", "北城区", "Beicheng District", "core", 11, _always(120105)),
    DistrictSpec("120106", "红桥区", "Hongqiao District", "core", 10, _always(120106)),
    DistrictSpec("120110", "东沽区", "Donggu District", "inner", 12, _always(120110)),
    DistrictSpec("120111", "西营区", "Xiying District", "inner", 12, _always(120111)),
    DistrictSpec("120112", "南港区", "Nangang District", "inner", 10, _always(120112)),
    DistrictSpec("120113", "北辰区", "Beichen District", "inner", 15, _always(120113)),
    DistrictSpec(
        "120114",
        "清河区",
        "Qinghe District",
        "outer",
        31,
        _former_county(120202, 120222, 120114, 2000),
    ),
    DistrictSpec(
        "120115",
        "宝丰区",
        "Baofeng District",
        "outer",
        25,
        _former_county(120204, 120224, 120115, 2001),
    ),
    DistrictSpec(
        "120116",
        "滨海新区",
        "Binhai New Area",
        "outer",
        36,
        ((120107, None, 2008), (120116, 2009, None)),
    ),
    DistrictSpec(
        "120117",
        "宁安区",
        "Ning'an District",
        "outer",
        16,
        _former_county(120201, 120221, 120117, 2015),
    ),
    DistrictSpec(
        "120118",
        "静湖区",
        "Jinghu District",
        "outer",
        22,
        _former_county(120203, 120223, 120118, 2015),
    ),
    DistrictSpec(
        "120119",
        "云山区",
        "Yunshan District",
        "outer",
        29,
        _former_county(120205, 120225, 120119, 2016),
    ),
)

#: Home counties of residents who moved in: code, name, first birth year it is issued for,
#: relative share among movers (neighbouring provinces first).
MIGRANT_ORIGINS: tuple[tuple[int, str, int, float], ...] = (
    (130224, "河北省唐山市滦南县", 1983, 14.0),
    (130229, "河北省唐山市玉田县", 1983, 12.0),
    (140321, "山西省阳泉市平定县", 1983, 5.0),
    (150429, "内蒙古自治区赤峰市宁城县", 1983, 4.0),
    (211224, "辽宁省铁岭市昌图县", 1984, 4.0),
    (230223, "黑龙江省齐齐哈尔市依安县", 1984, 5.0),
    (320322, "江苏省徐州市沛县", 1983, 4.0),
    (340122, "安徽省合肥市肥东县", 1983, 5.0),
    (370124, "山东省济南市平阴县", 1985, 10.0),
    (410122, "河南省郑州市中牟县", 1983, 9.0),
    (410225, "河南省开封市兰考县", 1983, 8.0),
    (420624, "湖北省襄阳市南漳县", 1983, 3.0),
    (510129, "四川省成都市大邑县", 1983, 4.0),
)
#: Movers are drawn only among people born in or after this year, when every origin
#: code above was already in force.
MIGRANT_FIRST_BIRTH_YEAR = max(first for _, _, first, _ in MIGRANT_ORIGINS) + 1


def id_region_code(district: DistrictSpec, birth_year: int) -> int:
    """The region code a native of ``district`` born in ``birth_year`` carries."""
    for code, first, last in district.id_codes:
        if (first is None or birth_year >= first) and (last is None or birth_year <= last):
            return code
    raise ValueError(f"no region code of {district.code} covers {birth_year}")


def district_spec(code: str) -> DistrictSpec:
    """The spec of one district by its code."""
    for spec in DISTRICTS:
        if spec.code == code:
            return spec
    raise KeyError(code)
