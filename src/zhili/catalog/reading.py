"""Reading rows of a resource over HTTP until the exchange exists: the provider's own staff
read their data; anyone reads open resources, with personal items masked. The exchange
(next issue) replaces this with the one door that checks grants and audits every read."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session

from zhili.access import Actor, can, require
from zhili.catalog.loading import existing_table
from zhili.catalog.masking import mask_personal
from zhili.catalog.models import OpenType, Resource
from zhili.catalog.service import get_resource
from zhili.catalog.tableschema import personal_fields
from zhili.query import Page, Snapshot, export_query, get_engine, parse_params

OWN_PARAMS = ("version", "format", "bom")


def _open_for(session: Session, actor: Actor, code: str) -> tuple[Resource, bool]:
    """The resource and whether personal items must be masked for this reader."""
    resource = get_resource(session, code)
    if can(actor, "lake.preview", resource):
        return resource, False
    if resource.open_type != OpenType.open:
        require(actor, "lake.preview", resource)
    return resource, True


def _snapshot(home: Path, resource: Resource, version: int | None) -> Snapshot:
    return Snapshot(existing_table(home, resource, version).uri, version).pinned()


def read_rows(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    code: str,
    params: Sequence[tuple[str, str]],
    version: int | None = None,
) -> tuple[Page, int | None]:
    """One keyset page of rows (REST syntax of :mod:`zhili.query.params`)."""
    resource, masked = _open_for(session, actor, code)
    query = parse_params(list(params), other=OWN_PARAMS)
    snap = _snapshot(home, resource, version)
    page = get_engine().query(snap, query, primary_key=resource.table_schema.get("primaryKey"))
    if masked:
        mask_personal(page.rows, resource.table_schema)
    return page, snap.version


def export_rows(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    code: str,
    params: Sequence[tuple[str, str]],
    fmt: str,
    version: int | None = None,
    bom: bool = False,
) -> Iterator[bytes]:
    """The whole result streamed as CSV, JSONL or Parquet. Open resources read by others
    leave out personal items entirely (masking a stream would still show their shape)."""
    resource, masked = _open_for(session, actor, code)
    query = parse_params(list(params), other=OWN_PARAMS)
    if masked:
        hidden = set(personal_fields(resource.table_schema))
        fields = query.fields or tuple(f["name"] for f in resource.table_schema["fields"])
        query = replace(query, fields=tuple(f for f in fields if f not in hidden))
    snap = _snapshot(home, resource, version)
    return export_query(
        get_engine(),
        snap,
        query,
        fmt,  # type: ignore[arg-type]
        primary_key=resource.table_schema.get("primaryKey"),
        bom=bom,
    )
