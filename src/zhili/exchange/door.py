"""The one door (``exchange.read``): the only code that returns a resource's rows.

Every path that delivers data — the REST query, exports, guarded SQL, CKAN's datastore
calls, and the scenario apps — calls :func:`open_access` and reads through the
:class:`Access` it returns. Opening decides *under what* the actor reads:

1. the provider's own staff read their own data whole (``basis="provider"``);
2. a consumer organization reads under an **active grant** of its own, for its token's
   system when the token names one: the grant is re-checked on every call (validity,
   suspension, revocation, quotas), and the read runs on a *scoped* snapshot — the
   grant's fields only, its row filter applied, its masked fields masked inside the
   engine's relation (so filters, sorts, cursors and SQL only ever see masked values);
3. anyone reads an **open** resource's non-personal items (``basis="open"``);
4. anyone else gets a 403 that says there is no grant.

After the read, the call is metered against the grant (calls and rows per day) and
audited (who, org, system, grant, purpose, resource, version, fields, rows, query
fingerprint, outcome, latency).

The scenario apps never read the lake themselves: :mod:`zhili.exchange.table_reads` hands
them a resource's items as one Arrow table, opened, scoped, masked, metered and audited
here.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, lazyload

from zhili.access import Actor, can
from zhili.catalog.loading import table_for
from zhili.catalog.models import OpenType, Resource
from zhili.catalog.service import get_resource
from zhili.catalog.tableschema import personal_fields
from zhili.errors import Forbidden, InvalidInput, NotFound, Unauthorized, ZhiliError
from zhili.exchange import auditing
from zhili.exchange import grants as grant_rules
from zhili.exchange.masking import MaskingRules, hash_key, mask_array
from zhili.exchange.models import Grant, RequestState
from zhili.exchange.rowfilter import parse_row_filter
from zhili.exchange.rowfilter_compile import to_sqlglot
from zhili.query import (
    Page,
    Scope,
    Snapshot,
    SqlResult,
    check_sql,
    export_query,
    get_engine,
    parse_params,
    referenced_tables,
)
from zhili.query.masks import register_mask

Basis = Literal["provider", "grant", "open"]
OWN_PARAMS = ("version", "format", "bom")
#: A table in SQL is a resource code, or CKAN's resource id ``<code>.data``.
CKAN_SUFFIX = ".data"
MAX_SQL_TABLES = 8


@dataclass
class Access:
    """One actor's way into one resource for one call (see the module docstring)."""

    resource: Resource
    basis: Basis
    grant: Grant | None = None
    scope: Scope | None = None
    primary_key: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    started: float = field(default_factory=time.perf_counter)

    def snapshot(self, home: Path, version: int | None = None) -> Snapshot:
        """The version to read (pinned from the catalog, which records a version only
        once its Delta commit landed), scoped to what this access may see."""
        current = self.resource.current_version
        code = self.resource.code
        if current is None:
            raise NotFound("catalog.no_data", "resource {code} has no data yet", code=code)
        if version is None:
            version = current
        elif not 0 <= version <= current:
            raise NotFound(
                "catalog.no_such_version",
                "resource {code} has no version {version}",
                code=code,
                version=version,
            )
        return Snapshot(table_for(home, self.resource).uri, version, self.scope)

    def rows_left(self, session: Session) -> int | None:
        if self.grant is None:
            return None
        return grant_rules.rows_left(session, self.grant)


def _secret() -> bytes:
    from zhili.settings import get_settings

    return get_settings().secret_key.encode()


def _grant_scope(grant: Grant, resource: Resource) -> tuple[Scope, tuple[str, ...]]:
    return _scope_of(
        _secret(),
        grant.consumer_org_id,
        grant.consumer.code,
        json.dumps(grant.fields),
        grant.row_filter,
        json.dumps(grant.masking or {}, sort_keys=True),
        json.dumps(resource.table_schema, sort_keys=True),
    )


