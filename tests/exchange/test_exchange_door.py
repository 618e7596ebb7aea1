"""The one door: every path that returns rows × every way a read must be refused or
narrowed. Nothing leaks, and each refusal says why."""

from __future__ import annotations

import datetime as dt
import io
import json

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select, update

from zhili.access import ANONYMOUS, system_actor
from zhili.audit.models import AuditEntry
from zhili.calendar.service import WorkCalendar
from zhili.catalog.loading import load_file
from zhili.catalog.service import ResourceSpec, create_resource
from zhili.errors import Forbidden, Unauthorized, ZhiliError
from zhili.exchange import ckan_reads, door, table_reads
from zhili.exchange import requests as req
from zhili.exchange.grants import change_state
from zhili.exchange.models import Grant, GrantUsage
from zhili.identity.auth import actor_for
from zhili.identity.models import User

CODE = "3-03-001-000001"
SCHEMA = {
    "fields": [
        {"name": "id_number", "type": "string", "format": "cn-id",
         "x-sensitivity": "sensitive_personal"},
        {"name": "name", "type": "string", "x-sensitivity": "personal"},
        {"name": "district", "type": "string"},
        {"name": "death_date", "type": "date"},
    ],
    "primaryKey": ["id_number"],
}  # fmt: skip
ROWS = (
    "id_number,name,district,death_date\n"
    "11010519491231002X,张三,和平区,2026-10-01\n"
    "120101199001010113,李四,河东区,2026-10-02\n"
    "120101195001010019,王五,和平区,2026-10-03\n"
)


def _actor(world, username):
    with world.db.session() as s:
        return actor_for(s.scalars(select(User).where(User.username == username)).one())


@pytest.fixture()
def city(world, settings, seeded_calendar, tmp_path):
    """PSB provides a conditional resource; CAB holds a grant for two items, one masked,
    rows of one district; EDU has nothing."""
    world.org("CAB", "民政局", "city", "department", "CITY")
    world.org("EDU", "教育局", "city", "department", "CITY")
    world.user("cab.analyst", "CAB", "analyst")
    world.user("edu.analyst", "EDU", "analyst")
    world.user("psb.approver", "PSB", "approver")
    csv = tmp_path / "d.csv"
    csv.write_text(ROWS, encoding="utf-8")
    with world.db.session() as s:
        create_resource(s, system_actor(), ResourceSpec(
            code=CODE, name="死亡医学证明信息", provider_code="PSB", classification="department",
            table_schema=SCHEMA, sharing_type="conditional", sharing_conditions="核查",
            open_type="closed", update_cycle="monthly", grade="important",
        ))  # fmt: skip
        load_file(s, system_actor(), home=settings.home, code=CODE, path=csv, filename="d.csv")
    cab, approver = _actor(world, "cab.analyst"), _actor(world, "psb.approver")
    with world.db.session() as s:
        r = req.create_request(s, cab, req.RequestSpec(
            CODE, system="养老金发放系统", purpose="停发已故人员养老金", legal_basis="社会保险法",
            fields=["id_number", "death_date", "district"], row_filter="district = '和平区'",
        ))  # fmt: skip
        req.submit(s, cab, r, WorkCalendar.from_session(s), req.ReviewPolicy())
        grant = req.approve(s, approver, r, req.Decision(
            masking={"id_number": {"rule": "id_number"}}, calls_per_day=50, rows_per_day=1000,
        ))  # fmt: skip
        grant_id = grant.id
    return {"cab": cab, "edu": _actor(world, "edu.analyst"), "approver": approver,
            "grant": grant_id, "home": settings.home, "db": world.db}  # fmt: skip


def _paths(city, actor, **kw):
    """Each data path, called the same way, returning the rows (as dicts) it delivered."""
    home = city["home"]

    def rows(s):
        return door.read_rows(s, actor, home=home, code=CODE, params=kw.get("params", []))[0].rows

    def export(s):
        data = b"".join(door.export_rows(s, actor, home=home, code=CODE,
                                         params=kw.get("params", []), fmt="parquet"))  # fmt: skip
        return pq.read_table(io.BytesIO(data)).to_pylist()

    def sql(s):
        text = kw.get("sql", f'SELECT * FROM "{CODE}"')
        return door.run_sql(s, actor, home=home, sql=text).rows

    def datastore(s):
        data = {"resource_id": f"{CODE}.data", **kw.get("ckan", {})}
        return ckan_reads.datastore_search(s, actor, home=home, data=data)["records"]

    def datastore_sql(s):
        text = kw.get("sql", f'SELECT * FROM "{CODE}.data"')
        return ckan_reads.datastore_search_sql(s, actor, home=home, data={"sql": text})["records"]

    return {"rows": rows, "export": export, "sql": sql, "datastore": datastore,
            "datastore_sql": datastore_sql}  # fmt: skip


