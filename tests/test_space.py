from __future__ import annotations

import numpy as np
import pytest

from hpsearch.exceptions import SpecError
from hpsearch.space import Categorical, Float, Int, Space

SPACE = {
    "lr": {"loguniform": [1e-4, 1e-1]},
    "dropout": {"uniform": [0.0, 0.5]},
    "channels": {"int": [8, 64]},
    "hidden": {"logint": [16, 512]},
    "opt": {"choice": ["adam", "sgd"]},
    "bs": {"grid": [32, 64]},
}


def test_parse_types():
    s = Space.from_spec(SPACE)
    assert isinstance(s.by_name["lr"], Float) and s.by_name["lr"].log
    assert isinstance(s.by_name["channels"], Int) and not s.by_name["channels"].log
    assert isinstance(s.by_name["opt"], Categorical) and not s.by_name["opt"].grid
    assert s.grid_size() == 2
    assert list(s.iter_grid()) == [{"bs": 32}, {"bs": 64}]


def test_samples_in_bounds_and_types():
    s = Space.from_spec(SPACE)
    rng = np.random.default_rng(0)
    for _ in range(500):
        c = s.sample(rng)
        assert s.contains(c), c
        assert isinstance(c["channels"], int) and isinstance(c["hidden"], int)
        assert isinstance(c["lr"], float)


def test_unit_roundtrip():
    f = Float("lr", 1e-4, 1e-1, log=True)
    assert f.from_unit(f.to_unit(1e-2)) == pytest.approx(1e-2)
    i = Int("n", 1, 10)
    assert [i.from_unit(i.to_unit(v)) for v in range(1, 11)] == list(range(1, 11))
    li = Int("n", 16, 512, log=True)
    assert all(li.from_unit(li.to_unit(v)) == v for v in (16, 17, 100, 511, 512))


@pytest.mark.parametrize("raw, field, words", [
    ({"x": {"uniform": [2, 1]}}, "space.x.uniform", "low must not exceed high"),
    ({"x": {"loguniform": [0, 1]}}, "space.x.loguniform", "> 0"),
    ({"x": {"int": [1.5, 3]}}, "space.x.int[0]", "integer"),
    ({"x": {"choice": []}}, "space.x.choice", "non-empty"),
    ({"x": {"normal": [0, 1]}}, "space.x", "unknown distribution"),
    ({"x": 3}, "space.x", "exactly one"),
    ({}, "space", "at least one"),
])
def test_errors_name_field_and_value(raw, field, words):
    with pytest.raises(SpecError) as e:
        Space.from_spec(raw)
    fields = [f for f, _ in e.value.problems]
    assert field in fields
    assert words in str(e.value)


def test_bool_and_int_categories_are_distinct():
    c = Categorical("flag", (True, 1))
    assert c.index(1) == 1 and c.index(True) == 0
