"""One ingest in a fresh process, for the crash and memory tests (not a test itself).

    python tests/lake/lake_child.py CSV TABLE [--mode replace] [--memory-limit 1GB]

Prints ``ready`` once imports are done (so a test can time a kill from the start of the
real work), then one JSON line: version, rows, and the peak resident memory of this
process before and after the ingest (``resource.getrusage``, MiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from lake_data import SCHEMA

from zhili.lake import CsvSource, LakeTable, ingest


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("csv")
    parser.add_argument("table")
    parser.add_argument("--mode", default="replace")
    parser.add_argument("--memory-limit", default="1GB")
    args = parser.parse_args()
    base = peak_mb()
    print("ready", flush=True)
    result = ingest(
        CsvSource(args.csv),
        SCHEMA,
        LakeTable(args.table),
        args.mode,
        memory_limit=args.memory_limit,
    )
    print(
        json.dumps(
            {"version": result.version, "rows": result.rows, "base_mb": base, "peak_mb": peak_mb()}
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