@lru_cache(maxsize=1024)
def _scope_of(
    secret: bytes,
    consumer_id: int,
    consumer_code: str,
    fields_json: str,
    row_filter: str | None,
    masking_json: str,
    schema_json: str,
) -> tuple[Scope, tuple[str, ...]]:
    """A grant's scope and usable key, from everything they depend on (cached: a grant
    is fixed once approved, and parsing its filter and rules on every read cost ~0.5 ms)."""
    schema = json.loads(schema_json)
    granted = set(json.loads(fields_json))
    fields = tuple(f["name"] for f in schema["fields"] if f["name"] in granted)
    where = None
    if row_filter:
        where = to_sqlglot(parse_row_filter(row_filter)).sql(dialect="duckdb")
    rules = MaskingRules.parse(json.loads(masking_json), schema)
    key = hash_key(secret, consumer_code)
    masks = []
    for name, rule in rules.rules.items():
        if name not in fields:
            continue
        spec = json.dumps([consumer_id, name, rule.to_dict()], sort_keys=True)
        mask_id = "m" + hashlib.sha256(spec.encode() + key).hexdigest()[:20]
        register_mask(mask_id, lambda values, rule=rule: mask_array(values, rule, key))
        masks.append((name, mask_id))
    pk = tuple(schema.get("primaryKey") or ())
    masked = {n for n, _ in masks}
    usable_pk = pk if pk and set(pk) <= set(fields) and not set(pk) & masked else ()
    return Scope(fields, where, tuple(masks)), usable_pk


def _open_scope(resource: Resource) -> tuple[Scope, tuple[str, ...]]:
    hidden = set(personal_fields(resource.table_schema))
    fields = tuple(f["name"] for f in resource.table_schema["fields"] if f["name"] not in hidden)
    pk = tuple(resource.table_schema.get("primaryKey") or ())
    return Scope(fields), pk if pk and set(pk) <= set(fields) else ()


def _active_grant(session: Session, actor: Actor, resource: Resource) -> Grant | None:
    """The consumer's grant for this resource (for the token's system, if it names one):
    an active one if any, else the most recent, so its refusal can say why."""
    stmt = (
        select(Grant)
        .where(Grant.resource_id == resource.id, Grant.consumer_org_id == actor.org_id)
        .order_by(Grant.id.desc())
        # Only the consumer (its code keys hashing); the resource is in the session
        # already, the request is loaded if the grant expires.
        .options(lazyload("*"), joinedload(Grant.consumer))
    )
    if actor.system:
        stmt = stmt.where(Grant.system == actor.system)
    found = list(session.scalars(stmt).unique())
    for grant in found:
        grant_rules._expire_if_due(session, grant)
    active = [g for g in found if g.state == RequestState.active]
    return (active or found or [None])[0]


def open_access(session: Session, actor: Actor, code: str, action: str = "exchange.read") -> Access:
    """How ``actor`` may read resource ``code`` now, or a 401/403 saying why not (the
    refusal is audited)."""
    resource = get_resource(session, code)
    try:
        return _open(session, actor, resource)
    except (Forbidden, Unauthorized) as exc:
        auditing.record_denial(
            session,
            actor,
            action=action,
            resource_code=resource.code,
            provider_org_id=resource.provider_id,
            code=exc.code,
        )
        raise


def open_grant(
    session: Session, actor: Actor, grant_id: int, action: str = "exchange.read"
) -> Access:
    """Read under one named grant (the changes feed a subscription's notice points at):
    only the grant's consumer organization — for a token naming a system, only that
    grant's system — and only while the grant can serve a call, scoped like every grant
    read. A grant the actor may not see is a 404; a refusal is audited."""
    grant = grant_rules.get_grant(session, actor, grant_id)
    resource = grant.resource
    try:
        if not actor.is_authenticated:
            raise Unauthorized("auth.required", "login or an API token is required")
        if actor.org_id != grant.consumer_org_id or actor.system not in (None, grant.system):
            raise Forbidden(
                "exchange.no_grant_for",
                "your organization has no grant for {code}",
                code=resource.code,
            )
        grant_rules.check_grant(session, grant)
    except (Forbidden, Unauthorized) as exc:
        auditing.record_denial(
            session,
            actor,
            action=action,
            resource_code=resource.code,
            provider_org_id=resource.provider_id,
            code=exc.code,
        )
        raise
    scope, pk = _grant_scope(grant, resource)
    return Access(resource, "grant", grant, scope, pk, scope.fields)


