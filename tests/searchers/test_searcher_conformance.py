"""One conformance suite run over every registered searcher."""
from __future__ import annotations

import json
import math

import pytest
from ray.tune.search import Searcher

from hpsearch.exceptions import SpecError
from hpsearch.space import Categorical, Float, Int, Space
from tests.searchers.searcher_helpers import (ALL_SEARCHERS, FACTORIES, LEARNING_OPTIONS, LEARNING_SEARCHERS,
                                             VARIANTS, conditional_objective, conditional_space, discrete_space, kind, make,
                                             mixed_space, objective, parametrize_searcher, run)
from searchers import SEARCHERS


def test_suite_covers_every_registered_searcher():
    assert sorted(ALL_SEARCHERS + FACTORIES) == sorted(SEARCHERS)


def _check_types(space: Space, config: dict) -> None:
    assert space.contains(config), config
    for name, v in config.items():
        p = space.by_name[name]
        if isinstance(p, Float):
            assert type(v) is float, (p.name, v)
        elif isinstance(p, Int):
            assert type(v) is int, (p.name, v)
        else:
            assert any(type(v) is type(c) and v == c for c in p.values), (p.name, v)


@parametrize_searcher()
def test_bounds_and_types_over_many_suggestions(name):
    space = mixed_space()
    s = make(name, space)
    n = 25 if kind(name) == "bayesian" else 150
    for config in run(s, n):
        _check_types(space, config)
    assert json.loads(json.dumps(s.get_state()))  # JSON-safe all along


@parametrize_searcher()
def test_nan_inf_and_missing_results_are_dropped(name):
    s = make(name)
    bad = [float("nan"), float("inf"), -float("inf"), None, "oops"]
    for i, value in enumerate(bad):
        s.suggest(str(i))
        s.on_trial_complete(str(i), {"loss": value})
    s.suggest("missing")
    s.on_trial_complete("missing", {"other": 1.0})
    assert s.observations == [] and s.pending == {}
    configs = run(s, 12, start=10)
    assert len(s.observations) == 12
    assert all(math.isfinite(loss) for _, loss in s.observations)
    assert all(s.space.contains(c) for c in configs)


@parametrize_searcher()
def test_failed_trials_are_not_learned_and_not_repeated(name):
    s = make(name)
    failed = []
    for i in range(8):
        failed.append(s.suggest(f"f{i}"))
        s.on_trial_complete(f"f{i}", error=True)
    s.on_trial_complete("never-suggested", {"loss": 1.0})  # unknown trial: ignored
    configs = run(s, 12)
    assert len(s.observations) == 12 and not s.pending
    keys = {s.space.key(c) for c in failed}
    assert not keys & {s.space.key(c) for c in configs}


def _drive(s, results, start, n, fail_every=0):
    out = []
    for i in range(start, start + n):
        config = s.suggest(str(i))
        out.append(config)
        if fail_every and i % fail_every == 0:
            s.on_trial_complete(str(i), error=True)
        else:
            s.on_trial_complete(str(i), {"loss": results(config)})
    return out


@parametrize_searcher()
@pytest.mark.parametrize("space_fn", [mixed_space, discrete_space, conditional_space],
                         ids=["mixed", "discrete", "conditional"])
def test_state_round_trip_mid_search_continues_identically(name, space_fn, tmp_path):
    space = space_fn()
    f = {mixed_space: objective, conditional_space: conditional_objective}.get(
        space_fn, lambda c: (c["a"] - 2) ** 2 + c["b"])
    n_before, n_after = (3, 3) if space_fn is discrete_space else (9, 6)
    twin = make(name, space, seed=3)
    _drive(twin, f, 0, n_before, fail_every=4)
    twin.suggest("p1")  # pending across the checkpoint
    path = tmp_path / "state.json"
    twin.save(str(path))
    restored = make(name, space, seed=3)
    restored.restore(str(path))
    assert restored.get_state() == twin.get_state()
    for s in (twin, restored):
        s.suggest("p2")
        s.on_trial_complete("p1", {"loss": 0.5})
    assert _drive(twin, f, 100, n_after, fail_every=4) == _drive(restored, f, 100, n_after, fail_every=4)
    assert twin.get_state() == restored.get_state()


@parametrize_searcher()
def test_seeded_reproducibility(name):
    n = 12 if kind(name) == "bayesian" else 40
    seven = run(make(name, seed=7), n)
    assert run(make(name, seed=7), n) == seven
    assert run(make(name, seed=8), n) != seven


