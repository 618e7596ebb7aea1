"""Spark as a query engine: the same snapshots, the same SQL (transpiled), a cluster's scale.

The session is created on first use and reused (starting ``local[2]`` takes ~7 s). A
snapshot becomes a temporary view over ``spark.read.parquet(*file_uris)`` — exact for
tables written by delta-rs; ``delta-spark`` is not used because it fetches jars at run time.
SQL arrives in DuckDB's dialect and is transpiled by :mod:`zhili.query.dialect`; values are
bound as named ``args`` (Spark 3.4+), never pasted. A timeout cancels the call's job group.

Exports write the result as parquet to a temporary directory on the driver's disk and
stream it back batch by batch, so neither Spark's driver nor this process holds the whole
result (``toLocalIterator`` would convert row by row in Python).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot

from zhili.query.engine import DEFAULT_TIMEOUT, Engine
from zhili.query.messages import invalid, unavailable
from zhili.query.snapshot import Scope, SnapshotFiles

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkEngine"]

#: Settings every session gets; ``config`` passed to the engine overrides them.
DEFAULT_CONFIG: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.memory": "1g",
    # Parquet written for exports: microsecond timestamps, not the legacy INT96.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # Never a spark-warehouse directory in whatever the current directory is.
    "spark.sql.warehouse.dir": os.path.join(tempfile.gettempdir(), "zhili-spark-warehouse"),
}


def _similarity_jar() -> str | None:
    """Splink's string-similarity functions for Spark (Jaro-Winkler …), shipped inside the
    splink package: on the session's class path from the start, so verification jobs can
    run on the same session as queries (a jar cannot be added to a running driver)."""
    try:
        from splink.backends.spark import similarity_jar_location
    except ImportError:
        return None
    return str(similarity_jar_location())


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class SparkEngine(Engine):
    """PySpark, local or on a cluster.

    Args:
        master: ``spark.master``, e.g. ``local[2]`` or ``spark://host:7077``.
        config: extra Spark settings.
        timeout: default seconds per query.
    """

    name = "spark"
    dialect = "spark"

    def __init__(
        self,
        *,
        master: str = "local[2]",
        config: Mapping[str, str] | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        max_relations: int = 256,
    ) -> None:
        super().__init__(timeout=timeout, max_relations=max_relations)
        self.master = master
        self.config = {**DEFAULT_CONFIG, **(config or {})}
        self._session: SparkSession | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> SparkSession:
        """The Spark session, started on first use."""
        with self._lock:
            if self._session is None:
                self._session = self._start()
            return self._session

    def _start(self) -> SparkSession:
        try:
            from pyspark.sql import SparkSession
        except ImportError as e:
            raise unavailable(
                "query.spark_missing",
                engine="spark",
            ) from e
        if self.master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python UDFs (masking) run in worker processes: the same interpreter and packages.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = SparkSession.builder.master(self.master).appName("zhili")
        config = {**self.config}
        jar = _similarity_jar()
        if jar and "spark.jars" not in config:
            config["spark.jars"] = jar
        for key, value in config.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as e:
            raise unavailable(
                "query.spark_unavailable",
                master=self.master,
                reason=_reason(e),
            ) from e
        session.sparkContext.setLogLevel("ERROR")
        return session

    # ------------------------------------------------------------------------ primitives
    def _register(self, relation: str, files: SnapshotFiles, scope: Scope | None = None) -> None:
        if files.partition_columns:
            raise invalid(
                "query.partitioned",
                columns=", ".join(files.partition_columns),
            )
        spark = self.session
        frame: DataFrame
        if files.uris:
            frame = spark.read.option("mergeSchema", "true").parquet(*files.uris)
        else:
            frame = spark.createDataFrame(files.schema.empty_table())
        if scope is None:
            frame.select(*[frame[n] for n in files.schema.names]).createOrReplaceTempView(relation)
            return
        if scope.where:
            frame = frame.filter(sqlglot.transpile(scope.where, read="duckdb", write="spark")[0])
        masks = dict(scope.masks)
        frame.select(
            *[_spark_mask(frame[n], masks[n]).alias(n) if n in masks else frame[n]
              for n in scope.fields]
        ).createOrReplaceTempView(relation)  # fmt: skip

    def _unregister(self, relation: str) -> None:
        self.session.catalog.dropTempView(relation)

    def _run_job(self, sql: str, params: Any, timeout: float | None, action: Any) -> Any:
        """Run ``action(dataframe)`` in a job group that a watchdog cancels.

        ``cancelJobGroup`` cancels only the jobs running at that instant; a query of several
        jobs (a shuffle, a broadcast) would start its next job after one cancel and run to
        the end. So once the time is up the watchdog cancels the group again every quarter
        second until the action gives up."""
        spark = self.session
        context = spark.sparkContext
        group = f"zhili-{uuid.uuid4().hex}"
        fired = threading.Event()
        done = threading.Event()

        def watchdog() -> None:
            if done.wait(timeout):
                return
            fired.set()
            while True:
                context.cancelJobGroup(group)
                if done.wait(0.25):
                    return

        context.setJobGroup(group, "zhili query", interruptOnCancel=True)
        if timeout:
            threading.Thread(target=watchdog, name=group, daemon=True).start()
        try:
            return action(spark.sql(sql, args=params or None))
        except Exception as e:
            raise self._error(e, sql, fired.is_set(), timeout) from e
        finally:
            done.set()
            context.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]

    @staticmethod
    def _error(error: Exception, sql: str, timed_out: bool, limit: float | None) -> Exception:
        if timed_out:
            return unavailable(
                "query.timeout",
                limit=limit,
            )
        from pyspark.errors import AnalysisException, ParseException

        if isinstance(error, AnalysisException | ParseException):
            return invalid("query.sql_error", reason=_reason(error), sql=sql)
        return unavailable(
            "query.engine_error",
            reason=_reason(error),
            sql=sql,
        )

    def _execute(self, sql: str, params: Any, timeout: float | None) -> pa.Table:
        return self._run_job(sql, params, timeout, _to_arrow)

    def _stream(
        self, sql: str, params: Any, timeout: float | None, batch_size: int
    ) -> pa.RecordBatchReader:
        from pyspark.sql.pandas.types import to_arrow_schema

        spool = Path(tempfile.mkdtemp(prefix="zhili-spark-export-"))
        target = spool / "out"
        try:
            schema = self._run_job(
                sql, params, timeout, lambda frame: _write(frame, str(target), to_arrow_schema)
            )
        except BaseException:
            shutil.rmtree(spool, ignore_errors=True)
            raise

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for part in sorted(target.glob("part-*.parquet")):
                    for batch in pq.ParquetFile(part).iter_batches(batch_size=batch_size):
                        yield batch.cast(schema) if batch.schema != schema else batch
            finally:
                shutil.rmtree(spool, ignore_errors=True)

        return pa.RecordBatchReader.from_batches(schema, batches())

    def close(self) -> None:
        """Drop this engine's views; the shared Spark session keeps running."""
        with self._lock:
            session = self._session
        if session is None:
            return
        for name, _ in list(self._relations.entries.values()):
            session.catalog.dropTempView(name)
        self._relations.entries.clear()

    def stop(self) -> None:
        """Stop the Spark session (it is started again on next use)."""
        self.close()
        with self._lock:
            if self._session is not None:
                self._session.stop()
                self._session = None


