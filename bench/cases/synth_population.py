"""Demo city build: residents per second of zhili's vectorised generator against Faker
(zh_CN) producing the same kind of record one at a time, plus `zhili demo --no-serve`
end to end for 100k and 1M people (time and peak memory)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import Case, Result


def _faker_rows_per_s(n: int) -> float:
    from faker import Faker

    fake = Faker("zh_CN")
    Faker.seed(1)
    start = time.perf_counter()
    for _ in range(n):
        fake.ssn()
        fake.name()
        fake.date_of_birth(minimum_age=0, maximum_age=100)
        fake.address()
        fake.phone_number()
    return n / (time.perf_counter() - start)


def _zhili_rows_per_s(n: int) -> tuple[float, int]:
    from zhili.synth.city import build_city
    from zhili.synth.population import write_population

    city = build_city()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        summary = write_population(Path(tmp) / "pop", n, 7, city)
        elapsed = time.perf_counter() - start
    return n / elapsed, summary.bytes


def _demo(people: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of `zhili demo --no-serve` in a fresh process."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ZHILI_HOME": home}
        env.pop("ZHILI_DATABASE_URL", None)
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "zhili.cli.main", "demo", "--no-serve", "--people", str(people)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"zhili demo failed: {proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return elapsed, peak


def run(quick: bool) -> Result:
    n = 100_000 if quick else 1_000_000
    faker_n = 2_000 if quick else 20_000
    zhili_rate, size = _zhili_rows_per_s(n)
    faker_rate = _faker_rows_per_s(faker_n)
    metrics: dict[str, object] = {
        "zhili_rows": n,
        "zhili_rows_per_s": round(zhili_rate),
        "parquet_bytes_per_row": round(size / n, 1),
        "faker_rows": faker_n,
        "faker_rows_per_s": round(faker_rate),
    }
    sizes = (10_000,) if quick else (100_000, 1_000_000)
    for people in sizes:
        seconds, peak = _demo(people)
        metrics[f"demo_{people}_seconds"] = round(seconds, 1)
        metrics[f"demo_{people}_peak_rss_mib_so_far"] = round(peak)
    return Result(
        metrics=metrics,
        ratio=zhili_rate / faker_rate,
        ratio_label="zhili rows/s ÷ Faker rows/s",
        goal="`zhili demo` for 1M people in well under a minute, memory not growing with N",
        goal_met=None if quick else metrics.get("demo_1000000_seconds", 1e9) < 60,  # type: ignore[operator]
    )


CASE = Case(
    name="synth_population",
    title="Demo city: resident generation and `zhili demo` build",
    baseline="Faker zh_CN, one record at a time",
    run=run,
)
