"""The CKAN Action API, exercised with the real `ckanapi` client over HTTP."""

from __future__ import annotations

import ckanapi
import pytest

from zhili.access import system_actor
from zhili.catalog.service import ResourceSpec, create_resource
from zhili.identity.tokens import create_token

SCHEMA = {"fields": [{"name": "title", "type": "string"}, {"name": "value", "type": "number"}]}


@pytest.fixture()
def ckan_site(live_url: str, world):
    rows = [
        ("2-06-001-000001", "道路交通事故统计", "open", ["交通", "安全"], "unconditional"),
        ("2-06-001-000002", "公交线路与站点", "open", ["交通"], "unconditional"),
        ("3-05-001-000001", "老年人公交卡信息", "closed", ["交通", "养老"], "conditional"),
    ]
    with world.db.session() as s:
        for code, name, open_type, tags, share in rows:
            create_resource(
                s,
                system_actor(),
                ResourceSpec(
                    code=code, name=name, provider_code="PSB",
                    classification="theme" if code.startswith("2") else "department",
                    table_schema=SCHEMA, sharing_type=share, open_type=open_type,
                    sharing_conditions="核查" if share == "conditional" else None,
                    update_cycle="monthly", grade="general", tags=tags,
                ),
            )  # fmt: skip
    world.user("reader", "PSB", "analyst")
    with world.db.session() as s:
        token = create_token(s, system_actor(), username="reader", name="ckan").plaintext
    return live_url, token


def test_anonymous_client_sees_published_only(ckan_site) -> None:
    url, _ = ckan_site
    with ckanapi.RemoteCKAN(url) as site:
        status = site.action.status_show()
        assert status["ckan_version"].startswith("2.")
        assert site.action.package_list() == ["2-06-001-000001", "2-06-001-000002"]
        pkg = site.action.package_show(id="2-06-001-000001")
        assert pkg["title"] == "道路交通事故统计" and pkg["organization"]["name"]
        assert {t["name"] for t in pkg["tags"]} == {"交通", "安全"}
        with pytest.raises(ckanapi.NotFound):
            site.action.package_show(id="3-05-001-000001")
        res = site.action.resource_show(id=pkg["resources"][0]["id"])
        assert res["package_id"] == "2-06-001-000001"
        orgs = site.action.organization_list(all_fields=True)
        assert orgs[0]["package_count"] == 2


def test_package_search_q_fq_facets_sort_paging(ckan_site) -> None:
    url, token = ckan_site
    with ckanapi.RemoteCKAN(url, apikey=token) as site:
        found = site.action.package_search(q="交通", rows=10, **{"facet.field": ["tags"]})
        assert found["count"] == 3  # a signed-in caller sees the whole catalog
        assert found["facets"]["tags"]["交通"] == 3
        elderly = site.action.package_search(fq='tags:"养老"')
        assert [p["name"] for p in elderly["results"]] == ["3-05-001-000001"]
        page = site.action.package_search(q="*:*", rows=1, start=1, sort="name desc")
        assert page["count"] == 3 and page["results"][0]["name"] == "2-06-001-000002"
        with pytest.raises(ckanapi.ValidationError):
            site.action.package_search(fq="colour:red")
        org = site.action.organization_show(id="psb", include_datasets=True)
        assert len(org["packages"]) == 3


def test_get_only_client_and_unknown_action(ckan_site) -> None:
    url, _ = ckan_site
    with ckanapi.RemoteCKAN(url, get_only=True) as site:
        result = site.action.package_search(q="公交", **{"facet.field": '["organization"]'})
        assert result["count"] == 1
        with pytest.raises(ckanapi.CKANAPIError):
            site.call_action("package_patch", {"id": "x"})


PEOPLE = {
    "fields": [
        {"name": "id_number", "type": "string", "format": "cn-id",
         "x-sensitivity": "sensitive_personal"},
        {"name": "name", "type": "string", "x-sensitivity": "personal"},
        {"name": "district", "type": "string"},
        {"name": "age", "type": "integer"},
        {"name": "note", "type": "string"},
    ],
    "primaryKey": ["id_number"],
}  # fmt: skip
PEOPLE_CSV = (
    "id_number,name,district,age,note\n"
    "11010519491231002X,张三,和平区,76,50%_off\n"
    "120101199001010113,李四,河东区,35,\n"
    "120101195001010019,王五,和平区,75,AB\n"
)


