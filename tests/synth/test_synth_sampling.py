"""Named random streams and the vectorised weighted draws everything else is built on."""

from __future__ import annotations

import numpy as np
import pytest

from zhili.synth.rng import seed_sequence, stream
from zhili.synth.sampling import GroupedTable, choice, cumulative


def test_streams_depend_only_on_seed_and_path() -> None:
    a = stream(1, "population", 3, "names").random(5)
    assert (a == stream(1, "population", 3, "names").random(5)).all()
    assert not (a == stream(2, "population", 3, "names").random(5)).any()
    assert not (a == stream(1, "population", 4, "names").random(5)).any()
    assert not (a == stream(1, "deaths", 3, "names").random(5)).any()
    children = seed_sequence(1, "deaths").spawn(2)
    assert children[0].generate_state(1) != children[1].generate_state(1)
    with pytest.raises(ValueError):
        stream(1, -1)


def test_choice_follows_the_weights() -> None:
    rng = np.random.default_rng(0)
    cdf = cumulative([1, 0, 3])
    draws = choice(rng, cdf, 200_000)
    counts = np.bincount(draws, minlength=3) / len(draws)
    assert counts[1] == 0
    assert counts[0] == pytest.approx(0.25, abs=0.01)
    with pytest.raises(ValueError):
        cumulative([])
    with pytest.raises(ValueError):
        cumulative([1, -1])


def test_grouped_table_draws_each_row_from_its_own_table() -> None:
    table = GroupedTable([[1, 1], [0, 0, 1], [5]])
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 3, 100_000)
    got = table.draw(rng, groups)
    assert (got[groups == 1] == 2).all()
    assert (got[groups == 2] == 0).all()
    g0 = got[groups == 0]
    assert set(np.unique(g0)) == {0, 1}
    assert g0.mean() == pytest.approx(0.5, abs=0.02)
    assert table.offsets.tolist() == [0, 2, 5]
