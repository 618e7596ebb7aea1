"""A database query as a source: SQLAlchemy with server-side cursors, fetched in batches.

``stream_results=True`` asks the driver for a server-side cursor (PostgreSQL, MySQL), so
the result is never held whole in memory; drivers without one (SQLite) stream anyway.
Values are turned into text like every other source so one validator serves all.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pyarrow as pa

from zhili.lake.report import Report, source_error
from zhili.lake.source import SourceProblem, batch_from_rows, reader_schema, row_numbers, with_rows


@dataclass(frozen=True)
class SqlSource:
    """Rows of ``query`` (a SQL text with ``:name`` parameters) on the database at ``url``."""

    url: str
    query: str
    params: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "sql"

    def describe(self) -> str:
        from sqlalchemy.engine import make_url

        return f"{self.kind}:{make_url(self.url).render_as_string(hide_password=True)}"

    def batches(
        self,
        batch_size: int = 100_000,
        *,
        problems: Report | None = None,
        fields: Sequence[str] | None = None,
    ) -> pa.RecordBatchReader:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import SQLAlchemyError

        engine = create_engine(self.url)
        try:
            connection = engine.connect()
            result = connection.execution_options(
                stream_results=True, yield_per=batch_size
            ).execute(text(self.query), dict(self.params))
        except SQLAlchemyError as exc:
            engine.dispose()
            detail = str(exc).splitlines()[0]
            raise SourceProblem(
                source_error(detail, f"The query failed: {detail}", f"查询执行失败：{detail}")
            ) from None
        labels = list(result.keys())

        def generate() -> Iterator[pa.RecordBatch]:
            seen = 0
            try:
                for part in result.partitions(batch_size):
                    columns = [list(c) for c in zip(*part, strict=True)]
                    batch = batch_from_rows(labels, columns)
                    if problems is not None:
                        batch = with_rows(batch, row_numbers(seen, batch.num_rows))
                    seen += batch.num_rows
                    yield batch
            finally:
                result.close()
                connection.close()
                engine.dispose()

        return pa.RecordBatchReader.from_batches(
            reader_schema(labels, problems is not None), generate()
        )
