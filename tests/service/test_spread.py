"""Short trials use every node of a real two-node Ray cluster (#21 §2, hpsearch/actor_reuse.py,
hpsearch/warm_workers.py).

``ray_cluster``: a head of 2 CPUs and a second node of 4. Trials asking for 2 CPUs fit
one on the head and two on the second node: the first 3 trials each get an actor, which
starts in a new worker process, the nodes' at different moments, while a trial takes
0.3 s. Tune's own rule hands the first free actor to a trial whose actor is still starting
and kills that one, so every trial ran on whichever node started an actor first; now
each starting actor keeps its trial.
"""
from __future__ import annotations

import pytest

from tests.service.conftest import submit_on_cluster

pytestmark = [pytest.mark.slow]


def test_short_trials_run_on_both_nodes(ray_cluster, tmp_path):
    spec = {"name": "spread", "trainable": "tests.helpers:probe", "metric": "loss", "mode": "min",
            "space": {"x": {"uniform": [-5.0, 5.0]}}, "fixed": {"epochs": 1, "sleep": 0.3},
            "searcher": {"type": "random"}, "budget": {"trials": 6, "max_concurrent": 3},
            "resources": {"cpu": 2}, "seed": 3}
    store, study = submit_on_cluster(ray_cluster, spec, tmp_path)
    trials = store.trials(study.id)
    assert len(trials) == 6
    nodes = {store.results(t.id)[-1].metrics["node"] for t in trials}
    assert len(nodes) == 2  # each node's actors ran the trials they were started for


def test_every_nodes_first_trials_find_tune_imported(ray_cluster, tmp_path):
    # A driver on a cluster (hpsearch/warm_workers.py, 4): before its first trial starts,
    # each node has prestarted the study's trial workers and they have imported Ray Tune
    # and the trial's modules; the trial actors take them, on both nodes.
    spec = {"name": "warm", "trainable": "tests.helpers:warmth", "metric": "loss", "mode": "min",
            "space": {"x": {"uniform": [-5.0, 5.0]}}, "fixed": {"sleep": 0.3},
            "searcher": {"type": "random"}, "budget": {"trials": 6, "max_concurrent": 6},
            "resources": {"cpu": 1}, "seed": 3}
    store, study = submit_on_cluster(ray_cluster, spec, tmp_path)
    reports = [store.results(t.id)[-1].metrics for t in store.trials(study.id)]
    assert len(reports) == 6 and len({r["node"] for r in reports}) == 2
    first_start = min(r["t_start"] for r in reports)
    assert all(0 < r["preloaded_at"] < first_start for r in reports), reports
    # and readied for their actor: Ray's serialization context built (it imports pydantic)
    # and Tune's constructor kept from importing IPython, 0.25-0.3 CPU-s of each actor's start
    assert all(0 < r["ready_at"] <= r["preloaded_at"] for r in reports), reports
    assert not any(r["ipython"] for r in reports), reports
