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
