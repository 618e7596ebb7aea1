"""Vectorised weighted draws, including "each row from its own table" in one call.

Names, ethnicities and places are drawn for millions of rows; a Python loop per row or per
group would dominate the run time, so these helpers turn every draw into one
``searchsorted`` over cumulative weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray


def cumulative(weights: ArrayLike) -> NDArray[np.float64]:
    """Normalised cumulative weights ending exactly at 1.0."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or len(w) == 0 or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be a non-empty 1-D array of non-negative numbers")
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    return cdf


def choice(rng: np.random.Generator, cdf: NDArray[np.float64], n: int) -> NDArray[np.int64]:
    """``n`` indices drawn with the probabilities behind ``cdf`` (from `cumulative`)."""
    idx = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(idx, len(cdf) - 1).astype(np.int64)


class GroupedTable:
    """Several weighted tables stacked, to draw for each row from the table of its group.

    Row ``k`` with ``groups[k] == g`` gets an index into table ``g``; all rows are served by
    one ``searchsorted`` over the tables' CDFs shifted to ``[g, g + 1)``.
    """

    def __init__(self, tables: Sequence[ArrayLike]) -> None:
        cdfs = [cumulative(t) for t in tables]
        self.sizes = np.array([len(c) for c in cdfs], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self._stacked = np.concatenate([c + g for g, c in enumerate(cdfs)])
        # Float rounding must not let g + 1.0 of one table spill into the next one.
        self._stacked[self.offsets + self.sizes - 1] = np.arange(len(cdfs)) + 1.0

    def draw(self, rng: np.random.Generator, groups: NDArray[np.integer]) -> NDArray[np.int64]:
        """For each row an index into its own group's table (local, not stacked)."""
        g = np.asarray(groups, dtype=np.int64)
        u = g + rng.random(len(g)) * (1.0 - 1e-12)
        pos = np.searchsorted(self._stacked, u, side="right")
        return pos - self.offsets[g]
