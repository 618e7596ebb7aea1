"""Test data for the lake: the example population schema and a vectorised CSV generator.

Shared by the lake tests, their subprocess children and the ingest benchmark
(``tests/lake/bench_lake_ingest.py``). Rows are deterministic from the row index, ID
numbers are valid (GB 11643 check digit, real birth dates) and unique for any index below
32 850 000, and files are written in chunks so generating 2M rows needs little memory.
"""

from __future__ import annotations

import codecs
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

SCHEMA: dict[str, Any] = {
    "fields": [
        {
            "name": "id_number",
            "type": "string",
            "format": "cn-id",
            "constraints": {"required": True, "unique": True},
            "x-sensitivity": "sensitive_personal",
        },
        {"name": "name", "type": "string", "constraints": {"required": True, "maxLength": 50}},
        {"name": "birth_date", "type": "date"},
        {"name": "age", "type": "integer", "constraints": {"minimum": 0, "maximum": 150}},
        {"name": "sex", "type": "string", "constraints": {"enum": ["男", "女"]}},
        {"name": "phone", "type": "string", "constraints": {"pattern": "1[3-9][0-9]{9}"}},
        {"name": "income", "type": "number"},
        {"name": "alive", "type": "boolean"},
        {"name": "registered_at", "type": "datetime"},
        {"name": "district", "type": "string"},
    ],
    "primaryKey": ["id_number"],
    "missingValues": [""],
}
HEADER = [f["name"] for f in SCHEMA["fields"]]

WEIGHTS = np.array((7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), dtype=np.int64)
CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
REGIONS = np.array([120101, 120102, 120103, 120104, 110105, 310101], dtype=np.int64)
DAYS = 32_850  # birth dates 1935-01-01 + 0..32849 days
DAY0 = (dt.date(1935, 1, 1) - dt.date(1970, 1, 1)).days
SURNAMES = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"))
GIVEN = np.array(
    ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰"]
)
DISTRICTS = np.array(["和平区", "河东区", "河西区", "南开区", "河北区", "红桥区"])


def check_char(first17: str) -> str:
    """GB 11643 check character of 17 digits."""
    return chr(CHECK[sum(int(c) * int(w) for c, w in zip(first17, WEIGHTS, strict=True)) % 11])


def cn_id(first17: str) -> str:
    return first17 + check_char(first17)


def _ids(index: np.ndarray) -> pa.Array:
    births = np.datetime64("1935-01-01") + (index % DAYS)
    year = births.astype("datetime64[Y]").astype(np.int64) + 1970
    month = births.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (births - births.astype("datetime64[M]")).astype(np.int64) + 1
    seq = (index // DAYS) % 1000
    region = REGIONS[(index // (DAYS * 1000)) % len(REGIONS)]
    value = ((region * 10_000 + year) * 10_000 + month * 100 + day) * 1000 + seq
    digits = np.empty((len(index), 17), dtype=np.int64)
    rest = value
    for pos in range(16, -1, -1):
        rest, digits[:, pos] = np.divmod(rest, 10)
    check = CHECK[(digits @ WEIGHTS) % 11].view("S1").astype(str)
    return pc.binary_join_element_wise(pa.array(value).cast(pa.string()), pa.array(check), "")


def people(start: int, n: int) -> pa.Table:
    """Rows ``start`` … ``start + n - 1`` as a table of strings (what a CSV holds)."""
    index = np.arange(start, start + n, dtype=np.int64)
    born = (pa.array(index % DAYS + DAY0, pa.int32()).cast(pa.date32())).cast(pa.string())
    year = pa.array(np.datetime64("1935-01-01") + (index % DAYS)).cast(pa.date32())
    age = pc.subtract(2025, pc.year(year)).cast(pa.string())
    rng = np.random.default_rng(start)
    phone = pc.utf8_lpad(pa.array(rng.integers(0, 10**9, n)).cast(pa.string()), 9, "0")
    return pa.table(
        {
            "id_number": _ids(index),
            "name": pc.binary_join_element_wise(
                pa.array(SURNAMES).take(index % len(SURNAMES)),
                pa.array(GIVEN).take(index % len(GIVEN)),
                "",
            ),
            "birth_date": born,
            "age": age,
            "sex": pa.array(np.where((index // DAYS) % 2 == 1, "男", "女")),
            "phone": pc.binary_join_element_wise("13", phone, ""),
            "income": pa.array(np.round(rng.random(n) * 20_000, 2)).cast(pa.string()),
            "alive": pa.array(np.where(index % 10 == 0, "false", "true")),
            "registered_at": pc.binary_join_element_wise(born, "T08:30:00", ""),
            "district": pa.array(DISTRICTS).take(index % len(DISTRICTS)),
        }
    )


def write_csv(
    path: Path,
    rows: int,
    *,
    start: int = 0,
    encoding: str = "utf-8",
    chunk: int = 250_000,
) -> Path:
    """A population CSV of ``rows`` rows; ``encoding`` ``utf-8-sig`` adds a BOM."""
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    with open(path, "wb") as out:
        if encoding == "utf-8-sig":
            out.write(codecs.BOM_UTF8)
        for offset in range(start, start + rows, chunk):
            table = people(offset, min(chunk, start + rows - offset))
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink, options)
            options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
            data = sink.getvalue().to_pybytes()
            if encoding not in ("utf-8", "utf-8-sig"):
                data = data.decode("utf-8").encode(encoding)
            out.write(data)
    return path


#: Region codes whose GB 11643 weighted digit sum equals 120101's (mod 11): swapping one
#: for another keeps an ID number's check character valid.
SAME_CHECK_REGIONS = ("120101", "120128", "120136", "120144", "120152", "120160", "120179")


def write_big_csv(path: Path, copies: int, chunk_rows: int = 500_000) -> Path:
    """``copies × chunk_rows`` rows fast: one generated chunk written ``copies`` times with
    the ID numbers' region code swapped (still valid and unique). For memory tests."""
    if not 1 <= copies <= len(SAME_CHECK_REGIONS) or chunk_rows > DAYS * 1000:
        raise ValueError("at most 7 copies of chunks within the first region")
    sink = pa.BufferOutputStream()
    pacsv.write_csv(people(0, chunk_rows), sink, pacsv.WriteOptions(quoting_style="none"))
    header, body = sink.getvalue().to_pybytes().split(b"\n", 1)
    body = b"\n" + body.rstrip(b"\n")
    with open(path, "wb") as out:
        out.write(header)
        for region in SAME_CHECK_REGIONS[:copies]:
            out.write(body.replace(b"\n120101", b"\n" + region.encode()))
        out.write(b"\n")
    return path
