"""A version of a resource as a Frictionless Data Package (v2): a zip holding
``datapackage.json`` (metadata, Table Schema, bytes and sha256 of the data) and the rows
as UTF-8 CSV, written batch by batch so large versions never sit in memory."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from zhili.catalog import tableschema
from zhili.catalog.models import Resource
from zhili.lake import LakeTable

PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"


class _Hashing(io.RawIOBase):
    """A write-through wrapper that counts bytes and hashes what passes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.sha.update(view)
        self.size += len(view)
        self.inner.write(view)
        return len(view)


def descriptor(resource: Resource, version: int, size: int, digest: str) -> dict[str, Any]:
    name = resource.code.replace("-", "_")
    return {
        "$schema": PROFILE,
        "name": f"zhili_{name}",
        "id": resource.code,
        "title": resource.name,
        "description": resource.summary,
        "version": str(version),
        "keywords": list(resource.tags),
        "sources": [{"title": resource.provider.name}],
        "resources": [
            {
                "name": name,
                "path": f"data/{name}.csv",
                "type": "table",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "bytes": size,
                "hash": f"sha256:{digest}",
                "schema": tableschema.export(resource.table_schema),
            }
        ],
    }


def write_package(resource: Resource, table: LakeTable, version: int | None, out: Path) -> Path:
    """Write the zip to ``out`` and return it."""
    version = table.version() if version is None else version
    name = resource.code.replace("-", "_")
    dataset = table.dataset(version)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open(f"data/{name}.csv", "w", force_zip64=True) as member:
            sink = _Hashing(member)
            writer = None
            for batch in dataset.to_batches(batch_size=65_536):
                if writer is None:
                    writer = pacsv.CSVWriter(sink, batch.schema)
                writer.write_batch(batch)
            if writer is None:
                pacsv.write_csv(pa.table({f.name: [] for f in dataset.schema}), sink)
            else:
                writer.close()
        meta = descriptor(resource, version, sink.size, sink.sha.hexdigest())
        zf.writestr("datapackage.json", json.dumps(meta, ensure_ascii=False, indent=1))
    return out


def temp_package(resource: Resource, table: LakeTable, version: int | None) -> Path:
    """The package in a new temporary file (the caller deletes it after sending)."""
    handle, path = tempfile.mkstemp(prefix="zhili-datapackage-", suffix=".zip")
    os.close(handle)
    return write_package(resource, table, version, Path(path))