def may_read(session: Session, actor: Actor, resource: Resource) -> str | None:
    """The basis on which ``actor`` could read ``resource`` now (for showing buttons; not
    audited, nothing read), or None."""
    access = readable(session, actor, resource)
    return None if access is None else access.basis


def readable(session: Session, actor: Actor, resource: Resource) -> Access | None:
    """How ``actor`` could read ``resource`` now — its basis, fields and masks — for
    choosing inputs (not audited, nothing read), or None."""
    try:
        return _open(session, actor, resource)
    except (Forbidden, Unauthorized):
        return None


def _open(session: Session, actor: Actor, resource: Resource) -> Access:
    if can(actor, "lake.preview", resource):
        pk = tuple(resource.table_schema.get("primaryKey") or ())
        names = tuple(f["name"] for f in resource.table_schema["fields"])
        return Access(resource, "provider", primary_key=pk, fields=names)
    grant = None
    if actor.is_authenticated and actor.org_id is not None:
        grant = _active_grant(session, actor, resource)
    if grant is not None:
        try:
            grant_rules.check_grant(session, grant)
        except Forbidden:
            if resource.open_type != OpenType.open:
                raise
        else:
            scope, pk = _grant_scope(grant, resource)
            return Access(resource, "grant", grant, scope, pk, scope.fields)
    if resource.open_type == OpenType.open:
        scope, pk = _open_scope(resource)
        return Access(resource, "open", None, scope, pk, scope.fields)
    if not actor.is_authenticated:
        raise Unauthorized("auth.required", "login or an API token is required")
    raise Forbidden(
        "exchange.no_grant_for", "your organization has no grant for {code}", code=resource.code
    )


def finish(
    session: Session,
    actor: Actor,
    access: Access,
    *,
    rows: int,
    action: str,
    version: int | None,
    fingerprint: str,
    outcome: str = "ok",
) -> None:
    """Meter the call against its grant and write the audit record (one commit)."""
    also = None
    if access.grant is not None and outcome == "ok":
        also = grant_rules.metering(access.grant.id, rows)
    auditing.record_access(
        session,
        actor,
        access,
        action=action,
        version=version,
        rows=rows,
        fingerprint=fingerprint,
        outcome=outcome,
        latency_ms=(time.perf_counter() - access.started) * 1000,
        also=also,
    )


def fingerprint(*parts: object) -> str:
    """A stable hash of what was asked (the audit log's query fingerprint)."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def _cap(query: Any, left: int | None) -> Any:
    if left is None or left >= query.limit:
        return query
    if left <= 0:
        raise AssertionError("check_grant refuses a grant with no rows left")
    return replace(query, limit=left)


def read_rows(
    session: Session,
    actor: Actor,
    *,
    home: Path,
    code: str,
    params: Sequence[tuple[str, str]],
    version: int | None = None,
) -> tuple[Page, int | None, Access]:
    """One keyset page of rows (REST syntax of :mod:`zhili.query.params`)."""
    access = open_access(session, actor, code)
    query = _cap(parse_params(list(params), other=OWN_PARAMS), access.rows_left(session))
    refuse_hidden_query(query, access)
    snap = access.snapshot(home, version)
    try:
        page = get_engine().query(snap, query, primary_key=access.primary_key or None)
    except ZhiliError as exc:
        finish(
            session,
            actor,
            access,
            rows=0,
            action="exchange.read",
            version=snap.version,
            fingerprint=fingerprint(code, params),
            outcome=f"error:{exc.code}",
        )
        raise
    finish(
        session,
        actor,
        access,
        rows=len(page.rows),
        action="exchange.read",
        version=snap.version,
        fingerprint=fingerprint(code, params),
    )
    return page, snap.version, access


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
    on_rows: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The whole result streamed as CSV, JSONL or Parquet (a grant's row quota cuts it
    short). The export is audited before the first byte leaves, and again with its row
    count — and metered — when the stream ends."""
    access = open_access(session, actor, code, "exchange.export")
    query = parse_params(list(params), other=OWN_PARAMS)
    refuse_hidden_query(query, access)
    snap = access.snapshot(home, version)
    left = access.rows_left(session)
    counter = _Counter(on_rows)
    print_ = fingerprint(code, params, fmt)
    auditing.record_access(
        session,
        actor,
        access,
        action="exchange.export",
        version=snap.version,
        rows=None,
        fingerprint=print_,
        outcome="ok",
        latency_ms=0.0,
    )
    session.commit()
    chunks = export_query(
        get_engine(),
        snap,
        query,
        fmt,  # type: ignore[arg-type]
        primary_key=access.primary_key or None,
        bom=bom,
        max_rows=left,
        on_rows=counter.add,
    )

    def stream() -> Iterator[bytes]:
        outcome = "error:interrupted"
        try:
            yield from chunks
            outcome = "ok"
        finally:
            finish(
                session,
                actor,
                access,
                rows=counter.rows,
                action="exchange.export.completed",
                version=snap.version,
                fingerprint=print_,
                outcome=outcome,
            )
            session.commit()

    return stream()


