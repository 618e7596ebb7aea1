"""What a caller hands the audit log: one :class:`AuditEvent` per access or act.

Events are validated when built, so a bad value fails in the code that made it (with a
traceback pointing there), not later inside somebody else's group commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zhili.access.actor import Actor
from zhili.audit.chain import canonical_json, check_number, iso
from zhili.audit.models import Kind, Outcome
from zhili.clock import utcnow

# Column widths of the model; checked here so PostgreSQL never refuses an audit row.
_LIMITS = (
    ("action", 64),
    ("actor_username", 64),
    ("system", 100),
    ("resource_code", 40),
    ("error_code", 64),
    ("query_fingerprint", 64),
)
_TEXTS = (
    "action",
    "actor_username",
    "system",
    "purpose",
    "resource_code",
    "error_code",
    "query_fingerprint",
)
_INTS = ("actor_id", "org_id", "grant_id", "provider_org_id", "version", "row_count")
_KINDS = frozenset(Kind)
_OUTCOMES = frozenset(Outcome)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One data access (``kind="access"``) or administrative act (``kind="admin"``).

    Build one with :meth:`access` or :meth:`admin` from the request's actor; ``at``
    defaults to now. ``fields`` are the items (columns) delivered, ``row_count`` the rows,
    ``query_fingerprint`` a :func:`zhili.audit.fingerprint` of the query, ``detail`` any
    further JSON (e.g. the old and new roles of a role change).
    """

    action: str
    kind: str = Kind.access
    at: dt.datetime = field(default_factory=utcnow)
    actor_id: int | None = None
    actor_username: str | None = None
    org_id: int | None = None
    system: str | None = None
    grant_id: int | None = None
    purpose: str | None = None
    resource_code: str | None = None
    provider_org_id: int | None = None
    version: int | None = None
    fields: Sequence[str] = ()
    row_count: int | None = None
    query_fingerprint: str | None = None
    outcome: str = Outcome.ok
    error_code: str | None = None
    latency_ms: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    # The canonical JSON text of ``fields`` and ``detail``: stored and hashed as is.
    fields_json: str = field(init=False, repr=False, compare=False, default="[]")
    detail_json: str = field(init=False, repr=False, compare=False, default="{}")

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if type(self.kind) is not str or self.kind not in _KINDS:
            set_(self, "kind", Kind(self.kind).value)
        if type(self.outcome) is not str or self.outcome not in _OUTCOMES:
            set_(self, "outcome", Outcome(self.outcome).value)
        if not self.action:
            raise ValueError("an audit event needs an action")
        if isinstance(self.fields, str):
            raise ValueError("audit fields must be a sequence of names, not one string")
        fields = tuple(self.fields)
        if not all(type(f) is str for f in fields):
            fields = tuple(str(f) for f in fields)
        set_(self, "fields", fields)
        set_(self, "detail", dict(self.detail))
        if self.latency_ms is not None:
            set_(self, "latency_ms", check_number(self.latency_ms))
        for name in _INTS:
            value = getattr(self, name)
            if value is not None and type(value) is not int:
                set_(self, name, int(value))
        for name, limit in _LIMITS:
            value = getattr(self, name)
            if value is not None and len(value) > limit:
                raise ValueError(f"audit {name} longer than {limit}: {value[:80]!r}")
        for name in _TEXTS:
            value = getattr(self, name)
            if value is not None and "\x00" in value:  # PostgreSQL text cannot hold NUL
                raise ValueError(f"audit {name} contains a NUL character")
        iso(self.at)  # refuses naive datetimes
        set_(self, "fields_json", canonical_json(list(fields)))
        set_(self, "detail_json", canonical_json(self.detail))  # refuses what JSON cannot hold

    @classmethod
    def access(cls, actor: Actor, action: str, **values: Any) -> AuditEvent:
        """A data access by ``actor`` (who, which org, through which system); ``values``
        may override any of those."""
        return cls(action=action, kind=Kind.access, **{**_who(actor), **values})

    @classmethod
    def admin(cls, actor: Actor, action: str, **values: Any) -> AuditEvent:
        """An administrative act by ``actor``."""
        return cls(action=action, kind=Kind.admin, **{**_who(actor), **values})


def _who(actor: Actor) -> dict[str, Any]:
    return {
        "actor_id": actor.user_id,
        "actor_username": actor.username,
        "org_id": actor.org_id,
        "system": actor.system,
    }


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Where an event landed: its place in the chain, committed."""

    seq: int
    hash: str
    at: dt.datetime
