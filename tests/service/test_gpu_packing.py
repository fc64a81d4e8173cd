"""Packing by declared GPU memory (``resources.gpu_memory_gb``) on a real two-node Ray cluster.

The second node of ``ray_cluster`` declares 2 (logical) GPUs and ``gpu_memory_gb: 16``.
Trials asking for a quarter GPU and 8 GiB each would fit 8 at once by GPU share and by
CPU; by declared memory only 2 fit, so no more than 2 may ever overlap.
"""
from __future__ import annotations

import pytest

from tests.service.conftest import submit_on_cluster

pytestmark = [pytest.mark.slow]


def test_trials_pack_by_declared_gpu_memory(ray_cluster, tmp_path):
    spec = {"name": "packed", "trainable": "tests.helpers:probe", "metric": "loss", "mode": "min",
            "space": {"x": {"uniform": [-5.0, 5.0]}}, "fixed": {"epochs": 2, "sleep": 0.5},
            "searcher": {"type": "random"}, "budget": {"trials": 5, "max_concurrent": 5},
            "resources": {"cpu": 0.5, "gpu": 0.25, "gpu_memory_gb": 8}, "seed": 2}
    store, study = submit_on_cluster(ray_cluster, spec, tmp_path)
    spans = [store.results(t.id)[-1].metrics for t in store.trials(study.id)]
    assert len(spans) == 5
    assert len({s["node"] for s in spans}) == 1  # only the node that declares GPU memory
    most = max(sum(1 for s in spans if s["t_start"] <= p < s["t_end"])
               for p in (s["t_start"] for s in spans))
    assert most == 2  # 16 GiB declared on the node, 8 GiB per trial: never more than 2
