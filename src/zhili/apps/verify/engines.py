"""Where Splink runs: DuckDB in process (the default) or Spark (Splink's Spark backend on the
platform's Spark session, `zhili.query.get_engine("spark")`).

The linker speaks to a :class:`Backend`: register an Arrow table for Splink, run a statement
written in DuckDB's dialect (transpiled for Spark), read a result back as Arrow. Everything
else — settings, training, prediction — is Splink's own and the same on both, so a job gives
the same matches on either engine (a test proves it on small data).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import duckdb
import pyarrow as pa

ENGINES = ("duckdb", "spark")


class Backend(Protocol):
    """One linking run's database."""

    name: str
    db_api: Any  # Splink's DuckDBAPI or SparkAPI

    def register(self, table: pa.Table, name: str) -> Any:
        """``table`` as a Splink input named ``name``."""
        ...

    def create(self, name: str, sql: str) -> None:
        """Keep the result of a DuckDB-dialect query as table ``name`` for this run."""
        ...

    def arrow(self, sql: str) -> pa.Table:
        """The rows of a DuckDB-dialect query."""
        ...


class DuckDBBackend:
    """A private in-memory DuckDB with bounded memory that spills to a temporary directory."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        from splink import DuckDBAPI

        self.con = con
        self.db_api = DuckDBAPI(con)

    def register(self, table: pa.Table, name: str) -> Any:
        return self.db_api.register(table, dataset_display_name=name)

    def create(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE TABLE {name} AS {sql}")

    def arrow(self, sql: str) -> pa.Table:
        return self.con.sql(sql).to_arrow_table()


class SparkBackend:
    """Splink on the platform's Spark session; Splink's checkpoints go to a temporary
    directory removed after the run, and the tables it made are dropped."""

    name = "spark"

    def __init__(self, session: Any, checkpoints: str) -> None:
        from splink import SparkAPI

        session.sparkContext.setCheckpointDir(checkpoints)
        self.session = session
        self.db_api = SparkAPI(spark_session=session, num_partitions_on_repartition=4)
        self._views: list[str] = []

    def close(self) -> None:
        """Drop what this run made (Splink's tables and our views)."""
        for name in self._views:
            self.session.catalog.dropTempView(name)
        self.db_api.delete_tables_created_by_splink_from_db()

    def register(self, table: pa.Table, name: str) -> Any:
        frame = self.session.createDataFrame(table)  # Arrow in: types and NULLs kept
        self._views.append(name)  # Splink keeps each input as a view of its name
        return self.db_api.register(frame, dataset_display_name=name)

    def create(self, name: str, sql: str) -> None:
        # A cached temporary view: a CREATE TABLE would write a managed table into the
        # current directory's spark-warehouse.
        self.session.sql(_spark_sql(sql)).cache().createOrReplaceTempView(name)
        self._views.append(name)

    def arrow(self, sql: str) -> pa.Table:
        return self.session.sql(_spark_sql(sql)).toArrow()


def _spark_sql(sql: str) -> str:
    from zhili.query.dialect import duckdb_to_spark

    return duckdb_to_spark(sql)


@contextmanager
def backend(engine: str) -> Iterator[Backend]:
    """A fresh backend of ``engine`` for one run (`ENGINES`)."""
    from zhili.lake.validate import default_memory_limit

    with tempfile.TemporaryDirectory(prefix="zhili-verify-") as scratch:
        if engine == "spark":
            from zhili.query import get_engine

            spark = SparkBackend(get_engine("spark").session, scratch)  # type: ignore[attr-defined]
            try:
                yield spark
            finally:
                spark.close()
            return
        con = duckdb.connect(
            ":memory:", config={"memory_limit": default_memory_limit(), "temp_directory": scratch}
        )
        try:
            yield DuckDBBackend(con)
        finally:
            con.close()
