"""The demo city's data providers and consumers: the bureau, the 委办局 and a few others.

The list mirrors a municipal government's line-up so that catalog, exchange and scenario
demos read naturally (公安局 provides household registration, 民政局 asks for deaths, the
bus-card company consumes elderly-pass data). Codes are valid unified social credit codes,
fixed forever: they are derived from each department's short name, not from a seed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache
from typing import Literal

from zhili.synth.regions import CITY_CODE, CITY_NAME
from zhili.synth.uscc import make_uscc

DepartmentKind = Literal["department", "institution", "enterprise"]

#: short, name, English name, kind, GB 32100 registration authority + entity type.
_TABLE: tuple[tuple[str, str, str, DepartmentKind, str], ...] = (
    ("bureau", "大数据管理中心", "Big Data Administration Center", "institution", "12"),
    ("police", "公安局", "Public Security Bureau", "department", "11"),
    ("civil_affairs", "民政局", "Civil Affairs Bureau", "department", "11"),
    ("health", "卫生健康委员会", "Health Commission", "department", "11"),
    (
        "hrss",
        "人力资源和社会保障局",
        "Human Resources and Social Security Bureau",
        "department",
        "11",
    ),
    ("transport", "交通运输委员会", "Transport Commission", "department", "11"),
    ("market", "市场监督管理委员会", "Market Regulation Commission", "department", "11"),
    ("ecology", "生态环境局", "Ecology and Environment Bureau", "department", "11"),
    (
        "housing",
        "住房和城乡建设委员会",
        "Housing and Urban-Rural Development Commission",
        "department",
        "11",
    ),
    ("planning", "规划和自然资源局", "Planning and Natural Resources Bureau", "department", "11"),
    ("education", "教育委员会", "Education Commission", "department", "11"),
    ("medical_security", "医疗保障局", "Healthcare Security Administration", "department", "11"),
    ("tax", "税务局", "Tax Service", "department", "11"),
    ("city_management", "城市管理委员会", "City Management Commission", "department", "11"),
    ("emergency", "应急管理局", "Emergency Management Bureau", "department", "11"),
    ("finance", "财政局", "Finance Bureau", "department", "11"),
    ("statistics", "统计局", "Statistics Bureau", "department", "11"),
    ("veterans", "退役军人事务局", "Veterans Affairs Bureau", "department", "11"),
    ("gov_services", "政务服务办公室", "Government Services Office", "department", "11"),
    ("grid_center", "网格化管理中心", "Grid Management Center", "institution", "12"),
    ("disabled", "残疾人联合会", "Disabled Persons' Federation", "institution", "13"),
    (
        "resource_trading",
        "公共资源交易中心",
        "Public Resources Trading Center",
        "institution",
        "12",
    ),
    ("buscard", "城市一卡通公司", "City Transit Card Company", "enterprise", "91"),
    ("water", "水务集团", "Water Group", "enterprise", "91"),
)


@dataclass(frozen=True, slots=True)
class Department:
    """One organization of the city government's line-up (or one that consumes its data)."""

    code: str  #: unified social credit code, 18 characters
    name: str
    name_en: str
    short: str  #: stable ASCII handle, e.g. ``"police"``; ``"bureau"`` is the platform operator
    kind: DepartmentKind

    @property
    def full_name(self) -> str:
        """The name as written on documents, e.g. 示例市公安局."""
        return CITY_NAME + self.name


def _org_body(short: str) -> str:
    """An 8-digit organization code body, fixed by the short name."""
    return f"{zlib.crc32(short.encode()) % 10**8:08d}"


@cache
def _departments() -> tuple[Department, ...]:
    return tuple(
        Department(
            code=make_uscc(registration, CITY_CODE, _org_body(short)),
            name=name,
            name_en=name_en,
            short=short,
            kind=kind,
        )
        for short, name, name_en, kind, registration in _TABLE
    )


def departments() -> list[Department]:
    """All of them, the bureau first."""
    return list(_departments())


def department(short: str) -> Department:
    """One by its short handle (raises KeyError for an unknown one)."""
    for dep in _departments():
        if dep.short == short:
            return dep
    raise KeyError(short)
