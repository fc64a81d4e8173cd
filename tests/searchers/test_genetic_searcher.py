"""Behaviour specific to the genetic searcher (the conformance suite covers the rest)."""
from __future__ import annotations

import random

from ray.tune.search import Searcher

from hpsearch.space import Categorical, Float, Int, Space
from tests.searchers.searcher_helpers import make, mixed_space, run


def test_initial_population_is_random_until_results_arrive():
    s = make("genetic", population_size=5)
    calls = []
    sample = s.fresh_sample
    s.fresh_sample = lambda: calls.append(1) or sample()
    [s.suggest(str(i)) for i in range(8)]  # nothing finished: all random
    assert len(calls) == 8
    for i in range(5):
        s.on_trial_complete(str(i), {"loss": float(i)})
    s.suggest("bred")
    assert len(calls) == 8


def test_results_out_of_order_and_population_has_elites():
    s = make("genetic", population_size=4, elitism=2)
    trial_ids = [str(i) for i in range(12)]
    configs = {t: s.suggest(t) for t in trial_ids}
    for t in reversed(trial_ids):  # the latest finishes first
        s.on_trial_complete(t, {"loss": float(t)})
    population = s._population()
    assert len(population) == 4
    fitness = sorted(ind.fitness for ind in population)
    assert fitness[-2:] == [-1.0, -0.0]  # the two best losses, 1 and 0
    assert s.space.contains(s.suggest("child"))
    assert len(configs) == 12


def test_genes_respect_types_bounds_and_log_scale_under_heavy_mutation():
    space = mixed_space()
    s = make("genetic", mutation_prob=1.0, mutation_sigma=2.0, crossover_prob=1.0)
    configs = run(s, 200)
    assert all(space.contains(c) for c in configs)
    lrs = sorted(c["lr"] for c in configs[20:])
    # Log-scale genes: the median of bred lr values is far below the linear midpoint.
    assert lrs[len(lrs) // 2] < 0.01


def test_generations_cap_finishes():
    s = make("genetic", population_size=4, generations=2)
    configs = run(s, 12)
    assert len(configs) == 12 and s.suggest("more") == Searcher.FINISHED


def test_global_random_state_is_left_alone():
    s = make("genetic", population_size=4)
    run(s, 6)
    random.seed(123)
    expected = [random.random() for _ in range(3)]
    random.seed(123)
    s.suggest("x")
    assert [random.random() for _ in range(3)] == expected


def test_no_deap_creator_classes_are_registered():
    from deap import creator

    before = set(vars(creator))
    run(make("genetic", population_size=4), 10)
    assert set(vars(creator)) == before


def test_one_parameter_spaces():
    for space in (Space([Float("x", 0.0, 1.0)]), Space([Int("k", 1, 1000, log=True)]),
                  Space([Categorical("c", tuple(range(30)))])):
        s = make("genetic", space, population_size=4)
        configs = run(s, 25, f=lambda c: float(hash(str(c)) % 7))
        assert all(space.contains(c) for c in configs)
        assert len({space.key(c) for c in configs}) == 25