@parametrize_searcher()
def test_no_duplicate_suggestions_among_pending(name):
    s = make(name)
    run(s, 8)  # the learning searchers now suggest from their model / population
    pending = [s.suggest(f"p{i}") for i in range(20)]
    keys = [s.space.key(c) for c in pending]
    assert len(set(keys)) == len(keys)
    assert not set(keys) & {s.space.key(c) for c, _ in s.observations}


@parametrize_searcher()
def test_no_duplicates_in_a_small_discrete_space(name):
    s = make(name, discrete_space())
    keys = [s.space.key(s.suggest(str(i))) for i in range(8)]
    assert len(set(keys)) == 8


@parametrize_searcher()
def test_conditional_space_configs_hold_exactly_their_active_parameters(name):
    space = conditional_space()
    s = make(name, space)
    configs = run(s, 30 if kind(name) == "bayesian" else 90, f=conditional_objective)
    for config in configs:
        _check_types(space, config)  # contains(): the active names, no more, no fewer
    assert {c["optimizer"] for c in configs} == {"adam", "sgd"}
    assert {c["layers"] for c in configs} == {1, 2, 3}
    assert not any("beta1" in c for c in configs if c["optimizer"] == "sgd")
    assert any("units_3" in c for c in configs) and not any("units_3" in c for c in configs
                                                            if c["layers"] < 3)
    assert len({space.key(c) for c in configs}) == len(configs)
    assert json.loads(json.dumps(s.get_state()))


def _finds_the_best_branch(name: str, seed: int) -> bool:
    space = conditional_space()
    budget = 30 if kind(name) == "bayesian" else 100
    # bayesian with its own design size (10 points here), not the suite's fast 5: with 5,
    # its default length-scale prior on conditional spaces misses the sgd, three-layer
    # branch on 3 of seeds 0-9 (without the prior: on none; with 10 points both find it on
    # all ten; benchmarks/results/bayesmark.md, "Three conditional problems").
    design = {"n_initial_points": None} if kind(name) == "bayesian" else {}
    configs = run(make(name, space, seed=seed, **LEARNING_OPTIONS.get(kind(name), {}), **design),
                  budget, f=conditional_objective)
    best = min(configs, key=conditional_objective)
    # The sgd, three-layer branch (1 in 6 at random) holds the only losses below -0.5.
    return (best["optimizer"], best["layers"]) == ("sgd", 3) and conditional_objective(best) < -0.5


@pytest.mark.parametrize("name", LEARNING_SEARCHERS)
def test_learning_searchers_find_the_best_branch_of_a_conditional_space(name):
    assert _finds_the_best_branch(name, seed=2)


@pytest.mark.parametrize("name", VARIANTS)
def test_searcher_options_keep_finding_the_best_branch_of_a_conditional_space(name):
    # The opt-in options are judged over seeds: "shaped" (local_share 0.5) keeps drawing
    # its local candidates in the incumbent's branch and misses it on seeds 2 and 3 with
    # scipy 1.17 / scikit-learn 1.9 (the default found it on all of seeds 0-7).
    # Seeds in order, stopping once the verdict is settled (3 found, or 3 no longer reachable).
    found: list[bool] = []
    while sum(found) < 3 and len(found) - sum(found) < 3:
        found.append(_finds_the_best_branch(name, seed=len(found)))
    assert sum(found) >= 3, found


@parametrize_searcher()
def test_conditional_space_warm_starts_from_results_with_every_parameter(name):
    """An earlier study without the conditions stored every parameter: the inactive
    ones are dropped, the result is told."""
    space = conditional_space()
    s = make(name, space)
    full = {"optimizer": "adam", "lr": 0.01, "beta1": 0.9, "momentum": 0.5, "layers": 1,
            "units_2": 32, "units_3": 64}
    assert s.observe(full, 1.0)
    assert s.observations[-1][0] == {"optimizer": "adam", "lr": 0.01, "beta1": 0.9, "layers": 1}
    assert not s.observe({"optimizer": "adam", "lr": 0.01, "layers": 1}, 1.0)  # beta1 missing
    assert space.key(s.observations[-1][0]) in s.seen


@parametrize_searcher(["random", "bayesian", "genetic", *VARIANTS])
def test_a_finite_space_gets_each_configuration_once_then_finishes(name):
    space = Space([Int("k", 0, 5), Categorical("c", ("a", "b", None, 1))])
    s = make(name, space)
    configs = run(s, 24, f=lambda c: c["k"] + (c["c"] == "a"))
    assert len({space.key(c) for c in configs}) == 24 == space.size()
    assert s.suggest("25") == Searcher.FINISHED