def _write(frame: DataFrame, target: str, to_arrow_schema: Any) -> pa.Schema:
    frame.write.mode("overwrite").parquet(target)
    try:
        return to_arrow_schema(frame.schema, timezone="UTC")
    except TypeError:  # pyspark 3.5 takes no timezone (and always uses UTC)
        return to_arrow_schema(frame.schema)


def _to_arrow(frame: DataFrame) -> pa.Table:
    """The frame's rows as Arrow (``toArrow`` is Spark 4; 3.5 has the private collector)."""
    if hasattr(frame, "toArrow"):
        return frame.toArrow()
    batches = frame._collect_as_arrow()  # pragma: no cover - pyspark 3.5
    from pyspark.sql.pandas.types import to_arrow_schema  # pragma: no cover

    return pa.Table.from_batches(batches, to_arrow_schema(frame.schema))  # pragma: no cover


def _spark_mask(column: Any, mask_id: str) -> Any:
    """The same registered masking function, as a vectorised (Arrow-backed) pandas UDF."""
    import pandas as pd
    from pyspark.sql import functions as F

    from zhili.query.masks import lookup_mask

    fn = lookup_mask(mask_id)  # resolved here: Spark's Python workers get it pickled

    def mask(values):  # type: ignore[no-untyped-def]
        arrow = pa.array(values.astype(object).where(values.notna(), None), pa.string())
        return pd.Series(fn(arrow).to_pylist(), dtype=object)

    # real classes, not the strings postponed annotations would leave for Spark to read
    mask.__annotations__ = {"values": pd.Series, "return": pd.Series}
    udf = F.pandas_udf(mask, "string")  # type: ignore[call-overload]
    return udf(column.cast("string"))
