"""Catalog entries: national metadata checked, edits versioned and attributed, facets."""

from __future__ import annotations

import pytest

from zhili.access import system_actor
from zhili.catalog import service, tableschema
from zhili.catalog.service import ResourceSpec
from zhili.errors import Conflict, Forbidden, InvalidInput
from zhili.identity.auth import actor_for
from zhili.identity.users import get_user

SCHEMA = {
    "fields": [
        {
            "name": "id_number",
            "title": "公民身份号码",
            "type": "string",
            "format": "cn-id",
            "x-sensitivity": "sensitive_personal",
        },
        {"name": "name", "title": "姓名", "type": "string", "x-sensitivity": "personal"},
        {"name": "death_date", "title": "死亡日期", "type": "date"},
    ],
    "primaryKey": ["id_number"],
}


def spec(**kw) -> ResourceSpec:
    base = dict(
        code="3-05-001-000001",
        name="死亡医学证明信息",
        provider_code="PSB",
        classification="department",
        table_schema=SCHEMA,
        sharing_type="conditional",
        sharing_conditions="用于社会保障待遇核查",
        open_type="closed",
        update_cycle="monthly",
        grade="important",
        tags=["人口", "死亡"],
    )
    base.update(kw)
    return ResourceSpec(**base)


def test_create_edit_and_history(world) -> None:
    admin = system_actor("root")
    with world.db.session() as s:
        r = service.create_resource(s, admin, spec())
        assert r.revision == 1 and r.table_schema["fields"][0]["x-sensitivity"]
    with world.db.session() as s:
        service.update_resource(s, admin, "3-05-001-000001", {"update_cycle": "daily"}, "faster")
        service.update_resource(s, admin, "3-05-001-000001", {"update_cycle": "daily"})
    with world.db.session() as s:
        revs = service.revisions(s, admin, "3-05-001-000001")
        assert [r.revision for r in revs] == [2, 1]
        assert revs[0].changed_fields == ["update_cycle"] and revs[0].changed_by == "root"
        assert revs[1].snapshot["update_cycle"] == "monthly"


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"code": "3-05-1"}, "catalog.bad_code", "code"),
        ({"code": "1-05-001-000001"}, "catalog.code_class_mismatch", "code"),
        ({"sharing_type": "sometimes"}, "catalog.bad_choice", "sharing_type"),
        ({"sharing_conditions": None}, "catalog.conditions_required", "sharing_conditions"),
        (
            {"sharing_type": "none", "legal_basis": None},
            "catalog.legal_basis_required",
            "legal_basis",
        ),
        ({"grade": "secret"}, "catalog.bad_choice", "grade"),
        ({"table_schema": {"fields": []}}, "catalog.no_fields", None),
        ({"table_schema": {"fields": [{"name": "1x"}]}}, "catalog.bad_table_schema", "fields[0]"),
        (
            {"table_schema": {"fields": [{"name": "a", "type": "blob"}]}},
            "catalog.bad_table_schema",
            "fields[0]",
        ),
        (
            {"table_schema": {"fields": [{"name": "a"}], "primaryKey": ["b"]}},
            "catalog.bad_primary_key",
            "primaryKey",
        ),
    ],
)
def test_bad_metadata_names_the_field(world, changes, code, field) -> None:
    with pytest.raises(InvalidInput) as exc, world.db.session() as s:
        service.create_resource(s, system_actor(), spec(**changes))
    assert exc.value.code == code
    if field:
        assert exc.value.params["field"] == field


def test_duplicate_code_is_409(world) -> None:
    with world.db.session() as s:
        service.create_resource(s, system_actor(), spec())
    with pytest.raises(Conflict), world.db.session() as s:
        service.create_resource(s, system_actor(), spec())


def test_stewards_manage_only_their_own(world) -> None:
    world.user("psb.steward", "PSB", "data_steward")
    world.user("d1.steward", "D01", "data_steward")
    with world.db.session() as s:
        psb = actor_for(get_user(s, "psb.steward"))
        other = actor_for(get_user(s, "d1.steward"))
    with world.db.session() as s:
        service.create_resource(s, psb, spec())
    with pytest.raises(Forbidden), world.db.session() as s:
        service.update_resource(s, other, "3-05-001-000001", {"name": "改名"})
    with pytest.raises(Forbidden), world.db.session() as s:
        service.create_resource(s, other, spec(code="3-05-001-000002"))


def test_browse_with_facets(world) -> None:
    admin = system_actor()
    with world.db.session() as s:
        service.create_resource(s, admin, spec())
        service.create_resource(
            s,
            admin,
            spec(
                code="1-01-001-000001",
                classification="base",
                name="人口基础信息",
                sharing_type="unconditional",
                tags=["人口"],
            ),
        )
        service.create_resource(
            s,
            admin,
            spec(
                code="2-02-001-000001",
                classification="theme",
                name="养老服务机构",
                open_type="open",
                sharing_type="unconditional",
                tags=["养老"],
            ),
        )
    with world.db.session() as s:
        page = service.browse(s, admin, filters={"sharing_type": "unconditional"})
        assert page.total == 2
        assert dict(page.facets["sharing_type"]) == {"unconditional": 2, "conditional": 1}
        assert dict(page.facets["classification"]) == {"base": 1, "theme": 1}
        assert service.browse(s, admin, q="人口").total == 2  # name or tag
        assert service.browse(s, admin, filters={"tag": "人口"}).total == 2
        assert service.browse(s, admin, filters={"provider": "PSB"}).total == 3


def test_table_schema_roundtrip() -> None:
    clean = tableschema.normalise(SCHEMA)
    exported = tableschema.export(clean)
    assert exported["$schema"].endswith("tableschema.json")
    assert tableschema.normalise(exported) == clean
    assert tableschema.personal_fields(clean) == ["id_number", "name"]
    items = tableschema.items(clean)
    assert items[0].primary_key and items[0].required and items[2].sensitivity == "none"


def test_search_in_chinese_and_english(world) -> None:
    admin = system_actor()
    with world.db.session() as s:
        service.create_resource(s, admin, spec())
        service.create_resource(
            s,
            admin,
            spec(
                code="3-05-001-000002",
                name="老年人公交卡信息",
                name_en="Senior bus cards",
                tags=["交通", "养老"],
            ),
        )
        service.create_resource(
            s,
            admin,
            spec(
                code="2-02-001-000001",
                classification="theme",
                name="养老服务机构名录",
                name_en="Elderly-care institutions",
                tags=["养老"],
            ),
        )
    with world.db.session() as s:

        def codes(q: str) -> list[str]:
            return [r.code for r in service.browse(s, admin, q=q).items]

        assert codes("死亡证明") == ["3-05-001-000001"]
        assert codes("老年") == ["3-05-001-000002"]
        assert set(codes("养老")) == {"3-05-001-000002", "2-02-001-000001"}
        assert codes("养老")[0] == "2-02-001-000001"  # in the name outranks a tag
        assert codes("bus CARDS") == ["3-05-001-000002"]
        assert codes("elderly care") == ["2-02-001-000001"]
        assert codes("公民身份号码") != []  # item titles are searchable
        assert codes("火星") == []
        assert codes("3-05-001-000002") == ["3-05-001-000002"]
        page = service.browse(s, admin, q="养老", filters={"classification": "theme"})
        assert page.total == 1 and dict(page.facets["classification"]) == {
            "theme": 1,
            "department": 1,
        }
