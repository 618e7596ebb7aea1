"""The demo city's verification (比对核验) data: the eight registers of
`zhili.synth.verification` as catalog resources of the departments that keep them, each
with one lake version; the grants a verification needs, through the real exchange flow;
the ground truth as Parquet under ``ZHILI_HOME/synth/verification/`` so that anyone can
score a run; and, on request, one run of the pension scenario so that the verification
pages have a finished job and review items to show. docs/demo.md describes it all.

=================  ===============  ======================  ==================================
table              code             provider                catalog name
=================  ===============  ======================  ==================================
pensioners         3-04-001-000001  人力资源和社会保障局    养老金领取人员 (roster 花名册)
senior_cards       3-05-001-000001  交通运输委员会          老年人乘车卡信息 (roster)
dibao              3-02-001-000002  民政局                  最低生活保障对象 (roster)
deaths             3-03-001-000001  卫生健康委员会          死亡医学证明信息
cremations         3-02-001-000001  民政局                  火化信息
residence          3-01-001-000005  公安局                  户籍登记状态信息 (正常/迁出/死亡)
property           3-08-001-000001  住房和城乡建设委员会    不动产登记信息
vehicles           3-01-001-000003  公安局                  机动车登记信息
=================  ===============  ======================  ==================================

Seven of them are entries of the demo catalog (`zhili.synth.catalog`) whose items are
replaced by the registers' own; the residence register is new. Idempotent: what is
described, loaded (for the same size and seed) or granted is kept.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.apps.verify.models import JobState, VerificationJob
from zhili.calendar.service import WorkCalendar
from zhili.catalog.models import Resource
from zhili.catalog.service import ResourceSpec, create_resource, get_resource, update_resource
from zhili.db import Database
from zhili.demo import ADMIN
from zhili.demo_exchange import account_actor
from zhili.exchange import requests as req
from zhili.exchange.models import ShareRequest
from zhili.synth.catalog import catalog_entries
from zhili.synth.city import City
from zhili.synth.departments import department

#: Where the registers and their ground truth are written, under ZHILI_HOME.
VERIFY_DIR = Path("synth") / "verification"
#: The ground truth tables written next to the registers (`VerificationData` fields).
TRUTH_TABLES = ("truth", "outcomes", "confounders", "damage")
PURPOSE = "比对核验"
CONDITIONS = "仅限比对核验等履行法定职责所必需，按最小必要原则使用，不得向第三方提供"


@dataclass(frozen=True)
class Register:
    """One department's table of the verification scenarios as a catalog resource."""

    code: str
    summary: str
    birth_style: str | None = None  # how a text birth date is written, e.g. 19500302
    name: str | None = None  # for a resource not in the demo catalog
    name_en: str | None = None
    provider: str | None = None
    tags: tuple[str, ...] = ()


REGISTERS: dict[str, Register] = {
    "pensioners": Register(
        "3-04-001-000001",
        "人社局按月发放基本养老金的人员名册（花名册），每月与死亡、火化、户籍信息比对核验"
        "领取资格。",
    ),
    "senior_cards": Register(
        "3-05-001-000001",
        "交通运输委发放的老年人免费乘车卡、优待卡持卡人名册，定期与死亡、户籍信息比对，"
        "注销已故、迁出人员的卡。",
    ),
    "dibao": Register(
        "3-02-001-000002",
        "民政局最低生活保障对象名册（含家庭人口、月保障金），定期核对家庭财产状况。",
    ),
    "deaths": Register(
        "3-03-001-000001",
        "医疗卫生机构签发的《居民死亡医学证明（推断）书》登记信息（近三年），含外市户籍人员。",
        birth_style="1950-03-02",
    ),
    "cremations": Register(
        "3-02-001-000001",
        "殡仪馆火化登记信息（近三年），由各殡仪馆纸质登记表录入。",
        birth_style="1950年3月2日",
    ),
    "residence": Register(
        "3-01-001-000005",
        "本市户籍人口的户口登记状态：正常、迁出（含迁往地）、死亡注销，及状态变更日期。",
        birth_style="19500302",
        name="户籍登记状态信息",
        name_en="Household registration status",
        provider="police",
        tags=("人口", "户籍", "迁移"),
    ),
    "property": Register(
        "3-08-001-000001",
        "不动产登记簿中的房屋所有权登记（权利人、证书号、坐落、面积），一人可有多条。",
    ),
    "vehicles": Register(
        "3-01-001-000003",
        "车辆管理所机动车登记信息（所有人、号牌、车辆类型），一人可有多辆。",
    ),
}

