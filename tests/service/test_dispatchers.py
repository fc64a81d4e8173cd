"""Dispatchers as real processes against one PostgreSQL database, on the test Ray cluster.

* two dispatchers and many queued studies: no study runs twice;
* a dispatcher SIGKILLed mid-study (with its driver): a second one takes the
  study over when the lease expires and finishes it, keeping every finished
  trial exactly once.
"""
from __future__ import annotations

import os
import signal
import urllib.request

import pytest

from hpsearch import spec as specmod
from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec
from tests.service.conftest import events, free_port, kill_session, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_two_dispatchers_never_run_a_study_twice(ray_cluster, pg_url, services, home):
    store = Store(pg_url)
    # Five studies: one more than the two dispatchers take at once (two each).
    ids = [store.create_study(specmod.load(quad_spec(
        f"many-{i}", trainable="tests.helpers:noop", fixed={},
        budget={"trials": 1, "max_concurrent": 1}))).id for i in range(5)]
    port = free_port()
    _, log_a = services.dispatcher(pg_url, ray_cluster, "--max-studies", "2",
                                   "--metrics-port", str(port), name="a")
    _, log_b = services.dispatcher(pg_url, ray_cluster, "--max-studies", "2", name="b")
    wait_for(lambda: all(s.status in StudyStatus.FINISHED and s.lease_owner is None
                         for s in store.list_studies()), 150, "every queued study to finish")
    ran_a = [e["study_id"] for e in events(log_a, "study.started")]
    ran_b = [e["study_id"] for e in events(log_b, "study.started")]
    assert sorted(ran_a + ran_b) == sorted(ids)  # each started exactly once, by one of them
    assert not set(ran_a) & set(ran_b)
    for sid in ids:
        study = store.get_study(sid)
        assert study.status == StudyStatus.COMPLETED, study.error
        trials = store.trials(sid)
        assert len(trials) == 1 and trials[0].status == TrialStatus.COMPLETED
        assert study.lease_owner is None  # released when done
    # Dispatcher a's /metrics: its claims, and its drivers' result write latency.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if line[:1] not in ("#", ""))
    assert float(next(v for k, v in lines.items()
                      if k.startswith("hpsearch_dispatcher_claims_total") and 'kind="new"' in k)) \
        == len(ran_a)
    if ran_a:
        assert float(lines["hpsearch_result_write_seconds_count"]) > 0
    # The pool (hpsearch/pool.py): the cluster's resources from Ray's GCS (a head of 2 CPUs
    # and a node of 4 CPUs, 2 GPUs, gpu_node 2, gpu_memory_gb 16), nothing requested now.
    pool = {k: float(v) for k, v in lines.items() if k.startswith("hpsearch_pool_resources")}
    want = {"CPU": 6, "GPU": 2, "gpu_node": 2, "gpu_memory_gb": 16}
    for resource, amount in want.items():
        assert pool[f'hpsearch_pool_resources{{kind="total",resource="{resource}"}}'] == amount
        assert pool[f'hpsearch_pool_resources{{kind="requested",resource="{resource}"}}'] == 0
        available = pool[f'hpsearch_pool_resources{{kind="available",resource="{resource}"}}']
        used = pool[f'hpsearch_pool_resources{{kind="used",resource="{resource}"}}']
        assert 0 <= available <= amount and used == amount - available


def test_killed_dispatcher_is_taken_over_after_its_lease(ray_cluster, pg_url, services, home):
    store = Store(pg_url)
    spec = quad_spec("takeover", fixed={"epochs": 3, "sleep": 0.4},
                     budget={"trials": 6, "max_concurrent": 2})
    sid = store.create_study(specmod.load(spec)).id
    first, log_a = services.dispatcher(pg_url, ray_cluster, "--lease", "4", name="first")
    started = wait_for(lambda: events(log_a, "study.started"), 90, "the first driver")
    wait_for(lambda: len(store.trials(sid, status=TrialStatus.COMPLETED)) >= 2, 120,
             "two finished trials")
    # SIGKILL the dispatcher and its driver's process group: nothing gets to clean up.
    first.send_signal(signal.SIGKILL)
    driver = started[0]["driver_pid"]
    os.killpg(driver, signal.SIGKILL)
    kill_session(driver)
    first.wait(10)
    before = {t.number: (t.params, t.value) for t in store.trials(sid, status=TrialStatus.COMPLETED)}
    owner = store.get_study(sid).lease_owner
    assert store.get_study(sid).status == StudyStatus.RUNNING and owner

    _, log_b = services.dispatcher(pg_url, ray_cluster, "--lease", "4", name="second")
    wait_for(lambda: store.get_study(sid).status in StudyStatus.FINISHED, 150,
             "the second dispatcher to finish the study")
    claims = events(log_b, "study.claimed")
    assert [(c["study_id"], c["takeover"], c["previous_owner"]) for c in claims] == \
        [(sid, True, owner)]
    study = store.get_study(sid)
    assert study.status == StudyStatus.COMPLETED, study.error
    trials = store.trials(sid)
    after = {t.number: (t.params, t.value) for t in trials}
    assert len(after) == len(trials)  # every trial number once
    for number, row in before.items():  # finished trials kept, unchanged
        assert after[number] == row
    assert not [t for t in trials if t.status in (TrialStatus.RUNNING, TrialStatus.PENDING)]
    done = [t for t in trials if t.status == TrialStatus.COMPLETED]
    print(f"takeover: {len(before)} finished before the kill, {len(trials)} trials in the end, "
          f"{len(done)} completed; statuses {sorted(t.status for t in trials)}")
    assert len(done) == spec["budget"]["trials"] == len(trials)  # exactly the budget
    for t in done:  # no (trial, iteration) result stored twice, none missing
        assert [r.iteration for r in store.results(t.id)] == [1, 2, 3]
