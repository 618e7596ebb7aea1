"""The demo city 示例市: territory, organizations and residents, generated from a seed.

Everything here is deterministic — the same seed gives byte-identical output — so demos,
tests and benchmarks share one ground truth. Each part draws from its own named random
stream (`zhili.synth.rng.stream`), which lets scenario modules added later (deaths,
pensioners, grid events…) build on the same city and people without disturbing them.

Example:
    >>> from zhili.synth import build_city, iter_population_batches
    >>> city = build_city()
    >>> batch = next(iter_population_batches(1_000, seed=1, city=city))
    >>> batch.num_rows
    1000
"""

from zhili.synth.city import LEVELS, Area, City, Level, build_city
from zhili.synth.departments import Department, department, departments
from zhili.synth.population import (
    DEFAULT_AS_OF,
    POPULATION_SCHEMA,
    PopulationSummary,
    iter_population_batches,
    write_population,
)
from zhili.synth.rng import stream

__all__ = [
    "DEFAULT_AS_OF",
    "LEVELS",
    "POPULATION_SCHEMA",
    "Area",
    "City",
    "Department",
    "Level",
    "PopulationSummary",
    "build_city",
    "department",
    "departments",
    "iter_population_batches",
    "stream",
    "write_population",
]