# column -> (title, sensitivity, extra Table Schema properties)
_P, _S, _N = "personal", "sensitive_personal", "none"
_ITEMS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "person_id": ("记录编号", _N, {"description": "本部门系统内的记录编号，各部门各不相同"}),
    "record_id": ("登记记录编号", _N, {}),
    "name": ("姓名", _P, {}),
    "owner_name": ("所有权人姓名", _P, {}),
    "id_number": ("公民身份号码", _S, {}),
    "owner_id_number": ("所有权人公民身份号码", _S, {}),
    "sex": ("性别", _N, {}),
    "birth_date": ("出生日期", _P, {}),
    "district": ("所属区", _N, {}),
    "death_date": ("死亡日期", _P, {}),
    "death_place": ("死亡地点类别", _P, {}),
    "cremated_on": ("火化日期", _P, {}),
    "funeral_home": ("殡仪馆", _N, {}),
    "status": ("户口状态", _N, {"constraints": {"enum": ["正常", "迁出", "死亡"]}}),
    "status_date": ("状态变更日期", _P, {}),
    "moved_to": ("迁往地", _P, {}),
    "monthly_pension": ("月养老金", _P, {"x-unit": "元"}),
    "retired_on": ("退休日期", _P, {}),
    "card_no": ("卡号", _P, {}),
    "card_type": ("卡类型", _N, {}),
    "issued_on": ("发卡日期", _N, {}),
    "monthly_benefit": ("月优待金额", _N, {"x-unit": "元"}),
    "address": ("地址", _P, {}),
    "phone": ("联系电话", _P, {}),
    "household_size": ("保障人口数", _P, {"x-unit": "人"}),
    "monthly_allowance": ("月保障金", _P, {"x-unit": "元"}),
    "approved_on": ("批准日期", _N, {}),
    "cert_no": ("不动产权证书号", _P, {}),
    "area_m2": ("建筑面积", _N, {"x-unit": "平方米"}),
    "registered_on": ("登记日期", _N, {}),
    "plate_no": ("号牌号码", _P, {}),
    "vehicle_type": ("车辆类型", _N, {}),
}
_TYPES = {pa.string(): "string", pa.date32(): "date", pa.float64(): "number", pa.int8(): "integer"}
#: Rosters are clean: their ID numbers are valid (checked on loading). References hold
#: numbers as sources write them (15 digits, full-width, missing …): text.
ROSTERS = ("pensioners", "senior_cards", "dibao")


def register_schema(table: str, schema: pa.Schema) -> dict[str, Any]:
    """The Table Schema of one register, from its Arrow schema and the item vocabulary."""
    reg = REGISTERS[table]
    fields = []
    for f in schema:
        title, sensitivity, extra = _ITEMS[f.name]
        item = {"name": f.name, "title": title, "type": _TYPES[f.type]}
        item |= {"x-sensitivity": sensitivity, **extra}
        if f.name == "birth_date" and item["type"] == "string":
            item["description"] = f"按来源系统原样记录，如 {reg.birth_style}"
        if f.name in ("id_number", "owner_id_number"):
            if table in ROSTERS:
                item["format"] = "cn-id"
            else:
                item["description"] = "按来源系统原样记录（可能缺失、为15位旧号码或含全角字符）"
        fields.append(item)
    key = "record_id" if "record_id" in schema.names else "person_id"
    return {"fields": fields, "primaryKey": [key]}


def register_spec(table: str, schema: pa.Schema) -> ResourceSpec:
    """The catalog entry of one register: the demo catalog's entry of the same code (or the
    register's own names), with the register's items and summary."""
    reg = REGISTERS[table]
    entry = next((e for e in catalog_entries() if e.code == reg.code), None)
    provider = reg.provider or (entry.provider if entry else "")
    return ResourceSpec(
        code=reg.code,
        name=reg.name or (entry.name if entry else table),
        name_en=reg.name_en or (entry.name_en if entry else None),
        provider_code=department(provider).code,
        classification="department",
        table_schema=register_schema(table, schema),
        sharing_type="conditional",
        sharing_conditions=CONDITIONS,
        sharing_methods=["api", "file"],
        open_type="closed",
        update_cycle=entry.update_cycle if entry else "daily",
        grade=entry.grade if entry else "important",
        summary=reg.summary,
        tags=sorted({*(entry.tags if entry else reg.tags), PURPOSE}),
    )


