"""``searcher: {type: auto}`` chooses by space, budget and concurrency, and says what it chose."""
from __future__ import annotations

import logging

import pytest

from hpsearch import spec as specmod
from hpsearch.space import Categorical, Float, Int, Space
from searchers import create_searcher
from searchers._auto import choose
from tests.helpers import quad_spec
from tests.searchers.searcher_helpers import conditional_space, mixed_space, run

GRID = Space([Categorical("a", (1, 2, 3), grid=True), Categorical("b", ("x", "y"), grid=True)])
SMALL = Space([Int("k", 1, 10), Categorical("c", ("a", "b"))])


@pytest.mark.parametrize("space, budget, concurrency, chosen, words", [
    (GRID, 10, 1, "grid", "all 6 points"),
    (GRID, 4, 1, "bayesian", ""),
    (SMALL, 50, 4, "bayesian", "20 configurations"),
    (mixed_space(), 60, 8, "bayesian", "mixed space of 7 parameters"),
    (Space([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)]), 60, 2, "bayesian", "a continuous space"),
    (conditional_space(), 60, 2, "bayesian", "conditional"),
    (Space.from_spec({"k": {"choice": ["a", "b"]}, "n": {"int": [1, 3], "when": {"k": "b"}}}), 10, 1,
     "bayesian", "4 configurations"),  # finite and within the budget: each configuration once
    (mixed_space(), 5000, 8, "genetic", "5000"),
    (mixed_space(), 200, 64, "genetic", "64 trials at once"),
])
def test_choice_by_space_budget_and_concurrency(space, budget, concurrency, chosen, words):
    name, why = choose(space, budget, concurrency)
    assert name == chosen and words in why


def test_the_choice_is_logged_and_kept_in_the_state(caplog):
    space = Space([Float("x", -1.0, 1.0)])
    with caplog.at_level(logging.INFO, logger="hpsearch.searchers"):
        s = create_searcher("auto", space, metric="loss", mode="min", seed=0, max_trials=20,
                            max_concurrent=2)
    assert type(s).__name__ == "BayesianSearcher"
    assert "searcher auto chose bayesian" in caplog.text
    run(s, 5, f=lambda c: c["x"] ** 2)
    state = s.get_state()
    assert state["auto"]["searcher"] == "bayesian" and "GP" in state["auto"]["why"]
    restored = create_searcher("auto", space, metric="loss", mode="min", seed=0, max_trials=20,
                               max_concurrent=2)
    restored.set_state(state)
    assert restored.get_state() == state


def test_auto_in_a_spec_takes_no_options():
    assert specmod.load(quad_spec("a", searcher={"type": "auto"})).searcher.type == "auto"
    with pytest.raises(Exception) as err:
        specmod.load(quad_spec("a", searcher={"type": "auto", "surrogate": "GP"}))
    assert "searcher.surrogate" in str(err.value)


def test_auto_with_several_objectives_builds_the_multi_objective_variant():
    s = create_searcher("auto", mixed_space(), metric="f1", mode="min", max_trials=40, max_concurrent=2,
                        objectives=[("f1", "min"), ("f2", "min")])
    assert s.auto_choice["searcher"] == "bayesian" and type(s).__name__ != "BayesianSearcher"
    assert hasattr(s, "set_objectives")
