"""The open-data portal and the DCAT catalog: public, published resources only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import RDF

from zhili.access import system_actor
from zhili.catalog.service import ResourceSpec, create_resource

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
SCHEMA = {"fields": [{"name": "title", "type": "string"}, {"name": "value", "type": "number"}]}


def _resource(db, code: str, name: str, open_type: str) -> None:
    with db.session() as s:
        create_resource(
            s,
            system_actor(),
            ResourceSpec(
                code=code, name=name, provider_code="PSB", classification="theme",
                table_schema=SCHEMA, sharing_type="unconditional", open_type=open_type,
                update_cycle="monthly", grade="general", tags=["交通"], name_en="Traffic",
            ),
        )  # fmt: skip


def test_portal_lists_only_published(client: TestClient, world) -> None:
    _resource(world.db, "2-06-001-000001", "道路交通事故统计", "open")
    _resource(world.db, "2-06-001-000002", "交通违法明细", "closed")
    page = client.get("/open")
    assert page.status_code == 200
    assert "道路交通事故统计" in page.text and "交通违法明细" not in page.text
    assert client.get("/open?q=事故").text.count("/open/2-06-001-000001") >= 1
    assert client.get("/open/2-06-001-000001").status_code == 200
    hidden = client.get("/open/2-06-001-000002")
    assert hidden.status_code == 404 and hidden.json()["code"] == "catalog.not_published"


def test_dcat_jsonld_and_turtle_describe_the_same_graph(client: TestClient, world) -> None:
    _resource(world.db, "2-06-001-000001", "道路交通事故统计", "open")
    _resource(world.db, "2-06-001-000002", "交通违法明细", "closed")
    doc = client.get("/dcat/catalog.jsonld")
    assert doc.headers["content-type"].startswith("application/ld+json")
    ttl = client.get("/dcat/catalog.ttl")
    assert ttl.headers["content-type"].startswith("text/turtle")
    g1 = Graph().parse(data=doc.text, format="json-ld")
    g2 = Graph().parse(data=ttl.text, format="turtle")
    assert len(g1) == len(g2) > 10
    datasets = list(g2.subjects(RDF.type, DCAT.Dataset))
    assert len(datasets) == 1 and str(datasets[0]).endswith("/catalog/2-06-001-000001")
    freq = g2.value(datasets[0], DCT.accrualPeriodicity)
    assert freq == URIRef("http://publications.europa.eu/resource/authority/frequency/MONTHLY")
    titles = {str(t) for t in g2.objects(datasets[0], DCT.title)}
    assert {"道路交通事故统计", "Traffic"} == titles
