"""A snapshot: one version of one Delta table, the unit every query reads.

A query never reads "the table", it reads ``(path, version)``: a version is immutable, so the
same query on the same snapshot always returns the same rows, and everything derived from a
version (its parquet file list, its Arrow schema) can be cached for the life of the process.
Engines read the parquet files directly (``DeltaTable(path, version).file_uris()``), which is
exact for tables written by delta-rs (no deletion vectors, no column mapping).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import pyarrow as pa

from zhili.query.messages import invalid, not_found

__all__ = ["Scope", "Snapshot", "SnapshotFiles"]


@dataclass(frozen=True)
class Scope:
    """What a grant lets one consumer see of a snapshot: the fields (in this order), the
    rows (``where``: a boolean SQL expression in DuckDB's dialect, built from a checked
    row-filter tree, never from consumer text) and the masked fields (``masks``: field →
    masking function id, see :mod:`zhili.query.masks`).

    Engines register a scoped snapshot as its own relation — ``SELECT fields, masked
    expressions FROM files WHERE where`` — so every query, count, export and SQL over it
    sees only the scoped, masked rows: nothing downstream can reach a raw value.
    """

    fields: tuple[str, ...]
    where: str | None = None
    masks: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        text = repr((self.fields, self.where, self.masks))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def schema(self, base: pa.Schema) -> pa.Schema:
        masked = dict(self.masks)
        return pa.schema(
            [
                pa.field(name, pa.string()) if name in masked else base.field(name)
                for name in self.fields
            ]
        )


@dataclass(frozen=True)
class Snapshot:
    """One version of one Delta table on local disk (or any path deltalake can open).

    ``version=None`` means "the latest version at the time of the call"; :meth:`pinned`
    resolves it, and engines always work on pinned snapshots so that a page and its count
    read the same data.
    """

    path: str
    version: int | None = None
    scope: Scope | None = None

    def pinned(self) -> Snapshot:
        """This snapshot with ``version`` resolved to a number."""
        if self.version is not None:
            return self
        return Snapshot(self.path, _open(self.path, None).version(), self.scope)

    @property
    def key(self) -> str:
        """A short stable identifier of a pinned snapshot, usable inside SQL names."""
        pinned = self.pinned()
        scope = pinned.scope.key if pinned.scope else ""
        text = f"{pinned.path}\0{pinned.version}\0{scope}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def files(self) -> SnapshotFiles:
        """The parquet files and the Arrow schema of this version (cached per version);
        with a scope, the schema is what the scope shows."""
        pinned = self.pinned()
        assert pinned.version is not None
        files = _files(pinned.path, pinned.version)
        if pinned.scope is None:
            return files
        return SnapshotFiles(files.uris, pinned.scope.schema(files.schema), files.partition_columns)

    def base_files(self) -> SnapshotFiles:
        """The unscoped files and schema (what the engine reads before scoping)."""
        pinned = self.pinned()
        assert pinned.version is not None
        return _files(pinned.path, pinned.version)


@dataclass(frozen=True)
class SnapshotFiles:
    """What an engine needs to read a snapshot: its files, schema and partition columns."""

    uris: tuple[str, ...]
    schema: pa.Schema
    partition_columns: tuple[str, ...]


def _open(path: str, version: int | None):
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, TableNotFoundError

    try:
        return DeltaTable(path) if version is None else DeltaTable(path, version=version)
    except TableNotFoundError as e:
        raise not_found("query.no_table", path=path) from e
    except DeltaError as e:  # an unknown version is a generic kernel error
        if version is not None and "version" in str(e).lower():
            raise not_found(
                "query.no_version",
                path=path,
                version=version,
            ) from e
        raise invalid("query.bad_table", path=path, reason=str(e)) from e


@lru_cache(maxsize=1024)
def _files(path: str, version: int) -> SnapshotFiles:
    table = _open(path, version)
    schema = pa.schema(table.schema().to_arrow())
    partitions = tuple(table.metadata().partition_columns)
    return SnapshotFiles(tuple(table.file_uris()), schema, partitions)
