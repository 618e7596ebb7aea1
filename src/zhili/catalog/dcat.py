"""The published catalog as DCAT (DCAT-AP 3): JSON-LD built here, Turtle serialised from
it with rdflib, so harvesters of the European and national portals read zhili as they read
any other catalog. Only resources whose open type is open or conditional are published."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhili.catalog.models import OpenType, Resource

EU = "http://publications.europa.eu/resource/authority/"
FREQUENCY = {
    "realtime": "UPDATE_CONT",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "yearly": "ANNUAL",
    "irregular": "IRREG",
}
ACCESS = {"open": "PUBLIC", "conditional": "RESTRICTED", "closed": "NON_PUBLIC"}
CONTEXT = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "adms": "http://www.w3.org/ns/adms#",
}


def published(session: Session) -> list[Resource]:
    """Resources the open-data portal publishes (open or open on conditions)."""
    stmt = (
        select(Resource)
        .where(Resource.open_type.in_([OpenType.open, OpenType.conditional]))
        .order_by(Resource.code)
    )
    return list(session.scalars(stmt))


def _lang(zh: str, en: str | None) -> list[dict[str, str]]:
    out = [{"@value": zh, "@language": "zh"}]
    if en:
        out.append({"@value": en, "@language": "en"})
    return out


def dataset(resource: Resource, base_url: str) -> dict[str, Any]:
    url = f"{base_url}/catalog/{resource.code}"
    node: dict[str, Any] = {
        "@id": url,
        "@type": "dcat:Dataset",
        "dct:identifier": resource.code,
        "dct:title": _lang(resource.name, resource.name_en),
        "dct:description": _lang(resource.summary or resource.name, None),
        "dct:publisher": {
            "@id": f"{base_url}/orgs/{resource.provider.code}",
            "@type": "foaf:Agent",
            "foaf:name": _lang(resource.provider.name, resource.provider.name_en),
        },
        "dcat:keyword": [{"@value": t, "@language": "zh"} for t in resource.tags],
        "dct:accrualPeriodicity": {"@id": f"{EU}frequency/{FREQUENCY[resource.update_cycle]}"},
        "dct:accessRights": {"@id": f"{EU}access-right/{ACCESS[resource.open_type]}"},
        "dct:modified": {"@value": resource.updated_at.isoformat(), "@type": "xsd:dateTime"},
        "dcat:landingPage": {"@id": url},
        "dcat:distribution": [
            {
                "@id": f"{url}#datapackage",
                "@type": "dcat:Distribution",
                "dct:title": "Frictionless Data Package",
                "dcat:accessURL": {"@id": url},
                "dcat:downloadURL": {
                    "@id": f"{base_url}/api/v1/catalog/{resource.code}/datapackage"
                },
                "dct:format": {"@id": f"{EU}file-type/JSON"},
                "dcat:mediaType": {
                    "@id": "https://www.iana.org/assignments/media-types/application/json"
                },
            },
            {
                "@id": f"{url}#schema",
                "@type": "dcat:Distribution",
                "dct:title": "Table Schema",
                "dcat:accessURL": {"@id": f"{base_url}/api/v1/catalog/{resource.code}/schema"},
                "dct:conformsTo": {"@id": "https://datapackage.org/standard/table-schema/"},
            },
        ],
    }
    if resource.publish_date:
        node["dct:issued"] = {"@value": resource.publish_date.isoformat(), "@type": "xsd:date"}
    return node


def catalog_jsonld(resources: list[Resource], base_url: str, title: str) -> dict[str, Any]:
    """The DCAT catalog as a JSON-LD document."""
    return {
        "@context": CONTEXT,
        "@id": f"{base_url}/dcat/catalog",
        "@type": "dcat:Catalog",
        "dct:title": _lang(title, "zhili open data catalog"),
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": "大数据管理中心"},
        "dcat:dataset": [dataset(r, base_url) for r in resources],
    }


def to_turtle(document: dict[str, Any]) -> str:
    """The same graph in Turtle."""
    import json

    from rdflib import Graph

    graph = Graph()
    graph.parse(data=json.dumps(document), format="json-ld")
    for prefix, uri in CONTEXT.items():
        graph.bind(prefix, uri)
    return graph.serialize(format="turtle")
