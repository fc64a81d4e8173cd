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


COND = {
    "optimizer": {"choice": ["adam", "sgd"]},
    "beta1": {"uniform": [0.8, 0.999], "when": {"optimizer": "adam"}},
    "layers": {"int": [1, 3]},
    "units_2": {"logint": [16, 256], "when": {"layers": {"min": 2}}},
    "units_3": {"logint": [16, 256], "when": {"layers": {"min": 3}, "optimizer": ["sgd"]}},
}


def test_conditional_parameters_exist_only_when_their_conditions_hold():
    s = Space.from_spec(COND)
    assert s.conditional and s.by_name["units_2"].when[0].low == 2
    assert s.active_names({"optimizer": "sgd", "layers": 3}) == ["optimizer", "layers", "units_2", "units_3"]
    assert s.active_names({"optimizer": "adam", "layers": 1}) == ["optimizer", "beta1", "layers"]
    rng = np.random.default_rng(0)
    for _ in range(200):
        c = s.sample(rng)
        assert s.contains(c) and list(c) == s.active_names(c)
    assert not s.contains({"optimizer": "sgd", "layers": 1, "beta1": 0.9})  # an inactive one set
    assert not s.contains({"optimizer": "adam", "layers": 1})  # an active one missing
    assert s.prune({"optimizer": "sgd", "layers": 1, "beta1": 0.9, "units_2": 20}) == {
        "optimizer": "sgd", "layers": 1}
    # sgd: 1 + 241 + 241^2 configurations of the integer part would be too many to list;
    # a small conditional space counts its distinct configurations.
    small = Space.from_spec({"a": {"choice": [0, 1]}, "b": {"int": [1, 3], "when": {"a": 1}}})
    assert small.size() == 4 == len(list(small.iter_configs()))


def test_bad_conditions_are_all_reported_with_field_and_value():
    from hpsearch import spec as specmod
    from tests.helpers import quad_spec

    space = {
        "a": {"int": [1, 3], "when": {"b": 1}},            # b is declared below
        "b": {"choice": [1, 2, "many"]},
        "c": {"int": [0, 1], "when": {"b": [5]}},          # 5 is not a value of b
        "d": {"uniform": [0, 1], "when": {"b": {"min": 1}}},  # range on a choice
        "e": {"uniform": [0, 1], "when": {"a": {"min": 9}}},  # never active
        "f": {"uniform": [0, 1], "when": {"a": {"low": 1}}},  # not min/max
        "g": {"uniform": [0, 1], "when": {"nope": 1}},       # unknown parent
        "h": {"grid": [1, 2], "when": {"b": 1}},            # grid cannot be conditional
        "x": {"uniform": [-5.0, 5.0]},
    }
    with pytest.raises(SpecError) as err:
        specmod.load(quad_spec("cond", space=space))
    got = dict(err.value.problems)
    assert "declared below" in got["space.a.when.b"]
    assert "5 is not a possible value" in got["space.c.when.b"]
    assert "numeric" in got["space.d.when.b"] or "numeric" in got.get("space.d.when.b", "")
    assert "never active" in got["space.e.when.a"]
    assert "{'low': 1}" in got["space.f.when.a"]
    assert "'nope'" in got["space.g.when.nope"]
    assert "grid" in got["space.h.when"]