@pytest.fixture()
def datastore_site(ckan_site, world, tmp_path):
    from zhili.catalog.loading import load_file
    from zhili.settings import get_settings

    home = get_settings().home
    with world.db.session() as s:
        for code, open_type in (("2-01-001-000007", "open"), ("2-01-001-000008", "closed")):
            create_resource(s, system_actor(), ResourceSpec(
                code=code, name="老年人名册", provider_code="PSB", classification="theme",
                table_schema=PEOPLE, sharing_type="unconditional", open_type=open_type,
                update_cycle="monthly", grade="general", tags=["养老"],
            ))  # fmt: skip
            csv = tmp_path / f"{code}.csv"
            csv.write_text(PEOPLE_CSV, encoding="utf-8")
            load_file(s, system_actor(), home=home, code=code, path=csv, filename=csv.name)
    return ckan_site


def test_datastore_search_with_ckanapi(datastore_site) -> None:
    url, token = datastore_site
    with ckanapi.RemoteCKAN(url, apikey=token) as site:  # the provider's own analyst
        res = site.action.datastore_search(
            resource_id="2-01-001-000007.data", filters={"district": "和平区"}, sort="age desc"
        )
        assert res["total"] == 2 and [r["name"] for r in res["records"]] == ["张三", "王五"]
        assert {"id": "age", "type": "int"} in res["fields"]
        page = site.action.datastore_search(
            resource_id="2-01-001-000007.data", limit=1, offset=1, sort="age",
            fields=["name", "age"], records_format="lists",
        )  # fmt: skip
        assert page["records"] == [["王五", 75]] and page["total"] == 3
        found = site.action.datastore_search(resource_id="2-01-001-000007.data", q="50%_")
        assert [r["name"] for r in found["records"]] == ["张三"]  # % and _ are literal
        assert site.action.datastore_search(
            resource_id="2-01-001-000007.data", q="50%x")["total"] == 0  # fmt: skip
        csv = site.action.datastore_search(
            resource_id="2-01-001-000007.data", records_format="csv", fields="name,age",
            filters={"age": [35, 76]}, include_total=False,
        )  # fmt: skip
        assert csv["records"] == "张三,76\n李四,35\n" and csv["total"] is None
        sql = site.action.datastore_search_sql(
            sql='SELECT district, count(*) AS n FROM "2-01-001-000008.data" '
            "GROUP BY district ORDER BY n DESC"
        )
        assert sql["records"] == [{"district": "和平区", "n": 2}, {"district": "河东区", "n": 1}]
        assert sql["fields"][1] == {"id": "n", "type": "int"}
        with pytest.raises(ckanapi.ValidationError):
            site.action.datastore_search(resource_id="2-01-001-000007.data", filters={"x": 1})
        with pytest.raises(ckanapi.ValidationError):
            site.action.datastore_search(resource_id="2-01-001-000007.data", filters={"age": "x"})
        with pytest.raises(ckanapi.ValidationError):
            site.action.datastore_search_sql(sql='DROP TABLE "2-01-001-000007.data"')


def test_datastore_for_the_public_hides_personal_items(datastore_site) -> None:
    url, _ = datastore_site
    with ckanapi.RemoteCKAN(url) as site:
        res = site.action.datastore_search(resource_id="2-01-001-000007.data")
        assert [f["id"] for f in res["fields"]] == ["district", "age", "note"]
        assert res["total"] == 3
        with pytest.raises(ckanapi.NotAuthorized):  # not even searchable
            site.action.datastore_search(resource_id="2-01-001-000007.data", q={"name": "张"})
        agg = site.action.datastore_search_sql(
            sql='SELECT avg(age) AS a FROM "2-01-001-000007.data"'
        )
        assert agg["records"] == [{"a": 62.0}]
        with pytest.raises(ckanapi.NotAuthorized):
            site.action.datastore_search_sql(sql='SELECT name FROM "2-01-001-000007.data"')
        with pytest.raises((ckanapi.NotAuthorized, ckanapi.NotFound)):
            site.action.datastore_search(resource_id="2-01-001-000008.data")