PATHS = ["rows", "export", "sql", "datastore", "datastore_sql"]


@pytest.mark.parametrize("path", PATHS)
def test_grant_narrows_fields_rows_and_masks(city, path) -> None:
    with city["db"].session() as s:
        got = _paths(city, city["cab"])[path](s)
    assert sorted(got[0]) == ["death_date", "district", "id_number"]  # no name
    assert {r["district"] for r in got} == {"和平区"}  # row filter
    ids = sorted(r["id_number"] for r in got)
    assert ids == ["110105********002X", "120101********0019"]  # masked


@pytest.mark.parametrize("path", PATHS)
def test_provider_staff_read_everything(city, path) -> None:
    with city["db"].session() as s:
        got = _paths(city, city["approver"])[path](s)
    assert len(got) == 3 and "name" in got[0] and "11010519491231002X" in str(got)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("who", "code"),
    [("anonymous", "auth.required"), ("edu", "exchange.no_grant_for")],
)
def test_strangers_are_refused(city, path, who, code) -> None:
    actor = ANONYMOUS if who == "anonymous" else city[who]
    with city["db"].session() as s, pytest.raises(ZhiliError) as caught:
        _paths(city, actor)[path](s)
    assert caught.value.code == code
    assert isinstance(caught.value, Unauthorized if who == "anonymous" else Forbidden)


def _set(city, **values) -> None:
    with city["db"].session() as s:
        s.execute(update(Grant).where(Grant.id == city["grant"]).values(**values))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"valid_until": dt.date(2020, 1, 1), "valid_from": dt.date(2019, 1, 1)},
         "exchange.grant_expired"),
        ({"valid_from": dt.date(2099, 1, 1)}, "exchange.grant_not_started"),
        ({"calls_per_day": 0}, "exchange.grant_over_calls"),
        ({"rows_per_day": 0}, "exchange.grant_over_rows"),
    ],
)  # fmt: skip
def test_grant_conditions_refuse_with_their_reason(city, path, change, code) -> None:
    _set(city, **change)
    with city["db"].session() as s, pytest.raises(Forbidden) as caught:
        _paths(city, city["cab"])[path](s)
    assert caught.value.code == code


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("action", "code"),
    [("suspend", "exchange.grant_suspended"), ("revoke", "exchange.grant_revoked")],
)
def test_suspended_and_revoked_grants_refuse(city, path, action, code) -> None:
    with city["db"].session() as s:
        grant = s.get(Grant, city["grant"])
        change_state(s, city["approver"], grant, action, "数据核查中")
    with city["db"].session() as s, pytest.raises(Forbidden) as caught:
        _paths(city, city["cab"])[path](s)
    assert caught.value.code == code
    assert caught.value.params["reason"] == "数据核查中"


@pytest.mark.parametrize(
    ("path", "kw"),
    [
        ("rows", {"params": [("fields", "name")]}),
        ("rows", {"params": [("filter", "name:eq:张三")]}),
        ("rows", {"params": [("sort", "name")]}),
        ("export", {"params": [("fields", "id_number,name")]}),
        ("sql", {"sql": f'SELECT name FROM "{CODE}"'}),
        ("sql", {"sql": f'SELECT count(*) FROM "{CODE}" WHERE name = \'张三\''}),
        ("datastore", {"ckan": {"fields": ["name"]}}),
        ("datastore", {"ckan": {"filters": {"name": "张三"}}}),
        ("datastore_sql", {"sql": f'SELECT max(name) FROM "{CODE}.data"'}),
    ],
)  # fmt: skip
def test_fields_outside_the_grant_are_named(city, path, kw) -> None:
    with city["db"].session() as s, pytest.raises(Forbidden) as caught:
        _paths(city, city["cab"], **kw)[path](s)
    assert caught.value.code == "exchange.field_not_granted"
    assert caught.value.params["field"] == "name"


