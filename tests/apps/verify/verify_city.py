"""A small city for verification jobs: 人社局 (HRSS) pays pensions and holds the roster
(花名册) of pensioners; 卫健委 (HEALTH) holds the death register (比对库) and has granted
HRSS its items, the ID number unmasked; 教育局 (EDU) holds nothing.

The death register is people drawn by `verify_data.people` plus the hard cases; the
roster copies some of the dead (40 % without their ID number, some with a wrong
birth-date digit) and adds living pensioners who are in no register, so the true pairs
are known.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from verify_data import HARD_REFERENCE, HARD_TRUTH, _hard_roster, people

from zhili.access import Actor, system_actor
from zhili.calendar.service import WorkCalendar
from zhili.catalog.loading import load_file
from zhili.catalog.service import ResourceSpec, create_resource
from zhili.db import Database
from zhili.exchange import requests as req
from zhili.identity.auth import actor_for
from zhili.identity.models import User

PENSIONS = "3-05-001-000001"
DEATHS = "3-06-001-000001"
PERSON = ["person_id", "name", "birth_date", "sex", "district", "id_number"]
#: Quick training for tests (u from fewer random pairs).
RULES = """
name: person_test
unique_id: person_id
id_number: id_number
fields:
  name: {column: name, prepare: chinese_name}
  birth_date: {column: birth_date, prepare: date}
  sex: sex
  district: district
blocking:
  - [birth_date]
  - [name_pinyin]
  - [name, district]
comparisons:
  - {field: name, kind: chinese_name}
  - {field: birth_date, kind: date, within: ["1 month", "1 year"]}
  - {field: sex, kind: exact}
  - {field: district, kind: levenshtein, thresholds: [1]}
thresholds: {auto: 0.99, review: 0.5}
training: {u_max_pairs: 200000, seed: 42, em_blocking: [[birth_date], [name_pinyin]]}
"""


def _schema(extra: list[dict[str, Any]], id_format: dict[str, str]) -> dict[str, Any]:
    fields = [
        {"name": "person_id", "type": "string"},
        {"name": "name", "type": "string", "x-sensitivity": "personal"},
        {"name": "birth_date", "type": "string", "x-sensitivity": "personal"},
        {"name": "sex", "type": "string"},
        {"name": "district", "type": "string"},
        {"name": "id_number", "type": "string", "x-sensitivity": "sensitive_personal",
         **id_format},
        *extra,
    ]  # fmt: skip
    return {"fields": fields, "primaryKey": ["person_id"]}


# The roster's ID numbers are as clerks typed them (15 digits, wrong check digits): text.
PENSION_SCHEMA = _schema([{"name": "monthly_pension", "type": "number", "x-unit": "元"}], {})
DEATH_SCHEMA = _schema([{"name": "death_date", "type": "date"}], {"format": "cn-id"})


def city_data(seed: int = 5) -> tuple[list[dict], list[dict], set[tuple[str, str]]]:
    """(roster, deaths, true pairs)."""
    rng = np.random.default_rng(seed + 1)
    population = people(300, seed)
    dead, living = population[:150] + HARD_REFERENCE, population[150:]
    deaths = [{**p, "death_date": f"2026-{1 + i % 9:02d}-1{i % 10}"} for i, p in enumerate(dead)]
    roster, truth = [], set(HARD_TRUTH)
    for k, i in enumerate(rng.choice(150, 90, replace=False)):
        row = {**dead[int(i)], "person_id": f"R{k:05d}"}
        truth.add((row["person_id"], dead[int(i)]["person_id"]))
        if rng.random() < 0.4:
            row["id_number"] = ""
        if rng.random() < 0.1:
            day = row["birth_date"]
            row["birth_date"] = day[:-1] + str((int(day[-1]) + 1) % 10)
        roster.append(row)
    roster += [{**p, "person_id": f"L{k:05d}"} for k, p in enumerate(living)]
    roster += _hard_roster()
    for k, row in enumerate(roster):
        row["monthly_pension"] = f"{3000 + 10 * k}.50"
    return roster, deaths, truth


def write_csv(path: Path, rows: list[dict], columns: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def actor(db: Database, username: str) -> Actor:
    with db.session() as s:
        return actor_for(s.scalars(select(User).where(User.username == username)).one())


def describe(db: Database, code: str, name: str, provider: str, schema: dict) -> None:
    with db.session() as s:
        create_resource(s, system_actor(), ResourceSpec(
            code=code, name=name, provider_code=provider, classification="department",
            table_schema=schema, sharing_type="conditional", sharing_conditions="核查",
            open_type="closed", update_cycle="monthly", grade="important",
        ))  # fmt: skip


def load(db: Database, home: Path, code: str, path: Path) -> None:
    with db.session() as s:
        load_file(s, system_actor(), home=home, code=code, path=path, filename=path.name)


def grant(
    db: Database, consumer: Actor, approver: Actor, code: str, fields: list[str], **terms: Any
) -> int:
    with db.session() as s:
        r = req.create_request(s, consumer, req.RequestSpec(
            code, system="养老金发放系统", purpose="停发已故人员养老金", legal_basis="社会保险法",
            fields=fields,
        ))  # fmt: skip
        req.submit(s, consumer, r, WorkCalendar.from_session(s), req.ReviewPolicy())
        made = req.approve(s, approver, r, req.Decision(**terms))
        return made.id


@dataclass
class City:
    db: Database
    home: Path
    secret_key: str
    roster: list[dict]
    deaths: list[dict]
    truth: set[tuple[str, str]]
    grant_id: int
    tmp: Path

    def actor(self, username: str) -> Actor:
        return actor(self.db, username)


def build_city(world: Any, settings: Any, tmp: Path) -> City:
    world.org("HRSS", "人社局", "city", "department", "CITY")
    world.org("HEALTH", "卫健委", "city", "department", "CITY")
    world.org("EDU", "教育局", "city", "department", "CITY")
    world.user("hrss.analyst", "HRSS", "analyst")
    world.user("hrss.approver", "HRSS", "approver")
    world.user("hrss.approver2", "HRSS", "approver")
    world.user("hrss.admin", "HRSS", "org_admin")
    world.user("hrss.grid", "HRSS", "grid_worker")
    world.user("health.approver", "HEALTH", "approver")
    world.user("edu.analyst", "EDU", "analyst")
    world.user("edu.approver", "EDU", "approver")
    world.user("root", "BUREAU", "platform_admin")
    db = world.db
    roster, deaths, truth = city_data()
    describe(db, PENSIONS, "养老金领取人员名册", "HRSS", PENSION_SCHEMA)
    describe(db, DEATHS, "死亡人员信息", "HEALTH", DEATH_SCHEMA)
    home = settings.home
    load(db, home, PENSIONS, write_csv(tmp / "pensions.csv", roster, [*PERSON, "monthly_pension"]))
    load(db, home, DEATHS, write_csv(tmp / "deaths.csv", deaths, [*PERSON, "death_date"]))
    grant_id = grant(
        db, actor(db, "hrss.analyst"), actor(db, "health.approver"), DEATHS,
        [*PERSON, "death_date"], masking={},
    )  # fmt: skip
    return City(db, home, settings.secret_key, roster, deaths, truth, grant_id, tmp)