def describe_registers(session: Session, schemas: dict[str, pa.Schema]) -> int:
    """Create the registers' catalog entries, or give an entry described earlier without
    data (the demo catalog's) the register's items; returns how many were created."""
    created = 0
    for table, schema in schemas.items():
        spec = register_spec(table, schema)
        existing = session.scalar(select(Resource).where(Resource.code == spec.code))
        if existing is None:
            create_resource(session, ADMIN, spec)
            created += 1
        elif existing.current_version is None:
            keys = ("name", "name_en", "table_schema", "summary", "tags", "sharing_conditions")
            changes = {k: getattr(spec, k) for k in keys}
            update_resource(session, ADMIN, spec.code, changes, "比对核验演示数据")
    return created


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What `build_verification` did."""

    people: int
    resources_created: int
    versions: dict[str, int | None]  # table -> lake version
    rows: dict[str, int]  # table -> records
    grants_created: int
    truth_dir: Path
    built: bool  # generated (and loaded) this run
    job: VerificationJob | None = None  # the pension scenario's job, when run this time


def _stamp(out: Path) -> dict[str, Any]:
    path = out / "_SUMMARY.json"
    return json.loads(path.read_text()) if path.exists() else {}


def build_verification(
    db: Database,
    home: Path,
    people: int,
    *,
    seed: int,
    city: City,
    secret_key: str | None = None,
) -> VerifyReport:
    """Generate the registers for ``people`` residents (the first ones of 人口基础信息,
    plus the added look-alikes and outsiders), describe and load them, write the ground
    truth and make the grants; with ``secret_key``, run the pension scenario once
    (`run_pension_scenario`). Again with the same size and seed: nothing is redone."""
    report = _registers(db, home, people, seed=seed, city=city)
    if secret_key is None:
        return report
    return replace(report, job=run_pension_scenario(db, home, secret_key))


def _registers(db: Database, home: Path, people: int, *, seed: int, city: City) -> VerifyReport:
    from zhili.catalog.loading import load_file
    from zhili.synth.verification import generate

    out = home / VERIFY_DIR
    wanted = {"people": people, "seed": seed}
    stamp = _stamp(out)
    with db.session() as s:
        loaded = {t: _version(s, r.code) for t, r in REGISTERS.items()}
    truth = [out / f"{name}.parquet" for name in TRUTH_TABLES]
    done = all(v is not None for v in loaded.values()) and all(p.exists() for p in truth)
    if stamp.get("request") == wanted and done:
        grants = seed_verify_grants(db)
        return VerifyReport(people, 0, loaded, stamp["rows"], grants, out, False)
    data = generate(people, seed=seed, city=city)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    for name, path in zip(TRUTH_TABLES, truth, strict=True):
        pq.write_table(getattr(data, name), path, compression="zstd")
    with db.session() as s:
        created = describe_registers(s, {t: data.tables[t].schema for t in REGISTERS})
    versions: dict[str, int | None] = {}
    for table in REGISTERS:
        path = out / "tables" / f"{table}.parquet"
        pq.write_table(data.tables[table], path, compression="zstd")
        with db.session() as s:
            row = load_file(
                s, ADMIN, home=home, code=REGISTERS[table].code, path=path,
                filename=path.name, mode="replace",
            )  # fmt: skip
            versions[table] = row.version
    rows = {t: data.tables[t].num_rows for t in REGISTERS}
    summary = {"request": wanted, "rows": rows, "truth_pairs": data.truth.num_rows}
    (out / "_SUMMARY.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1))
    grants = seed_verify_grants(db)
    return VerifyReport(people, created, versions, rows, grants, out, True)


def _version(session: Session, code: str) -> int | None:
    """The current lake version of resource ``code`` (None: not described or not loaded)."""
    resource = session.scalar(select(Resource).where(Resource.code == code))
    return None if resource is None else resource.current_version


def run_pension_scenario(db: Database, home: Path, secret_key: str) -> VerificationJob | None:
    """Run the pension scenario (`zhili.apps.verify.scenarios`) once as 人社局's analyst
    (``hrss``), in this process, so that the UI has a finished job, outcomes and review
    items to show; the finished job, or None when 人社局 has one already."""
    from zhili.apps.verify.run import run_here
    from zhili.apps.verify.scenarios import start_scenario
    from zhili.synth.verification import SCENARIOS

    pension = SCENARIOS["pension"]
    with db.session() as s:
        who = account_actor(s, "hrss")
        done = select(VerificationJob.id).where(
            VerificationJob.org_id == who.org_id,
            VerificationJob.scenario == pension.name,
            VerificationJob.state == JobState.done,
        )
        if s.scalar(done.limit(1)) is not None:
            return None
        job = start_scenario(
            s, who, pension.name, roster=REGISTERS[pension.roster].code,
            references={slot: REGISTERS[slot].code for slot in pension.references}, home=home,
        )  # fmt: skip
        s.expunge(job)
    return run_here(db, home, secret_key, job)


# --- grants -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """Why a department checks its roster: the system, purpose and legal basis of its
    requests."""

    system: str
    purpose: str
    legal_basis: str


USES = {
    "pension": Use(
        "养老保险待遇发放系统",
        "养老金领取资格认证：停发已故、户口迁出人员的待遇",
        "《中华人民共和国社会保险法》；社会保险待遇领取资格认证有关规定",
    ),
    "senior_card": Use(
        "老年人优待卡管理系统",
        "老年人乘车优待卡有效性核查：注销已故、户口迁出人员的卡",
        "《中华人民共和国老年人权益保障法》；本市老年人优待办法",
    ),
    "dibao": Use(
        "最低生活保障信息系统",
        "低保对象家庭经济状况核对：发现名下有房产、车辆的保障对象",
        "《社会救助暂行办法》（家庭经济状况核对）；最低生活保障审核确认办法",
    ),
}
#: (consumer account, scenario, reference, provider's approver account)
VERIFY_GRANTS: tuple[tuple[str, str, str, str], ...] = (
    ("hrss", "pension", "deaths", "healthapprover"),
    ("hrss", "pension", "cremations", "approver"),
    ("hrss", "pension", "residence", "psbapprover"),
    ("analyst", "senior_card", "deaths", "healthapprover"),
    ("analyst", "senior_card", "residence", "psbapprover"),
    ("civil", "dibao", "property", "housingapprover"),
    ("civil", "dibao", "vehicles", "psbapprover"),
)
#: Items granted beyond what the rule set reads.
EXTRA_FIELDS = {"residence": ("status",)}


def grant_fields(reference: str) -> list[str]:
    """What a verification reads of ``reference``: the rule set's columns (key, ID number,
    compared fields) and the residence register's status."""
    from zhili.apps.verify.inputs import side_columns
    from zhili.apps.verify.jobs import resolve_rules
    from zhili.synth.verification import RULES

    _, _, rules = resolve_rules(RULES[reference])
    return [*side_columns(rules, "right"), *EXTRA_FIELDS.get(reference, ())]


