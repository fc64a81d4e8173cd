"""Every searcher drives a real Ray Tune run (two concurrent trials, reused actors)."""
from __future__ import annotations

import pytest
from ray import tune
from ray.tune.search import ConcurrencyLimiter

from tests.searchers.searcher_helpers import ALL_SEARCHERS, make, mixed_space, objective

N_TRIALS = 6


def _noop_trainable(config: dict) -> dict:
    return {"loss": objective(config)}


@pytest.mark.parametrize("name", ALL_SEARCHERS)
def test_searcher_runs_under_tune(name, ray_session, tmp_path):
    space = mixed_space()
    searcher = make(name, space, n_initial_points=3) if name == "bayesian" else make(name, space)
    tuner = tune.Tuner(
        _noop_trainable,
        tune_config=tune.TuneConfig(search_alg=ConcurrencyLimiter(searcher, max_concurrent=2),
                                    num_samples=N_TRIALS, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0),
    )
    results = tuner.fit()
    assert len(results) == N_TRIALS and not results.errors
    configs = [r.config for r in results]
    assert all(space.contains(c) for c in configs)
    assert len({space.key(c) for c in configs}) == N_TRIALS
    assert len(searcher.observations) == N_TRIALS and not searcher.pending
