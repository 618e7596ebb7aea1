"""Loading a resource's data: the catalog side of an ingest.

The lake validates and commits a Delta version; this module checks who may load, where
the resource's table lives (``ZHILI_HOME/lake/<resource id>``), and records the committed
version with its row counts and quality in the catalog.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from zhili.access import Actor, require
from zhili.catalog.models import LakeVersion, Resource
from zhili.catalog.service import get_resource, record_version
from zhili.errors import InvalidInput
from zhili.lake import LakeTable, SqlSource, detect_source, ingest
from zhili.lake.quality import measure
from zhili.lake.source import Source

MODES = ("append", "replace", "upsert")


def table_for(home: Path, resource: Resource) -> LakeTable:
    return LakeTable(str(home / "lake" / f"r{resource.id:06d}"))


def existing_table(home: Path, resource: Resource, version: int | None = None) -> LakeTable:
    """The resource's table, which must hold data (and ``version``, when given)."""
    from zhili.errors import NotFound

    table = table_for(home, resource)
    if not table.exists():
        raise NotFound("catalog.no_data", "resource {code} has no data yet", code=resource.code)
    if version is not None and not 0 <= version <= table.version():
        raise NotFound(
            "catalog.no_such_version",
            "resource {code} has no version {version}",
            code=resource.code,
            version=version,
        )
    return table


def load_file(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    code: str,
    path: Path,
    filename: str,
    mode: str = "append",
    progress: Callable[[int], None] | None = None,
) -> LakeVersion:
    """Validate ``path`` against the resource's items and commit it as a new version.
    Raises the lake's validation error (with the Frictionless-shaped report) on bad data;
    then nothing is committed and the catalog is unchanged."""
    resource = loadable(session, actor, code, mode)
    return _load(
        session, actor, home, resource, detect_source(path, filename), filename, mode, progress
    )


def load_database(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    code: str,
    url: str,
    query: str,
    mode: str = "append",
    allowed_drivers: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
) -> LakeVersion:
    """Load the rows of ``query`` on a department's own database (a SQLAlchemy URL) as a
    new version, validated like a file. Only network database drivers named in
    ``allowed_drivers`` are accepted, so a URL cannot make the platform open its own files."""
    resource = loadable(session, actor, code, mode)
    source = SqlSource(check_source_url(url, allowed_drivers), query)
    return _load(session, actor, home, resource, source, source.describe(), mode, progress)


def check_source_url(url: str, allowed_drivers: Sequence[str]) -> str:
    """``url`` if it parses and its backend is allowed; the password is never echoed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput(
            "catalog.bad_source_url",
            "not a database URL (dialect+driver://user@host/db)",
            field="url",
        ) from None
    backend = parsed.get_backend_name()
    if backend not in allowed_drivers:
        raise InvalidInput(
            "catalog.source_driver",
            "{driver} databases cannot be loaded; allowed: {allowed}",
            field="url",
            driver=backend,
            allowed=", ".join(allowed_drivers) or "none",
        )
    return url


def loadable(session: Session, actor: Actor, code: str, mode: str) -> Resource:
    resource = get_resource(session, code)
    require(actor, "lake.ingest", resource)
    if mode not in MODES:
        raise InvalidInput(
            "catalog.bad_mode",
            "mode must be one of {valid}, got {value!r}",
            field="mode",
            valid=", ".join(MODES),
            value=mode,
        )
    if mode == "upsert" and not resource.table_schema.get("primaryKey"):
        raise InvalidInput(
            "catalog.upsert_needs_key", "upsert needs a primary key in the items", field="mode"
        )
    return resource


def _load(
    session: Session,
    actor: Actor,
    home: Path,
    resource: Resource,
    source: Source,
    source_name: str,
    mode: str,
    progress: Callable[[int], None] | None,
) -> LakeVersion:
    table = table_for(home, resource)
    result = ingest(
        source,
        resource.table_schema,
        table,
        mode,  # type: ignore[arg-type]
        progress=progress,
        commit_properties={"zhili.by": actor.username or "", "zhili.source": source_name},
    )
    quality: dict[str, Any] = measure(table, resource.table_schema, result.version).as_dict()
    return record_version(
        session,
        resource,
        version=result.version,
        mode=mode,
        rows_written=result.rows,
        total_rows=table.row_count(result.version),
        size=result.bytes,
        source=source_name,
        by=actor.username,
        quality=quality,
    )


def preview(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    code: str,
    limit: int = 20,
    version: int | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """The first rows of a version for the provider's own staff; personal items are
    masked even here (a preview is for checking shape, not for reading people)."""
    from zhili.catalog.masking import mask_personal

    resource = get_resource(session, code)
    require(actor, "lake.preview", resource)
    table = table_for(home, resource)
    if not table.exists():
        return [f["name"] for f in resource.table_schema["fields"]], []
    data = table.dataset(version).head(limit).to_pylist()  # reads only the first rows
    mask_personal(data, resource.table_schema)
    return [f["name"] for f in resource.table_schema["fields"]], data


def package_file(
    session: Session, actor: Actor, *, home: Path, code: str, version: int | None = None
) -> tuple[Resource, Path]:
    """A version as a Frictionless Data Package zip: open resources for anyone (the open
    data portal), otherwise the provider's own staff."""
    from zhili.catalog.datapackage import temp_package
    from zhili.catalog.models import OpenType

    resource = get_resource(session, code)
    if resource.open_type != OpenType.open:
        require(actor, "lake.preview", resource)
    return resource, temp_package(resource, existing_table(home, resource, version), version)
