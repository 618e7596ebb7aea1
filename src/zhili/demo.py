"""The demo city on a real installation: organizations with their polygons, one account
per role, and the synthetic population as Parquet — idempotent, so `zhili demo` can run
twice. Later scenario issues add their data here through the same synth modules."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.access import Role, system_actor
from zhili.db import Database
from zhili.demo_grid import MAX_EVENTS, GridReport, build_grid
from zhili.identity.models import Organization, User, UserRole
from zhili.identity.orgs import OrgSpec, bulk_upsert_orgs
from zhili.identity.passwords import hash_password
from zhili.synth.catalog import catalog_entries
from zhili.synth.city import City, build_city
from zhili.synth.departments import departments
from zhili.synth.population import write_population

if TYPE_CHECKING:
    from zhili.demo_verify import VerifyReport

DEMO_SEED = 20261124
POPULATION_CODE = "1-01-001-000001"  # 人口基础信息, provided by 公安局
LEGAL_PERSONS_CODE = "1-02-001-000001"  # 法人单位基础信息, provided by 市场监管委
#: Residents the verification registers are made for by default (at most --people).
VERIFY_PEOPLE = 100_000
ADMIN = system_actor("demo")

# username, display name, org ("BUREAU" = the big-data bureau, else a department short
# name, or a district/street index path), roles
DEMO_ACCOUNTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("admin", "平台管理员", "bureau", (Role.platform_admin,)),
    ("orgadmin", "公安局单位管理员", "公安局", (Role.org_admin,)),
    ("steward", "卫健委数据管理员", "卫生健康委员会", (Role.data_steward,)),
    ("approver", "民政局审批人", "民政局", (Role.approver,)),
    ("analyst", "交通运输委分析员", "交通运输委员会", (Role.analyst,)),
    ("auditor", "大数据中心审计员", "bureau", (Role.auditor,)),
    ("gridworker", "网格员", "street", (Role.grid_worker,)),
    ("commander", "街道指挥长", "street", (Role.commander,)),
    ("handler", "城管处置人员", "城市管理委员会", (Role.handler,)),
    ("officer", "市场监管执法人员", "市场监督管理委员会", (Role.officer,)),
    ("careop", "银发服务坐席", "民政局", (Role.care_operator,)),
    ("psbapprover", "公安局数据审批人", "公安局", (Role.approver,)),
    ("hrss", "人社局数据分析员", "人力资源和社会保障局", (Role.analyst,)),
    ("civil", "民政局数据分析员", "民政局", (Role.analyst,)),
    # Verification (比对核验, zhili.demo_verify): the references' approvers, and a second
    # reviewer per checking department so that the two-reviewer rule can be shown
    # (analysts: hrss, analyst, civil; 民政局's first reviewer: approver).
    ("healthapprover", "卫健委数据审批人", "卫生健康委员会", (Role.approver,)),
    ("housingapprover", "住建委数据审批人", "住房和城乡建设委员会", (Role.approver,)),
    ("hrssreviewer1", "人社局核验复核人一", "人力资源和社会保障局", (Role.approver,)),
    ("hrssreviewer2", "人社局核验复核人二", "人力资源和社会保障局", (Role.approver,)),
    ("transportreviewer1", "交通运输委核验复核人一", "交通运输委员会", (Role.approver,)),
    ("transportreviewer2", "交通运输委核验复核人二", "交通运输委员会", (Role.approver,)),
    ("civilreviewer", "民政局核验复核人", "民政局", (Role.approver,)),
)


@dataclass(frozen=True, slots=True)
class DemoReport:
    orgs_created: int
    resources_created: int
    population_version: int | None
    accounts: list[tuple[str, str, str]]  # username, password, roles
    people: int
    population_dir: Path
    population_built: bool
    verification: VerifyReport | None = None
    grid: GridReport | None = None


def city_org_specs(city: City) -> list[OrgSpec]:
    """The demo city's organizations, parents first."""
    root = city.root
    specs = [
        OrgSpec(
            code=root.code,
            name=root.name,
            name_en=root.name_en,
            level="city",
            kind="government",
            region_code=root.code[:6],
            geometry=root.geometry,
        )
    ]
    for dep in departments():
        specs.append(
            OrgSpec(
                code=dep.code,
                name=dep.name,
                name_en=dep.name_en,
                level="city",
                kind=dep.kind,
                parent_code=root.code,
            )
        )
    for area in (*city.districts, *city.streets, *city.communities):
        specs.append(
            OrgSpec(
                code=area.code,
                name=area.name,
                name_en=area.name_en,
                level=area.level,
                kind="government",
                parent_code=area.parent_code,
                region_code=area.code[:6],
                geometry=area.geometry,
            )
        )
    return specs


def _org_for(session: Session, city: City, where: str) -> Organization:
    if where == "street":
        code = city.streets[0].code
    elif where == "bureau":
        code = next(d.code for d in departments() if d.short == "bureau")
    else:
        code = next(d.code for d in departments() if d.name == where)
    org = session.scalar(select(Organization).where(Organization.code == code))
    assert org is not None, code
    return org


def _accounts(session: Session, city: City, home: Path) -> list[tuple[str, str, str]]:
    """Demo accounts with passwords kept in ZHILI_HOME (0600), reused on the next run."""
    store = home / "demo_accounts.json"
    known: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
    out = []
    for username, display, where, roles in DEMO_ACCOUNTS:
        password = known.get(username) or f"zhili-{secrets.token_urlsafe(6)}"
        known[username] = password
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = User(
                username=username,
                display_name=display,
                org_id=_org_for(session, city, where).id,
                password_hash=hash_password(password),
            )
            user.role_rows = [UserRole(role=str(r)) for r in roles]
            session.add(user)
        elif not user.is_active:
            user.is_active = True
        out.append((username, password, ",".join(str(r) for r in roles)))
    store.write_text(json.dumps(known, ensure_ascii=False, indent=1))
    os.chmod(store, 0o600)
    return out


