"""Residents: valid unique identity numbers, plausible people, determinism, bounded memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric

from zhili.synth import demography
from zhili.synth.city import City, build_city
from zhili.synth.population import (
    DEFAULT_AS_OF,
    POPULATION_SCHEMA,
    _Sequences,
    iter_population_batches,
    write_population,
)

SEED = 20261124
N = 1_000_000
WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])


@pytest.fixture(scope="module")
def city() -> City:
    return build_city()


@pytest.fixture(scope="module")
def people(city: City) -> pa.Table:
    batches = list(iter_population_batches(N, SEED, city))
    assert all(b.schema.equals(POPULATION_SCHEMA, check_metadata=True) for b in batches)
    assert [b.num_rows for b in batches] == [200_000] * 5
    return pa.Table.from_batches(batches)


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False)


def _ascii(column: pa.ChunkedArray, width: int) -> np.ndarray:
    """Fixed-width strings as an ``(n, width)`` array of byte values, without copies per row."""
    arr = column.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], np.int32)[arr.offset : arr.offset + len(arr) + 1]
    assert (np.diff(offsets) == width).all()
    data = np.frombuffer(arr.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return data.reshape(len(arr), width)


def test_a_million_identity_numbers_are_unique_and_well_formed(people: pa.Table) -> None:
    raw = _ascii(people["id_number"], 18)
    digits = raw[:, :17].astype(np.int64) - ord("0")
    assert ((digits >= 0) & (digits <= 9)).all()
    assert pc.count_distinct(people["id_number"]).as_py() == N
    check = np.frombuffer(b"10X98765432", np.uint8)[(digits @ WEIGHTS) % 11]
    assert (check == raw[:, 17]).all()
    ymd = digits[:, 6:14] @ (10 ** np.arange(7, -1, -1))
    born = _column(people, "birth_date").astype("datetime64[D]")
    year = born.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (born.astype("datetime64[M]") - born.astype("datetime64[Y]")).astype(np.int64) + 1
    day = (born - born.astype("datetime64[M]")).astype(np.int64) + 1
    assert (ymd == year * 10_000 + month * 100 + day).all()
    sex = _column(people, "sex_code")
    assert ((digits[:, 16] % 2 == 1) == (sex == 1)).all()
    assert ((sex == 1) == (_column(people, "sex") == "男")).all()
    assert set(pc.unique(people["sex"]).to_pylist()) == {"男", "女"}


def test_stdnum_accepts_a_sample(people: pa.Table) -> None:
    rng = np.random.default_rng(1)
    sample = _column(people, "id_number")[rng.choice(N, 20_000, replace=False)]
    assert all(ric.is_valid(s) for s in sample)


def test_movers_and_natives_carry_plausible_region_codes(people: pa.Table) -> None:
    ids = _column(people, "id_number").astype("U18")
    region = np.strings.slice(ids, 0, 6)
    native = np.strings.startswith(region, "12")
    assert 0.75 < native.mean() < 0.95
    same = region == _column(people, "district_code")
    assert 0.45 < same.mean() < 0.85  # former counties and movers carry other codes


def test_age_sex_structure_is_plausible(people: pa.Table) -> None:
    born = _column(people, "birth_date").astype("datetime64[D]")
    age = demography.ages_at(DEFAULT_AS_OF, born)
    assert age.min() == 0 and age.max() == 100
    assert 0.08 < (age < 15).mean() < 0.16
    assert 0.18 < (age >= 60).mean() < 0.30
    assert 36 <= np.median(age) <= 48
    male = _column(people, "sex_code") == 1
    assert 0.49 < male.mean() < 0.53
    assert male[age < 30].mean() > 0.51  # boys outnumber girls at birth
    assert male[age >= 85].mean() < 0.42  # women live longer
    counts = np.bincount(age, minlength=101)
    assert counts[55:65].mean() > 1.5 * counts[0:5].mean()  # the 1960s boom vs the 2020s


def test_names_ethnicity_and_phone(people: pa.Table) -> None:
    names = _column(people, "name")
    lengths = np.strings.str_len(names.astype(str))
    assert lengths.min() >= 2 and lengths.max() <= 4
    surname = np.strings.slice(names.astype(str), 0, 1)
    top = {s: (surname == s).mean() for s in "王李张刘"}
    assert all(0.05 < share < 0.09 for share in top.values())
    assert np.strings.startswith(names.astype(str), "欧阳").sum() > 100
    dup = pc.value_counts(people["name"]).field("counts").to_numpy()
    assert (dup > 1).sum() > 1_000  # common names repeat, as in a real register
    han = _column(people, "ethnicity") == "汉族"
    assert 0.95 < han.mean() < 0.99
    assert (_column(people, "ethnicity_code")[han] == "01").all()
    phone = people["phone"]
    missing = phone.null_count / N
    assert 0.05 < missing < 0.30
    present = pc.drop_null(phone).to_numpy(zero_copy_only=False).astype("U11")
    assert (np.strings.str_len(present) == 11).all()
    assert np.isin(np.strings.slice(present, 0, 2), ["13", "15", "16", "17", "18", "19"]).all()


def test_places_and_addresses_agree_with_the_city(people: pa.Table, city: City) -> None:
    grid = _column(people, "grid_code").astype("U15")
    comm = _column(people, "community_code").astype("U12")
    street = _column(people, "street_code").astype("U9")
    district = _column(people, "district_code").astype("U6")
    assert (np.strings.slice(grid, 0, 12) == comm).all()
    assert (np.strings.slice(comm, 0, 9) == street).all()
    assert (np.strings.slice(street, 0, 6) == district).all()
    assert set(np.unique(grid)) <= {g.code for g in city.grids}
    expected = np.array([d.population_weight for d in city.districts]) * N
    got = np.array([(district == d.code).sum() for d in city.districts])
    assert np.abs(got / expected - 1).max() < 0.03
    address = _column(people, "address")
    for k in np.random.default_rng(2).choice(N, 500, replace=False):
        prefix = city.full_name(comm[k])
        assert address[k].startswith(prefix)
        rest = address[k][len(prefix) :]
        assert rest.endswith("号") if prefix.endswith("村") else ("号楼" in rest and "单元" in rest)


def test_registration_follows_birth_on_working_days(people: pa.Table) -> None:
    local = _column(people, "registered_at").astype("datetime64[s]").astype(
        "datetime64[s]"
    ) + np.timedelta64(8, "h")
    day = local.astype("datetime64[D]")
    born = _column(people, "birth_date").astype("datetime64[D]")
    assert (day >= born).all()
    assert (day <= np.datetime64(DEFAULT_AS_OF)).all()
    assert np.is_busday(day).all()
    hours = (local - day).astype("timedelta64[h]").astype(np.int64)
    assert hours.min() >= 9 and hours.max() < 17


def test_rows_do_not_depend_on_batch_size(city: City) -> None:
    a = pa.Table.from_batches(iter_population_batches(120_000, 3, city, batch_size=50_000))
    b = pa.Table.from_batches(iter_population_batches(120_000, 3, city, batch_size=35_000))
    assert a.equals(b)
    prefix = pa.Table.from_batches(iter_population_batches(70_000, 3, city, batch_size=70_000))
    assert prefix.equals(a.slice(0, 70_000))  # more people extend, never change, fewer
    other = pa.Table.from_batches(iter_population_batches(1_000, 4, city))
    assert not other["id_number"].equals(a.slice(0, 1_000)["id_number"])


def test_same_seed_same_bytes(tmp_path: Path, city: City) -> None:
    seen: list[int] = []
    first = write_population(
        tmp_path / "a",
        30_000,
        5,
        city,
        batch_size=7_000,
        progress=seen.append,
        rows_per_file=10_000,
    )
    second = write_population(
        tmp_path / "b", 30_000, 5, city, batch_size=7_000, rows_per_file=10_000
    )
    assert seen == [7_000, 14_000, 21_000, 28_000, 30_000]
    assert first == second
    assert first.files == ("part-00000.parquet", "part-00001.parquet", "part-00002.parquet")
    for name in first.files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        meta = pq.ParquetFile(tmp_path / "a" / name).metadata
        assert meta.num_rows == 10_000 and meta.row_group(0).column(0).compression == "ZSTD"
    table = pq.read_table(tmp_path / "a")
    assert table.num_rows == first.people == 30_000
    assert first.males + first.females == 30_000
    assert first.males == pc.sum(pc.equal(table["sex_code"], 1)).as_py()
    assert sum(first.by_district.values()) == 30_000
    assert first.min_birth is not None and first.min_birth >= "1925-11-25"
    json.dumps(first.as_dict())
    with pytest.raises(FileExistsError):
        write_population(tmp_path / "a", 10, 5, city)


def test_sequences_are_unique_per_key_and_carry_sex() -> None:
    seqs = _Sequences(regions=2, days=10, seed=1)
    female = np.zeros(499, dtype=bool)
    got = seqs.allocate(np.zeros(499, np.int64), np.full(499, 3), female)
    assert len(set(got.tolist())) == 499 and (got % 2 == 1).all() and got.max() <= 997
    women = seqs.allocate(np.zeros(400, np.int64), np.full(400, 3), ~female[:400])
    assert len(set(women.tolist())) == 400 and (women % 2 == 0).all() and women.min() >= 2
    with pytest.raises(OverflowError):
        seqs.allocate(np.zeros(1, np.int64), np.full(1, 3), np.zeros(1, dtype=bool))


_MEMORY_PROBE = """
import resource, sys, tempfile
from pathlib import Path
from zhili.synth.city import build_city
from zhili.synth.population import write_population
city = build_city()
with tempfile.TemporaryDirectory() as d:
    write_population(Path(d), int(sys.argv[1]), 1, city, batch_size=50_000, rows_per_file=100_000)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_kib(n: int) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(n)], capture_output=True, text=True, check=True
    )
    return int(done.stdout.split()[-1])


def test_memory_does_not_grow_with_n() -> None:
    """Peak RSS for 4x the rows stays within a few MB (a leak of the rows would be ~150 MB)."""
    small, large = _peak_kib(200_000), _peak_kib(800_000)
    assert large - small < 40 * 1024, (small, large)
