"""The demo city's residents (常住人口): streamed in Arrow batches, written as Parquet parts.

Rows are generated in fixed blocks of `BLOCK_ROWS`, each from its own named random
stream, and only then cut into the caller's batches: row ``i`` is the same person whatever
the batch size, and memory stays bounded by one batch whatever ``n`` is. Identity numbers
are unique by construction — a counter per (region code, birth date, sex) hands out
sequence numbers through a per-key permutation — so no set of seen numbers is kept.

Later scenario modules (deaths, pensioners, grid events…) regenerate the same people with
`iter_population_batches` and the same seed, and draw their own facts from their own
`zhili.synth.rng.stream`, which leaves these rows untouched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from numpy.typing import NDArray

from zhili.synth import demography, idcard, names
from zhili.synth.city import City
from zhili.synth.regions import (
    MIGRANT_FIRST_BIRTH_YEAR,
    MIGRANT_ORIGINS,
    district_spec,
    id_region_code,
)
from zhili.synth.rng import stream
from zhili.synth.sampling import choice, cumulative

#: The day the register is extracted: ages and registration times are as of this date.
DEFAULT_AS_OF = dt.date(2026, 11, 24)
#: Rows per generation block (the unit of reproducibility, not the output batch size).
BLOCK_ROWS = 50_000

POPULATION_SCHEMA = pa.schema(
    [
        pa.field("id_number", pa.string(), nullable=False),  # 公民身份号码, GB 11643
        pa.field("name", pa.string(), nullable=False),  # 姓名
        pa.field("sex", pa.string(), nullable=False),  # 性别: 男 / 女
        pa.field("sex_code", pa.int8(), nullable=False),  # GB/T 2261.1: 1 男, 2 女
        pa.field("birth_date", pa.date32(), nullable=False),  # 出生日期
        pa.field("ethnicity", pa.string(), nullable=False),  # 民族, e.g. 汉族
        pa.field("ethnicity_code", pa.string(), nullable=False),  # GB/T 3304, e.g. 01
        pa.field("district_code", pa.string(), nullable=False),  # 区 (6 digits)
        pa.field("street_code", pa.string(), nullable=False),  # 街道/镇 (9 digits)
        pa.field("community_code", pa.string(), nullable=False),  # 社区/村 (12 digits)
        pa.field("grid_code", pa.string(), nullable=False),  # 网格 (15 digits)
        pa.field("address", pa.string(), nullable=False),  # 居住地址
        pa.field("phone", pa.string(), nullable=True),  # 联系电话, 11-digit mobile
        pa.field("registered_at", pa.timestamp("us", tz="UTC"), nullable=False),  # 登记时间
    ],
    metadata={"zhili.synth": "population", "zhili.synth.version": "1"},
)

_SEQ_SLOTS = 499  #: sequence slots per (region, birth date, sex); prime, see _Sequences
_SEQ_STRIDE = 211
_MIGRANT_SHARE = 0.22  #: of adults born since MIGRANT_FIRST_BIRTH_YEAR
_OTHER_DISTRICT_SHARE = 0.12  #: natives whose number comes from another district
#: Mobile number segments (号段) of the three carriers.
_SEGMENTS = """
130 131 132 133 134 135 136 137 138 139 150 151 152 153 155 156 157 158 159 166 173 175 176 177
178 180 181 182 183 184 185 186 187 188 189 191 193 195 198 199
"""
_MOBILE_PREFIXES = np.array(_SEGMENTS.split(), dtype=np.int64)
#: Share without a phone on record, by age band (children, teenagers, adults, 75+).
_PHONE_MISSING = ((12, 0.9), (18, 0.4), (75, 0.04), (999, 0.3))
_FLOORS = np.array([6, 6, 7, 11, 18, 26, 33])
_UTC_OFFSET = np.timedelta64(8, "h")  # Asia/Shanghai has no daylight saving


@dataclass(frozen=True)
class PopulationSummary:
    """What `write_population` wrote: enough to check a lake load against."""

    people: int
    seed: int
    as_of: str
    files: tuple[str, ...]
    bytes: int
    males: int
    females: int
    min_birth: str | None
    max_birth: str | None
    by_district: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = asdict(self)
        out["files"] = list(self.files)
        return out


class _CityIndex:
    """The city as arrays, so a block of residents is placed with a few vector ops."""

    def __init__(self, city: City, as_of: dt.date) -> None:
        grids, comms = city.grids, city.communities
        comm_at = {c.code: k for k, c in enumerate(comms)}
        street_at = {s.code: k for k, s in enumerate(city.streets)}
        district_at = {d.code: k for k, d in enumerate(city.districts)}
        self.grid_cdf = cumulative([g.population_weight for g in grids])
        self.grid_comm = np.array([comm_at[g.parent_code or ""] for g in grids], dtype=np.int64)
        self.comm_street = np.array([street_at[c.parent_code or ""] for c in comms], dtype=np.int64)
        self.street_district = np.array(
            [district_at[s.parent_code or ""] for s in city.streets], dtype=np.int64
        )
        self.comm_district = self.street_district[self.comm_street]
        self.comm_village = np.array([c.name.endswith("村") for c in comms])
        self.grid_codes = pa.array([g.code for g in grids], pa.string())
        self.comm_codes = pa.array([c.code for c in comms], pa.string())
        self.street_codes = pa.array([s.code for s in city.streets], pa.string())
        self.district_codes = pa.array([d.code for d in city.districts], pa.string())
        self.comm_prefix = pa.array([city.full_name(c.code) for c in comms], pa.string())
        self.district_cdf = cumulative([d.population_weight for d in city.districts])
        # Identity-number region codes: natives by (district, birth year), then movers.
        self.first_year = as_of.year - demography.AGE_MAX - 1
        years = range(self.first_year, as_of.year + 1)
        native = [[id_region_code(district_spec(d.code), y) for y in years] for d in city.districts]
        codes = sorted({c for row in native for c in row})
        self.region_codes = np.array(
            codes + [code for code, _, _, _ in MIGRANT_ORIGINS], dtype=np.int64
        )
        at = {c: k for k, c in enumerate(codes)}
        self.native_region = np.array([[at[c] for c in row] for row in native], dtype=np.int64)
        self.migrant_base = len(codes)
        self.migrant_cdf = cumulative([share for _, _, _, share in MIGRANT_ORIGINS])


class _Sequences:
    """Hands out sequence numbers so (region, birth date, sex, sequence) never repeats.

    The k-th person of a key gets slot ``(k * 211 + offset(key)) mod 499`` — a permutation
    of the 499 slots, so numbers look scattered yet stay unique; men get ``2 slot + 1``
    (odd), women ``2 slot + 2`` (even). One int16 counter per key: a few MB, whatever n.
    """

    def __init__(self, regions: int, days: int, seed: int) -> None:
        self.days = days
        self.used = np.zeros(regions * days * 2, dtype=np.int16)
        self.salt = np.uint64(stream(seed, "population", "sequences").integers(0, 2**62))

    def allocate(
        self, region: NDArray[np.int64], day: NDArray[np.int64], female: NDArray[np.bool_]
    ) -> NDArray[np.int64]:
        key = (region * self.days + day) * 2 + female
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        counts = np.diff(np.r_[starts, len(ordered)])
        firsts = ordered[starts]
        k_ordered = np.repeat(self.used[firsts].astype(np.int64), counts) + (
            np.arange(len(ordered)) - np.repeat(starts, counts)
        )
        if len(k_ordered) and k_ordered.max() >= _SEQ_SLOTS:
            raise OverflowError(
                "more than 499 residents share a region, birth date and sex: "
                "the city is too small for this many people"
            )
        self.used[firsts] += counts.astype(np.int16)
        k = np.empty_like(k_ordered)
        k[order] = k_ordered
        mixed = (key.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + self.salt) >> np.uint64(33)
        slot = (k * _SEQ_STRIDE + (mixed % np.uint64(_SEQ_SLOTS)).astype(np.int64)) % _SEQ_SLOTS
        return 2 * slot + 1 + female.astype(np.int64)


def _digits(values: NDArray[np.int64]) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _generate_block(
    block: int,
    rows: int,
    seed: int,
    as_of: dt.date,
    index: _CityIndex,
    people: demography.AgeSexTable,
    sequences: _Sequences,
) -> pa.RecordBatch:
    """Rows ``block * BLOCK_ROWS ...`` — each attribute from its own stream."""

    def rng(part: str) -> np.random.Generator:
        return stream(seed, "population", block, part)

    # Where they live.
    grid = choice(rng("place"), index.grid_cdf, rows)
    comm = index.grid_comm[grid]
    street = index.comm_street[comm]
    district = index.comm_district[comm]

    # Who they are.
    r = rng("person")
    sex, age_days = people.draw(r, rows)
    ethnicity = demography.draw_ethnicity(r, rows)
    today = np.datetime64(as_of, "D")
    birth = today - age_days
    birth_year = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    age = demography.ages_at(as_of, birth)
    female = sex == 2
    full_names = names.draw_names(rng("names"), sex, birth_year)

    # Identity number: natives carry their (or another) district's code of their birth
    # year, adults who moved in carry their home county's code.
    r = rng("origin")
    mover = (birth_year >= MIGRANT_FIRST_BIRTH_YEAR) & (age >= 16)
    mover &= r.random(rows) < _MIGRANT_SHARE
    elsewhere = r.random(rows) < _OTHER_DISTRICT_SHARE
    origin = np.where(elsewhere, choice(r, index.district_cdf, rows), district)
    region = index.native_region[origin, birth_year - index.first_year]
    region = np.where(mover, index.migrant_base + choice(r, index.migrant_cdf, rows), region)
    seq = sequences.allocate(region, age_days, female)
    digits = idcard.id_digits(index.region_codes[region], birth, seq)
    ids = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(18), rows, [None, pa.py_buffer(np.ascontiguousarray(digits))]
    ).cast(pa.string())

    # Address: flats in town, house numbers in villages.
    r = rng("address")
    building = _digits(r.integers(1, 41, rows))
    unit = _digits(r.integers(1, 7, rows))
    floor = (r.random(rows) * _FLOORS[r.integers(0, len(_FLOORS), rows)]).astype(np.int64) + 1
    room = _digits(floor * 100 + r.integers(1, 5, rows))
    house = _digits(r.integers(1, 301, rows))
    prefix = index.comm_prefix.take(pa.array(comm))
    flat = pc.binary_join_element_wise(prefix, building, "号楼", unit, "单元", room, "")
    village_house = pc.binary_join_element_wise(prefix, house, "号", "")
    address = pc.if_else(pa.array(index.comm_village[comm]), village_house, flat)

    # Phone, missing for most children and some of the old.
    r = rng("contact")
    number = _MOBILE_PREFIXES[r.integers(0, len(_MOBILE_PREFIXES), rows)] * 10**8 + r.integers(
        0, 10**8, rows
    )
    bands, shares = zip(*_PHONE_MISSING, strict=True)
    missing = r.random(rows) < np.asarray(shares)[np.searchsorted(bands, age, side="right")]
    phone = pc.cast(pa.array(number, mask=missing), pa.string())

    # Registration: natives a few weeks after birth, movers on arrival (since 2000, adult).
    r = rng("registry")
    since_2000 = (today - np.datetime64("2000-01-01")).astype(np.int64)
    adult_days = np.maximum(age_days - 16 * 365, 0)
    arrival = today - (r.random(rows) * np.minimum(adult_days, since_2000)).astype(np.int64)
    at_birth = np.minimum(birth + r.integers(3, 61, rows), today)
    day = np.where(mover, arrival, at_birth)
    workday = np.busday_offset(day, 0, roll="forward")
    day = np.where(workday > today, np.busday_offset(day, 0, roll="backward"), workday)
    seconds = r.integers(9 * 3600, 17 * 3600, rows).astype("timedelta64[s]")
    registered = (day.astype("datetime64[s]") + seconds - _UTC_OFFSET).astype("datetime64[us]")

    eth_codes = pa.array([code for code, _, _ in demography.ETHNICITIES], pa.string())
    eth_names = pa.array([name for _, name, _ in demography.ETHNICITIES], pa.string())
    eth = pa.array(ethnicity)
    return pa.RecordBatch.from_arrays(
        [
            ids,
            full_names,
            pa.array(np.where(female, "女", "男"), pa.string()),
            pa.array(sex, pa.int8()),
            pa.array(birth, pa.date32()),
            eth_names.take(eth),
            eth_codes.take(eth),
            index.district_codes.take(pa.array(district)),
            index.street_codes.take(pa.array(street)),
            index.comm_codes.take(pa.array(comm)),
            index.grid_codes.take(pa.array(grid)),
            address,
            phone,
            pa.array(registered, pa.timestamp("us", tz="UTC")),
        ],
        schema=POPULATION_SCHEMA,
    )


def iter_population_batches(
    n: int,
    seed: int,
    city: City,
    *,
    batch_size: int = 200_000,
    as_of: dt.date = DEFAULT_AS_OF,
) -> Iterator[pa.RecordBatch]:
    """``n`` residents in batches of ``batch_size`` rows (the last may be shorter).

    The rows depend on ``seed``, ``city`` and ``as_of`` only: another batch size cuts the
    same rows differently, and a larger ``n`` extends a smaller one (row ``i`` is the same
    person for every ``n > i``).
    """
    if n < 0 or batch_size < 1:
        raise ValueError("n must be >= 0 and batch_size >= 1")
    index = _CityIndex(city, as_of)
    people = demography.AgeSexTable(as_of)
    sequences = _Sequences(len(index.region_codes), people.max_days, seed)
    pending: list[pa.RecordBatch] = []
    held = 0
    for block, start in enumerate(range(0, n, BLOCK_ROWS)):
        # Always a whole block, cut afterwards: the first rows of a larger n are the same.
        rows = min(BLOCK_ROWS, n - start)
        whole = _generate_block(block, BLOCK_ROWS, seed, as_of, index, people, sequences)
        pending.append(whole if rows == BLOCK_ROWS else whole.slice(0, rows))
        held += rows
        while held >= batch_size:
            joined = pa.Table.from_batches(pending)
            yield joined.slice(0, batch_size).combine_chunks().to_batches()[0]
            pending = joined.slice(batch_size).to_batches()
            held -= batch_size
    if held:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def write_population(
    out_dir: Path,
    n: int,
    seed: int,
    city: City,
    batch_size: int = 200_000,
    progress: Callable[[int], None] | None = None,
    *,
    rows_per_file: int = 1_000_000,
    as_of: dt.date = DEFAULT_AS_OF,
) -> PopulationSummary:
    """Write ``n`` residents to ``out_dir/part-00000.parquet`` … (zstd), one row group per
    batch and at most ``rows_per_file`` rows per file; ``progress`` gets the rows written
    so far after each batch. Same arguments, same bytes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.glob("part-*.parquet")):
        raise FileExistsError(f"{out_dir} already holds population parts")
    files: list[Path] = []
    writer: pq.ParquetWriter | None = None
    in_file = done = males = 0
    by_district: dict[str, int] = {}
    min_birth: dt.date | None = None
    max_birth: dt.date | None = None
    try:
        for batch in iter_population_batches(n, seed, city, batch_size=batch_size, as_of=as_of):
            males += int(pc.sum(pc.equal(batch["sex_code"], 1)).as_py() or 0)
            for item in pc.value_counts(batch["district_code"]).to_pylist():
                by_district[item["values"]] = by_district.get(item["values"], 0) + item["counts"]
            lo, hi = pc.min_max(batch["birth_date"]).values()
            min_birth = lo.as_py() if min_birth is None else min(min_birth, lo.as_py())
            max_birth = hi.as_py() if max_birth is None else max(max_birth, hi.as_py())
            offset = 0
            while offset < batch.num_rows:
                if writer is None or in_file >= rows_per_file:
                    if writer is not None:
                        writer.close()
                    files.append(out_dir / f"part-{len(files):05d}.parquet")
                    writer = pq.ParquetWriter(files[-1], POPULATION_SCHEMA, compression="zstd")
                    in_file = 0
                take = min(batch.num_rows - offset, rows_per_file - in_file)
                writer.write_batch(batch.slice(offset, take))
                in_file += take
                offset += take
            done += batch.num_rows
            if progress is not None:
                progress(done)
    finally:
        if writer is not None:
            writer.close()
    return PopulationSummary(
        people=done,
        seed=seed,
        as_of=as_of.isoformat(),
        files=tuple(f.name for f in files),
        bytes=sum(f.stat().st_size for f in files),
        males=males,
        females=done - males,
        min_birth=min_birth.isoformat() if min_birth else None,
        max_birth=max_birth.isoformat() if max_birth else None,
        by_district=dict(sorted(by_district.items())),
    )
