"""A SIGKILL at any moment leaves the old version or the new one; memory stays bounded.

Both run ingests in child processes (``lake_child.py``) on files of a million rows and
more, so they are marked slow.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from deltalake import DeltaTable
from lake_data import SCHEMA, write_big_csv, write_csv

from zhili.lake import CsvSource, LakeTable, ingest

CHILD = Path(__file__).resolve().parent / "lake_child.py"
MB = 2**20


def _start(csv: Path, table: Path, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), str(csv), str(table), *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _committed_files(table: Path) -> set[str]:
    """Every data file any version of the table added (from the JSON log)."""
    names = set()
    for entry in (table / "_delta_log").glob("*.json"):
        for line in entry.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                names.add(action["add"]["path"])
    return names


@pytest.mark.slow
def test_sigkill_leaves_the_previous_or_the_new_version(tmp_path: Path) -> None:
    rows = 1_000_000
    big = write_big_csv(tmp_path / "big.csv", copies=2)
    path = tmp_path / "table"
    table = LakeTable(path)
    ingest(CsvSource(write_csv(tmp_path / "small.csv", 1000)), SCHEMA, table)
    delays = random.Random(20251124)
    outcomes = []
    for _ in range(3):
        before, before_rows = table.version(), table.row_count()
        proc = _start(big, path, "--mode", "replace")
        time.sleep(delays.uniform(0.0, 1.8))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        version = DeltaTable(str(path)).version()
        assert version in (before, before + 1)
        expected = before_rows if version == before else rows
        assert table.row_count() == expected
        assert table.dataset().count_rows() == expected  # the log's counts match the files
        outcomes.append("old" if version == before else "new")
    # A retry after the kills succeeds and cleans what the killed ingests left behind.
    result = _finish(_start(big, path, "--mode", "replace"))
    assert result["version"] == table.version() and table.row_count() == rows
    assert list((path / "_staging").iterdir()) == []
    assert {p.name for p in path.glob("*.parquet")} <= _committed_files(path)
    assert "old" in outcomes  # at least one kill landed mid-ingest


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    runs = {}
    for name, copies in (("small", 1), ("big", 7)):
        csv = write_big_csv(tmp_path / f"{name}.csv", copies)
        proc = _start(csv, tmp_path / name, "--memory-limit", "96MB")
        result = _finish(proc)
        # Holding the file whole as Arrow text: its bytes plus a 4-byte offset per cell.
        loaded = (csv.stat().st_size + result["rows"] * 10 * 4) / MB
        runs[name] = (result["peak_mb"] - result["base_mb"], loaded)
        csv.unlink()
    (small_used, small_loaded), (big_used, big_loaded) = runs["small"], runs["big"]
    assert big_loaded > 450
    assert big_used < 0.75 * big_loaded, runs  # clearly less than loading the file
    assert big_used - small_used < 0.2 * (big_loaded - small_loaded), runs  # ~flat