def _requested(session: Session, consumer_org_id: int, resource_id: int) -> bool:
    return (
        session.scalar(
            select(ShareRequest.id).where(
                ShareRequest.consumer_org_id == consumer_org_id,
                ShareRequest.resource_id == resource_id,
                ShareRequest.purpose.startswith(PURPOSE),
            )
        )
        is not None
    )


def seed_verify_grants(db: Database) -> int:
    """Apply for and approve each grant of `VERIFY_GRANTS` not asked for yet: the items
    the rule set needs, nothing masked — the ID number above all, which the exact pass
    joins on (the purpose says so) — valid for a year. Returns how many were made."""
    made = 0
    for consumer, scenario, reference, approver in VERIFY_GRANTS:
        use = USES[scenario]
        with db.session() as s:
            who = account_actor(s, consumer)
            resource = get_resource(s, REGISTERS[reference].code)
            if who.org_id is None or _requested(s, who.org_id, resource.id):
                continue
            start = dt.date.today()
            request = req.create_request(
                s,
                who,
                req.RequestSpec(
                    resource.code,
                    system=use.system,
                    purpose=f"{PURPOSE}：{use.purpose}。按公民身份号码、姓名等比对，"
                    "公民身份号码须不脱敏",
                    legal_basis=use.legal_basis,
                    fields=grant_fields(reference),
                    period_start=start,
                    period_end=start + dt.timedelta(days=365),
                ),
            )
            req.submit(s, who, request, WorkCalendar.from_session(s), req.ReviewPolicy())
            req.approve(
                s,
                account_actor(s, approver),
                request,
                req.Decision(
                    reason="同意。比对核验须按公民身份号码比对，身份号码等比对项不脱敏；"
                    "仅限比对核验使用，不得向第三方提供",
                    masking={},
                ),
            )
            made += 1
    return made
