"""Versioned tables (Delta Lake): ingest = read → validate (vectorised) → commit atomically.

The lake knows nothing about who may read: no access checks and no database sessions
here, only files. The catalog calls `ingest` with a resource's Table Schema and records
the version, counts and `measure`-d quality it returns.

Modules, one concept each: `schema` (Table Schema → specs, Arrow schema), `source`,
`readers`, `jsonfile`, `xlsx`, `sql`, `encoding` (reading), `sqlgen`, `proofs` and `validate`
(checking, in DuckDB), `report` (Frictionless-shaped reports), `staging`, `commit`,
`table` and `ingest` (versions), `quality`.
"""

from zhili.lake.ingest import MODES, IngestResult, Mode, check_compatible, ingest
from zhili.lake.jsonfile import JsonlSource, JsonSource
from zhili.lake.quality import FieldQuality, Quality, freshness, measure
from zhili.lake.readers import AnySource, CsvSource, ParquetSource, detect_source
from zhili.lake.report import ValidationFailed
from zhili.lake.schema import FieldSpec, KeySpec, TableSpec, arrow_schema, parse_table_schema
from zhili.lake.source import Source
from zhili.lake.sql import SqlSource
from zhili.lake.table import CommitInfo, LakeTable
from zhili.lake.validate import Validator
from zhili.lake.xlsx import XlsxSource

__all__ = [
    "MODES",
    "AnySource",
    "CommitInfo",
    "CsvSource",
    "FieldQuality",
    "FieldSpec",
    "IngestResult",
    "JsonSource",
    "JsonlSource",
    "KeySpec",
    "LakeTable",
    "Mode",
    "ParquetSource",
    "Quality",
    "Source",
    "SqlSource",
    "TableSpec",
    "ValidationFailed",
    "Validator",
    "XlsxSource",
    "arrow_schema",
    "check_compatible",
    "detect_source",
    "freshness",
    "ingest",
    "measure",
    "parse_table_schema",
]
