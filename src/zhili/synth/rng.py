"""Named random streams, so each part of the demo city has its own reproducible randomness.

Every generator in `zhili.synth` draws from ``stream(seed, "population", block, "names")``
style streams instead of one shared generator. A stream depends only on the seed and its
path, never on what other code drew before: adding a column, a scenario module or a new
district does not change the data that already existed, which keeps ground truth for
tests and benchmarks stable across releases.
"""

from __future__ import annotations

import zlib

import numpy as np


def _key(part: str | int) -> int:
    """A path element as a non-negative int (names hashed with CRC-32, stable everywhere)."""
    if isinstance(part, str):
        return zlib.crc32(part.encode("utf-8"))
    if part < 0:
        raise ValueError(f"stream path integers must be >= 0, got {part}")
    return int(part)


def seed_sequence(seed: int, *names: str | int) -> np.random.SeedSequence:
    """The `SeedSequence` for a path under ``seed`` (for callers that spawn further)."""
    return np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(_key(p) for p in names))


def stream(seed: int, *names: str | int) -> np.random.Generator:
    """An independent PCG64 generator for ``seed`` and a path of names.

    The same path always gives the same numbers; different paths are independent.

    Example:
        >>> a = stream(1, "deaths", 0).integers(0, 100, 3)
        >>> b = stream(1, "deaths", 0).integers(0, 100, 3)
        >>> bool((a == b).all())
        True
    """
    return np.random.Generator(np.random.PCG64(seed_sequence(seed, *names)))