def build_catalog(session: Session) -> int:
    """Describe the demo catalog (62 resources across the departments); keeps existing."""
    from zhili.catalog.models import Resource
    from zhili.catalog.service import ResourceSpec, create_resource

    by_short = {d.short: d.code for d in departments()}
    existing = set(session.scalars(select(Resource.code)))
    created = 0
    for e in catalog_entries():
        if e.code in existing:
            continue
        create_resource(
            session,
            ADMIN,
            ResourceSpec(
                code=e.code,
                name=e.name,
                name_en=e.name_en,
                provider_code=by_short[e.provider],
                classification=e.classification,
                table_schema=e.schema,
                sharing_type=e.sharing_type,
                sharing_conditions=e.sharing_conditions,
                legal_basis=e.legal_basis,
                sharing_methods=list(e.methods),
                open_type=e.open_type,
                update_cycle=e.update_cycle,
                grade=e.grade,
                summary=e.summary,
                tags=list(e.tags),
            ),
        )
        created += 1
    return created


def load_legal_persons(db: Database, home: Path, city: City, people: int, seed: int) -> int | None:
    """Generate companies (one per 20 residents) and load them into 法人单位基础信息."""
    import pyarrow.parquet as pq

    from zhili.catalog.loading import load_file
    from zhili.catalog.service import get_resource
    from zhili.synth.legal_persons import legal_persons

    count = max(people // 20, 100)
    path = home / "synth" / f"legal_persons_{count}_{seed}.parquet"
    with db.session() as session:
        resource = get_resource(session, LEGAL_PERSONS_CODE)
        if resource.current_version is not None and path.exists():
            return resource.current_version
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(legal_persons(count, seed, city), path, compression="zstd")
        row = load_file(
            session, ADMIN, home=home, code=LEGAL_PERSONS_CODE, path=path,
            filename=path.name, mode="replace",
        )  # fmt: skip
        return row.version


def load_population(db: Database, home: Path, pop_dir: Path) -> int | None:
    """Load the generated residents into 人口基础信息 as a new version (replace), once per
    generated population."""
    from zhili.catalog.loading import load_file
    from zhili.catalog.service import get_resource

    with db.session() as session:
        resource = get_resource(session, POPULATION_CODE)
        stamp = pop_dir / "_LOADED"
        if resource.current_version is not None and stamp.exists():
            return resource.current_version
        files = sorted(pop_dir.glob("part-*.parquet"))
        version = None
        for i, path in enumerate(files):
            row = load_file(
                session,
                ADMIN,
                home=home,
                code=POPULATION_CODE,
                path=path,
                filename=path.name,
                mode="replace" if i == 0 else "append",
            )
            version = row.version
        stamp.write_text(str(version))
        return version


def build_demo(
    db: Database,
    home: Path,
    people: int,
    *,
    seed: int = DEMO_SEED,
    on_population: Callable[[int], None] | None = None,
    verify_people: int | None = None,
    secret_key: str | None = None,
) -> DemoReport:
    """Create (or complete) the demo city. Organizations and accounts are committed first,
    then the population is streamed to Parquet in batches (bounded memory). The
    verification registers are made for ``verify_people`` residents (default: ``people``,
    at most `VERIFY_PEOPLE`; 0: none); with ``secret_key`` (the installation's), the
    pension scenario is run on them once."""
    city = build_city(seed)
    with db.session() as session:
        created = bulk_upsert_orgs(session, city_org_specs(city))
        accounts = _accounts(session, city, home)
        resources = build_catalog(session)
        (home / "city").mkdir(parents=True, exist_ok=True)
        for level in ("city", "district", "street", "community", "grid"):
            path = home / "city" / f"{level}.geojson"
            path.write_text(json.dumps(city.to_geojson(level), ensure_ascii=False))
    pop_dir = home / "synth" / "population"
    stamp = pop_dir / "_SUMMARY.json"
    wanted = {"people": people, "seed": seed}
    built = False
    if not stamp.exists() or json.loads(stamp.read_text()).get("request") != wanted:
        tmp = pop_dir.with_name("population.partial")
        if tmp.exists():
            shutil.rmtree(tmp)
        summary = write_population(tmp, people, seed, city, progress=on_population)
        if pop_dir.exists():
            shutil.rmtree(pop_dir)
        tmp.rename(pop_dir)
        stamp.write_text(
            json.dumps({"request": wanted, "summary": summary.as_dict()}, ensure_ascii=False)
        )
        built = True
        (pop_dir / "_LOADED").unlink(missing_ok=True)
    population_version = load_population(db, home, pop_dir)
    load_legal_persons(db, home, city, people, seed)
    from zhili.demo_exchange import seed_exchange

    seed_exchange(db, home)
    grid = build_grid(db, city, events=min(people // 5, MAX_EVENTS), seed=seed)
    verification = None
    verify_people = min(people, VERIFY_PEOPLE) if verify_people is None else verify_people
    if verify_people:
        from zhili.demo_verify import build_verification

        verification = build_verification(
            db, home, verify_people, seed=seed, city=city, secret_key=secret_key
        )
    return DemoReport(
        orgs_created=created,
        resources_created=resources,
        population_version=population_version,
        accounts=accounts,
        people=people,
        population_dir=pop_dir,
        population_built=built,
        verification=verification,
        grid=grid,
    )