class _Counter:
    def __init__(self, then: Callable[[int], None] | None = None) -> None:
        self.rows = 0
        self.then = then

    def add(self, n: int) -> None:
        self.rows += n
        if self.then is not None:
            self.then(n)


def run_sql(
    session: Session, actor: Actor, *, home: Path, sql: str, max_rows: int = 10_000
) -> SqlResult:
    """Guarded read-only SQL over the resources ``actor`` may read, each table scoped to
    the actor's access (a grant's fields, rows and masks; an open resource's
    non-personal items). A column outside the scope is unknown to the query."""
    names = referenced_tables(sql)
    if len(names) > MAX_SQL_TABLES:
        raise InvalidInput(
            "reading.too_many_tables",
            "a query may read at most {max} tables",
            field="sql",
            max=MAX_SQL_TABLES,
        )
    opened = {name: open_access(session, actor, name.removesuffix(CKAN_SUFFIX)) for name in names}
    snaps = {name: a.snapshot(home) for name, a in opened.items()}
    for name, snap in snaps.items():
        _refuse_hidden(sql, name, snap, opened[name])
    left = [a.rows_left(session) for a in opened.values()]
    cap = min([max_rows, *[n for n in left if n is not None]])
    try:
        result = get_engine().sql(sql, snaps, max_rows=max(cap, 1))
    except ZhiliError as exc:
        for name, access in opened.items():
            finish(
                session,
                actor,
                access,
                rows=0,
                action="exchange.sql",
                version=snaps[name].version,
                fingerprint=fingerprint(sql),
                outcome=f"error:{exc.code}",
            )
        raise
    for name, access in opened.items():
        finish(
            session,
            actor,
            access,
            rows=len(result.rows),
            action="exchange.sql",
            version=snaps[name].version,
            fingerprint=fingerprint(sql),
        )
    return result


def _refuse_hidden(sql: str, name: str, snap: Snapshot, access: Access) -> None:
    """Name the item when a query touches one outside the reader's scope (against the
    scoped table the guard could only call the column unknown)."""
    if access.scope is None:
        return
    try:
        check_sql(sql, {name: snap}, {name: snap.files().schema.names})
        return  # only scoped items (SELECT * expands to the scope)
    except ZhiliError as exc:
        if exc.code != "query.sql_unknown_column":
            return  # not about scope: the run reports it
    try:
        checked = check_sql(sql, {name: snap}, {name: snap.base_files().schema.names})
    except ZhiliError:
        return
    hidden = sorted(checked.columns.get(name, frozenset()) - set(access.scope.fields))
    if hidden:
        raise outside_scope(access, hidden[0])


def refuse_hidden_query(query: Any, access: Access) -> None:
    """A REST query naming an item outside the scope (fields, filter, sort): 403 naming it
    (an item the resource lacks altogether stays the query layer's 422)."""
    if access.scope is None:
        return
    items = {f["name"] for f in access.resource.table_schema["fields"]}
    named = [
        *(query.fields or ()),
        *(f.field for f in query.filters),
        *(k.field for k in query.sort),
    ]
    for name in named:
        if name in items and name not in access.scope.fields:
            raise outside_scope(access, name)


def outside_scope(access: Access, name: str) -> Forbidden:
    code = "reading.personal_field" if access.basis == "open" else "exchange.field_not_granted"
    return Forbidden(
        code,
        "{field} of {code} is outside what you may read",
        field=name,
        code=access.resource.code,
    )