@pytest.mark.parametrize(
    ("path", "kw"),
    [
        ("rows", {"params": [("filter", "district:eq:河东区")]}),
        ("rows", {"params": [("filter", "id_number:eq:120101199001010113")]}),
        ("sql", {"sql": f"SELECT * FROM \"{CODE}\" WHERE district = '河东区'"}),
        ("sql", {"sql": f"SELECT * FROM \"{CODE}\" WHERE id_number LIKE '1101051949%'"}),
        ("datastore", {"ckan": {"filters": {"id_number": "11010519491231002X"}}}),
        ("datastore", {"ckan": {"q": "河东"}}),
    ],
)  # fmt: skip
def test_rows_outside_the_filter_and_raw_masked_values_find_nothing(city, path, kw) -> None:
    with city["db"].session() as s:
        assert _paths(city, city["cab"], **kw)[path](s) == []


def test_every_read_is_metered_and_audited(city) -> None:
    with city["db"].session() as s:
        door.read_rows(s, city["cab"], home=city["home"], code=CODE, params=[])
    with city["db"].session() as s, pytest.raises(Forbidden):
        door.read_rows(s, city["edu"], home=city["home"], code=CODE, params=[])
    with city["db"].session() as s:
        usage = s.scalars(select(GrantUsage)).one()
        assert (usage.calls, usage.rows) == (1, 2)
        entries = s.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    ok, denied = entries[-2], entries[-1]
    assert (ok.action, ok.outcome, ok.row_count, ok.grant_id) == (
        "exchange.read", "ok", 2, city["grant"])  # fmt: skip
    assert ok.purpose == "停发已故人员养老金" and json.loads(json.dumps(ok.fields)) == [
        "id_number", "district", "death_date"]  # fmt: skip
    assert (denied.outcome, denied.error_code) == ("denied", "exchange.no_grant_for")


def test_row_quota_cuts_pages_and_exports_short(city) -> None:
    _set(city, rows_per_day=1)
    with city["db"].session() as s:
        page, _, _ = door.read_rows(s, city["cab"], home=city["home"], code=CODE, params=[])
    assert len(page.rows) == 1
    with city["db"].session() as s, pytest.raises(Forbidden) as caught:
        b"".join(door.export_rows(s, city["cab"], home=city["home"], code=CODE, params=[],
                                  fmt="csv"))  # fmt: skip
    assert caught.value.code == "exchange.grant_over_rows"


def test_read_table_is_scoped_masked_metered_and_audited(city) -> None:
    with city["db"].session() as s:
        got = table_reads.read_table(s, city["cab"], home=city["home"], code=CODE,
                              columns=["id_number", "district"])  # fmt: skip
    assert got.basis == "grant" and got.masked == ("id_number",)
    assert got.table.column_names == ["id_number", "district"]
    assert sorted(got.table.column("id_number").to_pylist()) == [
        "110105********002X", "120101********0019",
    ]  # fmt: skip
    with city["db"].session() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "exchange.verify_read")
        ).one()
        assert (entry.row_count, entry.grant_id) == (2, city["grant"])
        assert entry.fields == ["id_number", "district"]
        assert s.scalars(select(GrantUsage.rows)).one() == 2
    with city["db"].session() as s, pytest.raises(Forbidden) as caught:
        table_reads.read_table(s, city["cab"], home=city["home"], code=CODE, columns=["name"])
    assert caught.value.code == "exchange.field_not_granted"


def test_read_table_refuses_what_the_quota_would_cut_short(city) -> None:
    _set(city, rows_per_day=1)
    with city["db"].session() as s, pytest.raises(Forbidden) as caught:
        table_reads.read_table(s, city["cab"], home=city["home"], code=CODE, columns=["district"])
    assert caught.value.code == "exchange.read_over_quota"
    assert caught.value.params["rows"] == 2 and caught.value.params["left"] == 1
    with city["db"].session() as s:
        cut = table_reads.read_table(s, city["cab"], home=city["home"], code=CODE,
                              columns=["district"], whole=False)  # fmt: skip
        denied = s.scalars(select(AuditEntry.outcome).where(
            AuditEntry.error_code == "exchange.read_over_quota")).all()  # fmt: skip
    assert cut.table.num_rows == 1 and denied == ["denied"]
