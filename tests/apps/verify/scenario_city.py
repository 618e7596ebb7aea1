"""A small synthetic city for the scenario templates: the eight registers of
`zhili.synth.verification` (the same people, with the ground truth) as catalog resources
of the departments that keep them, each with one lake version, and the grants each
scenario needs — plus three decoys: 人口基础信息 (PSB: person columns, no ``status``),
居住证办理信息 (PSB: person columns, a name no hint fits) and 出生医学证明信息 (HEALTH:
person columns, granted to nobody).

人社局 (HRSS) checks pensions, 交通委 (TRANSPORT) senior cards, 民政局 (CIVIL) the
minimum living allowance; 卫健委 (HEALTH), 公安局 (PSB), 民政局 and 住建委 (HOUSING)
approve the grants of their registers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from verify_city import actor, describe, grant, load

from zhili.access import Actor
from zhili.db import Database
from zhili.synth.verification import VerificationData, generate

#: Residents of the city (plus look-alikes and outsiders): ~1,400 pensioners, ~65 of them
#: dead and ~25 moved away; ~100 allowance recipients.
PEOPLE = 6000
SEED = 7
CODES = {
    "pensioners": "3-04-001-000001",
    "senior_cards": "3-05-001-000001",
    "dibao": "3-02-001-000002",
    "deaths": "3-03-001-000001",
    "cremations": "3-02-001-000001",
    "residence": "3-01-001-000005",
    "property": "3-08-001-000001",
    "vehicles": "3-01-001-000003",
}
NAMES = {
    "pensioners": "养老金领取人员",
    "senior_cards": "老年人乘车卡信息",
    "dibao": "最低生活保障对象",
    "deaths": "死亡医学证明信息",
    "cremations": "火化信息",
    "residence": "户籍登记状态信息",
    "property": "不动产登记信息",
    "vehicles": "机动车登记信息",
}
OWNERS = {
    "pensioners": "HRSS",
    "senior_cards": "TRANSPORT",
    "dibao": "CIVIL",
    "deaths": "HEALTH",
    "cremations": "CIVIL",
    "residence": "PSB",
    "property": "HOUSING",
    "vehicles": "PSB",
}
APPROVERS = {"HEALTH": "health.approver", "PSB": "psb.approver", "CIVIL": "civil.approver",
             "HOUSING": "housing.approver"}  # fmt: skip
#: Who checks what: the scenario, the department's user, its roster and references.
USES = {
    "pension": ("hrss.analyst", "pensioners", ("deaths", "cremations", "residence")),
    "senior_card": ("transport.analyst", "senior_cards", ("deaths", "residence")),
    "dibao": ("civil.analyst", "dibao", ("vehicles", "property")),
}
#: The decoys: (code, name, owner, source table, columns dropped).
POPULATION = "3-01-001-000006"
PERMITS = "3-01-001-000004"
BIRTHS = "3-03-001-000002"
DECOYS = (
    (POPULATION, "人口基础信息", "PSB", "residence", ("status", "status_date", "moved_to")),
    (PERMITS, "居住证办理信息", "PSB", "residence", ("status", "status_date", "moved_to")),
    (BIRTHS, "出生医学证明信息", "HEALTH", "deaths", ("death_date", "death_place")),
)
_PERSONAL = {"name", "owner_name", "id_number", "owner_id_number", "birth_date", "address",
             "phone", "monthly_pension", "monthly_allowance"}  # fmt: skip


@lru_cache(maxsize=1)
def city_data() -> VerificationData:
    """The registers and their ground truth (deterministic; made once per process)."""
    return generate(PEOPLE, seed=SEED)


def _type(t: pa.DataType) -> str:
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "number"
    return "string"


def schema_of(table: pa.Table) -> dict[str, Any]:
    fields = [
        {"name": f.name, "type": _type(f.type),
         "x-sensitivity": "personal" if f.name in _PERSONAL else "none"}
        for f in table.schema
    ]  # fmt: skip
    key = "record_id" if "record_id" in table.column_names else "person_id"
    return {"fields": fields, "primaryKey": [key]}


@dataclass
class ScenarioCity:
    db: Database
    home: Path
    secret_key: str
    data: VerificationData
    tmp: Path

    def actor(self, username: str) -> Actor:
        return actor(self.db, username)

    def truth(self, scenario: str) -> dict[str, tuple[str, float]]:
        """roster key → (true outcome, monthly amount)."""
        rows = self.data.outcomes.to_pylist()
        return {r["roster_key"]: (r["outcome"], r["amount"]) for r in rows
                if r["scenario"] == scenario}  # fmt: skip


def _add(db: Database, home: Path, tmp: Path, code: str, name: str, owner: str,
         table: pa.Table) -> None:  # fmt: skip
    describe(db, code, name, owner, schema_of(table))
    path = tmp / f"{code}.parquet"
    pq.write_table(table, path)
    load(db, home, code, path)


def build_scenario_city(world: Any, settings: Any, tmp: Path) -> ScenarioCity:
    orgs = (("HRSS", "人社局"), ("HEALTH", "卫健委"), ("CIVIL", "民政局"),
            ("TRANSPORT", "交通委"), ("HOUSING", "住建委"), ("EDU", "教育局"))  # fmt: skip
    for code, name in orgs:
        world.org(code, name, "city", "department", "CITY")
    for user, org in (("hrss.analyst", "HRSS"), ("transport.analyst", "TRANSPORT"),
                      ("civil.analyst", "CIVIL"), ("edu.analyst", "EDU")):  # fmt: skip
        world.user(user, org, "analyst")
    world.user("hrss.approver", "HRSS", "approver")
    for org, user in APPROVERS.items():
        world.user(user, org, "approver")
    db, home, data = world.db, settings.home, city_data()
    for table, code in CODES.items():
        _add(db, home, tmp, code, NAMES[table], OWNERS[table], data.tables[table])
    for code, name, owner, source, dropped in DECOYS:
        _add(db, home, tmp, code, name, owner, data.tables[source].drop_columns(list(dropped)))
    for who, _, references in USES.values():
        consumer = actor(db, who)
        for ref in references:
            table = data.tables[ref]
            approver = actor(db, APPROVERS[OWNERS[ref]])
            grant(db, consumer, approver, CODES[ref], table.column_names, masking={})
    # The decoys without a status column are granted to HRSS too: candidates, not defaults.
    for code, _, owner, source, dropped in DECOYS[:2]:
        columns = [c for c in data.tables[source].column_names if c not in dropped]
        grant(db, actor(db, "hrss.analyst"), actor(db, APPROVERS[owner]), code, columns,
              masking={})  # fmt: skip
    return ScenarioCity(db, home, settings.secret_key, data, tmp)
