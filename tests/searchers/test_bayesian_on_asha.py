"""Under ASHA the bayesian searcher receives each trial's early results through Ray Tune."""
from __future__ import annotations

import pytest

import hpsearch
from hpsearch.store import Store
from tests.helpers import quad_spec

pytestmark = pytest.mark.usefixtures("ray_session")


def test_bayesian_learns_from_early_results_under_asha(home):
    spec = quad_spec("bohb", searcher={"type": "bayesian", "n_initial_points": 3},
                     scheduler={"type": "asha", "grace_period": 1, "reduction_factor": 3},
                     fixed={"epochs": 9}, budget={"trials": 9, "max_concurrent": 1})
    study = hpsearch.run(spec, progress=False)
    state = Store().get_study("bohb").searcher_state
    curves = state["core"]["finished_curves"]
    assert len(curves) == len([t for t in study.trials if t.value is not None])
    ends = sorted(max(int(i) for i in c) for _, c in curves)
    assert ends[0] < ends[-1] == 9, ends  # ASHA stopped some trials early
    # Each curve holds what the trial reported, iteration by iteration.
    for config, curve in curves:
        trial = next(t for t in study.trials if t.params == config)
        assert [float(curve[str(r["iteration"])]) for r in study.results(trial.number)] == pytest.approx(
            [r["loss"] for r in study.results(trial.number)])
