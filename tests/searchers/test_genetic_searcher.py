"""Behaviour specific to the genetic searcher (the conformance suite covers the rest)."""
from __future__ import annotations

import random

from ray.tune.search import Searcher

from hpsearch.space import Categorical, Float, Int, Space
from tests.searchers.searcher_helpers import make, mixed_space, run


def test_initial_population_is_a_design_until_half_of_it_has_results():
    s = make("genetic", population_size=6)
    calls = []
    design = s.design_point
    s.design_point = lambda i: calls.append(i) or design(i)
    [s.suggest(str(i)) for i in range(8)]  # nothing finished: all from the design
    assert calls == list(range(8))
    for i in range(3):
        s.on_trial_complete(str(i), {"loss": float(i)})
    s.suggest("bred")  # 3 results = half the population: breeding starts
    assert len(calls) == 8


def test_population_defaults_follow_budget_and_concurrency():
    from searchers import create_searcher
    from searchers._genetic import population_size

    assert [population_size(30, 8), population_size(128, 8), population_size(50, 2),
            population_size(10_000, 1), population_size(None, 4)] == [8, 17, 11, 20, 20]
    s = create_searcher("genetic", mixed_space(), metric="loss", mode="min",
                        max_trials=30, max_concurrent=8)
    assert (s.population_size, s.elitism) == (8, 2)


def test_children_of_one_batch_are_not_near_clones():
    space = Space([Float(f"x{i}", 0.0, 1.0) for i in range(4)])
    closest = []
    for seed in range(4):
        s = make("genetic", space, seed=seed, population_size=10, elitism=3)
        run(s, 30, f=lambda c: sum((v - 0.3) ** 2 for v in c.values()))
        batch = [[c[n] for n in space.names] for c in (s.suggest(f"p{i}") for i in range(8))]
        closest.append(min(sum(abs(a - b) for a, b in zip(u, v))
                           for i, u in enumerate(batch) for v in batch[i + 1:]))
    # One child per suggestion gave 0.001-0.05 here; the farthest of four, 0.04-0.24.
    assert sorted(closest)[1] > 0.05


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
