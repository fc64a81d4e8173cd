"""Every searcher with two and three objectives and a constraint, on Ray Tune; NSGA-II and
ParEGO state round trips; warm start with several objectives."""
from __future__ import annotations

import json

import pytest

import hpsearch
from hpsearch import pareto as mo
from hpsearch.space import Space
from searchers import create_searcher
from tests.helpers import mo_spec

SEARCHERS = {
    "random": {"type": "random"},
    "grid": {"type": "grid"},
    "bayesian": {"type": "bayesian", "n_initial_points": 3, "n_candidates": 100},
    "genetic": {"type": "genetic", "population_size": 3, "elitism": 1},
}
VARIANT = {"random": "RandomSearcher", "grid": "GridSearcher", "bayesian": "ParEGOSearcher",
           "genetic": "NSGA2Searcher"}


# The learning searchers with 2 and 3 objectives; random and grid (which never read the
# objectives: the front is the read model's) once each, to keep the suite's time.
@pytest.mark.usefixtures("ray_session")
@pytest.mark.parametrize("name, n_objectives", [("random", 2), ("grid", 3), ("bayesian", 2),
                                                ("bayesian", 3), ("genetic", 2), ("genetic", 3)])
def test_every_searcher_with_several_objectives_and_a_constraint(name, n_objectives, home):
    over = {"searcher": SEARCHERS[name], "budget": {"trials": 5, "max_concurrent": 2}}
    if name == "grid":
        over["space"] = {"x": {"grid": [0.1, 0.9]}, "y": {"grid": [0.0, 0.5]}}
    study = hpsearch.run(mo_spec(f"mo-{name}-{n_objectives}", n_objectives, **over), progress=False)
    assert study.status == "COMPLETED", study.error
    trials = study.trials
    assert len(trials) == (4 if name == "grid" else 5)
    objectives = [f"f{i + 1}" for i in range(n_objectives)]
    assert all(set(t.values) == {*objectives, "cost"} for t in trials)
    feasible = [t for t in trials if t.values["cost"] <= 1.2]
    vectors = [tuple(t.values[m] for m in objectives) for t in feasible]
    front = {feasible[i].number for i in mo.nondominated(vectors)}
    assert {t.number for t in study.pareto_front} == front
    state = study._row.searcher_state
    assert state["searcher"] == VARIANT[name]
    if name in ("bayesian", "genetic"):  # their objective values are saved with the state
        assert len(state["objectives"]) == len(state["observations"]) == len(trials)
        assert all(len(v) == n_objectives + 1 for v in state["objectives"])


def _zdt1(c: dict) -> dict:
    g = 1 + 9 * c["y"]
    return {"f1": c["x"], "f2": g * (1 - (c["x"] / g) ** 0.5), "f3": c["y"], "cost": c["x"] + c["y"]}


@pytest.mark.parametrize("name, options", [("genetic", {"population_size": 4, "elitism": 2}),
                                           ("bayesian", {"n_initial_points": 3})])
def test_state_round_trip_continues_identically(name, options):
    space = Space.from_spec({"x": {"uniform": [0, 1]}, "y": {"uniform": [0, 1]}})

    def make():
        return create_searcher(name, space, metric="f1", mode="min", seed=3, max_trials=30,
                               objectives=[("f1", "min"), ("f2", "min")],
                               constraints=[mo.Constraint.parse("cost <= 1.2")], **options)

    a = make()
    for i in range(8):
        a.on_trial_complete(str(i), _zdt1(a.suggest(str(i))))
    b = make()
    b.set_state(json.loads(json.dumps(a.get_state())))
    assert b.mo_values == a.mo_values
    for i in range(8, 12):
        ca, cb = a.suggest(str(i)), b.suggest(str(i))
        assert ca == cb
        a.on_trial_complete(str(i), _zdt1(ca))
        b.on_trial_complete(str(i), _zdt1(cb))
    # an infeasible or incomplete result: infeasible is kept (with its violation), a missing
    # objective is a failed trial
    a.on_trial_complete("x", None)
    c = a.suggest("inf")
    a.on_trial_complete("inf", {**_zdt1(c), "cost": 5.0})
    assert a.mo_values[-1][-1] > 0
    n = len(a.mo_values)
    a.on_trial_complete(a.suggest("nan") and "nan", {"f1": 0.5, "f2": float("nan"), "cost": 0})
    assert len(a.mo_values) == n


@pytest.mark.usefixtures("ray_session")
def test_warm_start_with_several_objectives(home):
    hpsearch.run(mo_spec("mo-source", budget={"trials": 4, "max_concurrent": 2}), progress=False)
    study = hpsearch.run(mo_spec("mo-warm", searcher={"type": "genetic", "population_size": 4,
                                                      "elitism": 2},
                                 warm_start=["mo-source"], budget={"trials": 4, "max_concurrent": 2}),
                         progress=False)
    imported = [t for t in study.trials if t.status == "IMPORTED"]
    assert len(imported) == 4 and all(set(t.values) == {"f1", "f2", "cost"} for t in imported)
    state = study._row.searcher_state
    assert len(state["objectives"]) == 8  # 4 told at the start + 4 run
    assert state["n_suggested"] == 4


def test_parego_picks_the_candidate_adding_most_hypervolume():
    # f1 = x, f2 = 1 - x + y: the front is y = 0. Of two candidates at the same x, the one on
    # the front adds hypervolume and the one far above it none; the reference (a third
    # entry per objective) is kept in minimisation form.
    space = Space.from_spec({"x": {"uniform": [0, 1]}, "y": {"uniform": [0, 1]}})
    s = create_searcher("bayesian", space, metric="f1", mode="min", seed=0, max_trials=20,
                        n_initial_points=6, objectives=[("f1", "min", 2.0), ("f2", "max", -3.0)])
    assert s.references == [2.0, 3.0]
    s.set_objectives([("f1", "min"), ("f2", "min")])
    assert s.references == [None, None]
    for i in range(10):
        c = s.suggest(str(i))
        s.on_trial_complete(str(i), {"f1": c["x"], "f2": 1 - c["x"] + c["y"]})
    assert s._most_improving([[0.45, 1.0], [0.45, 0.0]]) == 1
    assert s._most_improving([[0.45, 1.0], [0.55, 1.0]]) is None
