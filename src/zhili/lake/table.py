"""One versioned table: a Delta Lake table read and inspected through ``deltalake``.

Every ingest is one Delta commit, so a table version is exactly one upload (or merge),
and any old version can be read again (time travel) until it is vacuumed. Counting
rows and listing versions only reads the transaction log (row counts are the
``numRecords`` statistics of the add actions), never the data.

Local tables live under ``ZHILI_HOME/lake/<resource id>``; ``storage_options`` are passed
to deltalake as they are, for S3-compatible storage.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from zhili.errors import NotFound
from zhili.lake.staging import Staging

#: commitInfo keys written by Delta itself; everything else is the committer's metadata.
DELTA_KEYS = frozenset(
    {
        "timestamp",
        "operation",
        "operationParameters",
        "operationMetrics",
        "engineInfo",
        "clientVersion",
        "version",
        "readVersion",
        "isolationLevel",
        "isBlindAppend",
        "txnId",
    }
)


@dataclass(frozen=True)
class CommitInfo:
    """One version in a table's history."""

    version: int
    timestamp: dt.datetime
    operation: str
    rows: int | None
    bytes: int | None
    files: int | None
    metadata: dict[str, Any] = field(default_factory=dict)


def _metric(info: dict[str, Any], own: str, *delta: str) -> int | None:
    """Our own figure from the commit metadata, else the first Delta metric present."""
    if own in info:
        return int(info[own])
    metrics = info.get("operationMetrics") or {}
    values = [metrics[k] for k in delta if metrics.get(k) is not None]
    return int(sum(int(v) for v in values)) if values else None


class LakeTable:
    """A Delta table at ``uri`` (a local path or an object-store URL)."""

    def __init__(
        self,
        uri: str | Path,
        storage_options: dict[str, str] | None = None,
        staging_root: Path | None = None,
    ) -> None:
        self.uri = str(uri)
        self.storage_options = storage_options
        self._staging_root = staging_root

    @classmethod
    def for_resource(cls, home: Path, resource_id: str | int) -> LakeTable:
        """The table of a catalog resource under ``ZHILI_HOME/lake``."""
        return cls(Path(home) / "lake" / str(resource_id))

    def __repr__(self) -> str:
        return f"LakeTable({self.uri!r})"

    @property
    def path(self) -> Path | None:
        """The local directory, or None for an object-store table."""
        parsed = urlparse(self.uri)
        if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # 1: a Windows drive
            return Path(unquote(parsed.path) if parsed.scheme == "file" else self.uri)
        return None

    @property
    def staging_root(self) -> Path:
        """Scratch space for ingests: inside the table when local, else a temp directory."""
        if self._staging_root is not None:
            return self._staging_root
        if self.path is not None:
            return self.path / "_staging"
        digest = hashlib.sha256(self.uri.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / "zhili-staging" / digest

    def staging(self) -> Staging:
        return Staging(self.staging_root, self.path, self.added_since)

    def exists(self) -> bool:
        return DeltaTable.is_deltatable(self.uri, self.storage_options)

    def delta(self, version: int | None = None) -> DeltaTable:
        """The deltalake handle at ``version`` (default: latest)."""
        try:
            return DeltaTable(self.uri, version=version, storage_options=self.storage_options)
        except TableNotFoundError:
            raise NotFound("lake.table_not_found", "No table at {uri}.", uri=self.uri) from None
        except Exception as exc:
            if version is not None and self.exists():
                raise NotFound(
                    "lake.version_not_found",
                    "Table {uri} has no version {version}.",
                    uri=self.uri,
                    version=version,
                ) from exc
            raise

    def version(self) -> int:
        """The latest version number (the first commit is version 0)."""
        return int(self.delta().version())

    def history(self, limit: int | None = None) -> list[CommitInfo]:
        """Versions newest first, with who/what from the commit's custom metadata."""
        out = []
        for info in self.delta().history(limit):
            metadata = {k: v for k, v in info.items() if k not in DELTA_KEYS}
            stamp = dt.datetime.fromtimestamp(info["timestamp"] / 1000, tz=dt.UTC)
            out.append(
                CommitInfo(
                    version=int(info["version"]),
                    timestamp=stamp,
                    operation=str(info.get("operation", "")),
                    rows=_metric(
                        info,
                        "zhili.rows",
                        "num_added_rows",
                        "num_target_rows_inserted",
                        "num_target_rows_updated",
                    ),
                    bytes=_metric(info, "zhili.bytes", "num_added_bytes"),
                    files=_metric(info, "zhili.files", "num_added_files", "num_target_files_added"),
                    metadata=metadata,
                )
            )
        return out

    def file_uris(self, version: int | None = None) -> list[str]:
        """The Parquet files that make up ``version``."""
        return list(self.delta(version).file_uris())

    def arrow_schema(self, version: int | None = None) -> pa.Schema:
        return pa.schema(self.delta(version).schema().to_arrow())

    def row_count(self, version: int | None = None) -> int:
        """Rows in ``version`` from the log's file statistics (Parquet footers as fallback)."""
        table = self.delta(version)
        actions = pa.table(table.get_add_actions(flatten=True))
        if actions.num_rows == 0:
            return 0
        counts = actions.column("num_records").to_pylist()
        total = sum(c for c in counts if c is not None)
        missing = [i for i, c in enumerate(counts) if c is None]
        if missing:
            uris = table.file_uris()
            total += sum(pq.read_metadata(uris[i]).num_rows for i in missing)
        return int(total)

    def dataset(self, version: int | None = None) -> pads.Dataset:
        """An Arrow dataset of ``version`` (lazy: scans read only what they need)."""
        return self.delta(version).to_pyarrow_dataset()

    def to_arrow(
        self,
        version: int | None = None,
        columns: Sequence[str] | None = None,
        filter: pads.Expression | None = None,
    ) -> pa.Table:
        """Rows of ``version`` (default latest), optionally some columns and a filter."""
        return self.dataset(version).to_table(
            columns=list(columns) if columns is not None else None, filter=filter
        )

    def vacuum(self, retention_hours: int | None = None, dry_run: bool = False) -> list[str]:
        """Delete data files no version within the retention (default 7 days) needs —
        old versions' files, and files a failed commit left behind. Time travel to
        versions older than the retention stops working."""
        return list(
            self.delta().vacuum(
                retention_hours=retention_hours,
                dry_run=dry_run,
                enforce_retention_duration=retention_hours is None,
                full=True,  # also files no version ever referenced (failed commits)
            )
        )

    def _log_entry(self, version: int) -> list[dict[str, Any]] | None:
        if self.path is None:
            return None
        entry = self.path / "_delta_log" / f"{version:020d}.json"
        try:
            text = entry.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def added_in(self, version: int) -> tuple[list[str], int] | None:
        """Paths and total bytes of the files added by ``version`` (from its log entry)."""
        actions = self._log_entry(version)
        if actions is None:
            return None
        adds = [a["add"] for a in actions if "add" in a]
        return [unquote(a["path"]) for a in adds], sum(int(a.get("size", 0)) for a in adds)

    def added_since(self, base: int) -> set[str] | None:
        """Every file added after version ``base``; None when the log cannot tell."""
        if not self.exists():
            return set()
        out: set[str] = set()
        for version in range(base + 1, self.version() + 1):
            added = self.added_in(version)
            if added is None:
                return None
            out.update(added[0])
        return out
