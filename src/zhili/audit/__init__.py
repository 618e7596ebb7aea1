"""The audit log (审计日志): an append-only, hash-chained record of every data access and
every administrative act.

Record an access (the exchange, once per read, before the rows leave)::

    from zhili.audit import AuditEvent, fingerprint

    audit_log.record(
        AuditEvent.access(
            actor, "exchange.read", grant_id=grant.id, purpose=grant.purpose,
            resource_code=resource.code, provider_org_id=resource.provider_id,
            version=version, fields=fields, row_count=len(rows),
            query_fingerprint=fingerprint(query_model), latency_ms=elapsed_ms,
        )
    )

Verify the chain with :func:`zhili.audit.verify.verify` (``zhili audit verify``); read it
with :func:`zhili.audit.queries.list_entries` (providers see their own resources' entries,
auditors everything).
"""

from zhili.audit.chain import GENESIS, canonical, canonical_json, entry_hash, fingerprint
from zhili.audit.events import AuditEvent, AuditRecord
from zhili.audit.log import AuditLog, append, head, log_of, session_wrote, shared_log
from zhili.audit.models import AuditEntry, Kind, Outcome

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditEvent",
    "AuditLog",
    "AuditRecord",
    "Kind",
    "Outcome",
    "append",
    "canonical",
    "canonical_json",
    "entry_hash",
    "fingerprint",
    "head",
    "log_of",
    "session_wrote",
    "shared_log",
]
