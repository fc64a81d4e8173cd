"""A conditional space end to end: spec -> searcher -> Ray Tune -> store -> warm start."""
from __future__ import annotations

import pytest

import hpsearch
from hpsearch.store import TrialStatus
from tests.helpers import quad_spec

pytestmark = pytest.mark.usefixtures("ray_session")

SPACE = {
    "x": {"uniform": [-5.0, 5.0]},
    "opt": {"choice": ["a", "b"]},
    "beta": {"uniform": [0.0, 1.0], "when": {"opt": "a"}},
}


@pytest.mark.parametrize("searcher", ["bayesian"])  # the conformance suite covers the others
def test_inactive_parameters_never_reach_the_trial_or_the_store_and_warm_start(searcher, home):
    options = {"type": searcher, **({"n_initial_points": 2} if searcher == "bayesian" else {})}
    spec = quad_spec(f"cond-{searcher}", trainable="tests.helpers:branches", space=SPACE,
                     searcher=options, fixed={"epochs": 1}, budget={"trials": 6, "max_concurrent": 2})
    study = hpsearch.run(spec, progress=False)
    trials = [t for t in study.trials if t.status == TrialStatus.COMPLETED]
    assert len(trials) == 6
    for t in trials:
        expected = {"x", "opt", "beta"} if t.params["opt"] == "a" else {"x", "opt"}
        assert set(t.params) == expected, t.params
        # What the trainable itself was given (it reports the names).
        assert study.results(t.number)[-1]["given"] == ",".join(sorted(expected))

    again = hpsearch.run({**spec, "name": f"cond-{searcher}-2", "warm_start": [spec["name"]],
                          "budget": {"trials": 2, "max_concurrent": 1}}, progress=False)
    imported = [t for t in again.trials if t.status == TrialStatus.IMPORTED]
    assert sorted(t.number for t in imported) == list(range(len(imported))) and len(imported) == 6
    assert all(set(t.params) <= {"x", "opt", "beta"} for t in again.trials)