@parametrize_searcher()
def test_mode_max_negates_the_metric(name):
    s = make(name, mode="max")
    config = s.suggest("0")
    s.on_trial_complete("0", {"loss": 2.5})
    assert s.observations == [(config, -2.5)]
    assert s.observe(config, 1.0) and s.observations[-1][1] == -1.0


def _quadratic_space() -> Space:
    return Space([Float("x", -5.0, 5.0), Float("y", -5.0, 5.0), Int("k", 0, 20)])


def _quadratic(c: dict) -> float:
    return (c["x"] - 1.0) ** 2 + (c["y"] + 2.0) ** 2 + (c["k"] - 7) ** 2 / 10


# Both modes for each searcher; its option variants in one (the sign is the base class's,
# test_mode_max_negates_the_metric checks it for every variant).
@pytest.mark.parametrize("name,mode", [(n, m) for n in LEARNING_SEARCHERS for m in ("min", "max")]
                         + [(v, "min") for v in VARIANTS])
def test_learning_searchers_improve_on_their_random_start(name, mode):
    sign = 1 if mode == "min" else -1
    n_random, budget = (8, 25) if kind(name) == "bayesian" else (10, 120)
    options = {"n_initial_points": n_random} if kind(name) == "bayesian" else {"population_size": n_random}
    s = make(name, _quadratic_space(), seed=1, mode=mode, **LEARNING_OPTIONS.get(kind(name), {}),
             **options)
    configs = run(s, budget, f=lambda c: sign * _quadratic(c))
    best_random = min(_quadratic(c) for c in configs[:n_random])
    best_model = min(_quadratic(c) for c in configs[n_random:])
    assert best_model < 0.25 * best_random


@parametrize_searcher()
def test_warm_start_with_observe(name):
    space = mixed_space()
    cold, warm = make(name, space), make(name, space)
    old = run(make(name, space, seed=99), 10)
    for config in old:
        assert warm.observe(config, objective(config))
    assert not warm.observe({"lr": 1.0}, 0.0)  # not of this space
    assert not warm.observe(old[0], float("nan"))
    assert len(warm.observations) == 10 and not warm.pending
    assert space.key(old[0]) in warm.seen
    fresh = run(warm, 8, start=100)
    assert not {space.key(c) for c in fresh} & {space.key(c) for c in old}
    if kind(name) in LEARNING_SEARCHERS:
        # Ten results are past both random phases: the next suggestions learn from them.
        assert fresh != run(cold, 8, start=100)


@parametrize_searcher()
def test_unknown_option_raises_spec_error(name):
    with pytest.raises(SpecError) as err:
        make(name, bogus=1)
    assert err.value.problems[0][0] == "searcher.bogus"


@parametrize_searcher()
def test_max_trials_finishes(name):
    s = make(name)
    s.max_trials = 3
    run(s, 3)
    assert s.suggest("x") == Searcher.FINISHED


BAD_VALUES = [
    ("bayesian", "surrogate", "SVM"), ("bayesian", "acquisition", "UCB"), ("bayesian", "liar", "median"),
    ("bayesian", "n_initial_points", 0), ("bayesian", "n_initial_points", 2.5),
    ("bayesian", "xi", -1), ("bayesian", "kappa", float("nan")), ("bayesian", "on_failure", "retry"),
    ("bayesian", "max_model_points", True), ("bayesian", "n_candidates", 1),
    ("bayesian", "warping", "probit"), ("bayesian", "warping", True),
    ("bayesian", "y_transform", "log"), ("bayesian", "local_share", 1.5),
    ("bayesian", "batch_explore", "ucb"), ("bayesian", "batch_explore", 1),
    ("bayesian", "length_scale_prior", "lognormal"), ("bayesian", "length_scale_prior", 1),
    ("bayesian", "final_exploit", 1.0), ("bayesian", "final_exploit", -0.1),
    ("bayesian", "final_model", "trust"), ("bayesian", "inactive", "zero"),
    ("bayesian", "batch_spread", -0.5),
    ("bayesian", "batch_spread", float("inf")),
    ("genetic", "population_size", 1), ("genetic", "generations", -1), ("genetic", "tournament_size", 0),
    ("genetic", "crossover_prob", 1.5), ("genetic", "mutation_prob", "high"),
    ("genetic", "mutation_sigma", -0.1), ("genetic", "elitism", 99),
]


@pytest.mark.parametrize("name,option,value", BAD_VALUES)
def test_bad_option_values_name_field_and_value(name, option, value):
    with pytest.raises(SpecError) as err:
        make(name, **{option: value})
    field, message = err.value.problems[0]
    assert field == f"searcher.{option}" and repr(value) in message
