"""A dispatcher on a real two-node Ray cluster with a (logical) GPU pool, against PostgreSQL.

Three studies are submitted through the JSON API and the CLI (``--server``):
two ask for ``gpu: 1`` per trial, one is pinned by the ``gpu_node`` custom
resource. Each trial reports its Ray node, GPU ids, CUDA_VISIBLE_DEVICES and
start/end times (tests/helpers.py:probe).
"""
from __future__ import annotations

import itertools
import subprocess

import pytest
import yaml

from hpsearch.client import Client
from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.service.conftest import cli, events, service_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def probe_spec(name: str, trials: int, resources: dict) -> dict:
    return {"name": name, "trainable": "tests.helpers:probe", "metric": "loss", "mode": "min",
            "space": {"x": {"uniform": [-5.0, 5.0]}}, "fixed": {"epochs": 2, "sleep": 0.4},
            "searcher": {"type": "random"}, "budget": {"trials": trials, "max_concurrent": 4},
            "resources": resources, "seed": 1}


def test_gpu_pool_on_a_ray_cluster(ray_cluster, pg_url, services, tmp_path):
    url = services.web(pg_url)
    _, log = services.dispatcher(pg_url, ray_cluster, "--max-studies", "3", "--lease", "20")
    client = Client(url)
    gpu_a = client.submit(probe_spec("gpu-a", 4, {"cpu": 1, "gpu": 1}))
    pinned = client.submit(probe_spec("pinned", 3, {"cpu": 1, "custom": {"gpu_node": 1}}))
    path = tmp_path / "gpu-b.yaml"
    path.write_text(yaml.safe_dump(probe_spec("gpu-b", 3, {"cpu": 1, "gpu": 1})))
    proc = subprocess.run(cli("submit", str(path), "--server", url), env=service_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("queued study ")  # returned at once, with the id
    gpu_b_id = int(proc.stdout.split()[2])

    store = Store(pg_url)
    ids = {"gpu-a": gpu_a.id, "pinned": pinned.id, "gpu-b": gpu_b_id}
    wait_for(lambda: all(store.get_study(i).status in StudyStatus.FINISHED for i in ids.values()),
             240, "the three studies to finish")

    # Each study ran exactly once: one claim, one driver, no takeover.
    started = [e["study_id"] for e in events(log, "study.started")]
    assert sorted(started) == sorted(ids.values())
    assert not [e for e in events(log, "study.claimed") if e["takeover"]]

    runs = {}  # trial -> what it reported
    for name, sid in ids.items():
        study = store.get_study(sid)
        assert study.status == StudyStatus.COMPLETED, study.error
        trials = store.trials(sid)
        assert len(trials) == study.n_trials == len({t.number for t in trials})
        assert all(t.status == TrialStatus.COMPLETED for t in trials)
        for t in trials:
            results = store.results(t.id)
            assert [r.iteration for r in results] == [1, 2]  # every result is in SQL
            last = results[-1].metrics
            runs[(name, t.number)] = {**last, "t_start": last["t_start"], "t_end": last["t_end"]}
            assert t.node_id == last["node"] and t.slot is not None  # the row says where it ran

    gpu_runs = {k: v for k, v in runs.items() if k[0] != "pinned"}
    gpu_nodes = {v["node"] for v in gpu_runs.values()}
    assert len(gpu_nodes) == 1  # only the node that has GPUs (the head has none)
    for v in gpu_runs.values():
        assert v["gpu_ids"] in ("0", "1")  # one GPU each
        assert v["cuda"] == v["gpu_ids"]  # and the trial sees only that one
    # The custom resource pins the third study to the same node, without GPUs.
    assert {v["node"] for k, v in runs.items() if k[0] == "pinned"} == gpu_nodes
    assert all(v["gpu_ids"] == "" for k, v in runs.items() if k[0] == "pinned")

    # Never more than 2 GPU trials at once, and overlapping ones hold different GPUs.
    spans = list(gpu_runs.values())
    most = max(sum(1 for s in spans if s["t_start"] <= p < s["t_end"])
               for p in (s["t_start"] for s in spans))
    assert most == 2  # the pool was used in full, never beyond
    for a, b in itertools.combinations(spans, 2):
        if a["t_start"] < b["t_end"] and b["t_start"] < a["t_end"]:
            assert a["gpu_ids"] != b["gpu_ids"]
