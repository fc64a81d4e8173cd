"""Service mode: queued studies claimed atomically and run by dispatchers."""
from __future__ import annotations

import threading

import pytest

from hpsearch import spec as specmod
from hpsearch.dispatcher import Dispatcher
from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec


def _queue(store: Store, n: int, **over) -> list[int]:
    return [store.create_study(specmod.load(quad_spec(f"q{i}", **over))).id for i in range(n)]


def test_two_dispatchers_never_claim_the_same_study(pg_url):
    store = Store(pg_url)
    ids = _queue(store, 30)
    claims: dict[str, list[int]] = {"a": [], "b": []}

    def worker(key):
        d = Dispatcher(Store(pg_url, pool_size=1), name=key)
        while (c := d.claim()) is not None:
            claims[key].append(c.study_id)

    threads = [threading.Thread(target=worker, args=(k,)) for k in claims]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = claims["a"] + claims["b"]
    assert sorted(got) == sorted(ids)  # every study claimed, none twice
    assert all(s.status == StudyStatus.RUNNING for s in store.list_studies())


def test_expired_lease_is_taken_over(sqlite_url):
    store = Store(sqlite_url)
    (sid,) = _queue(store, 1)
    first = Dispatcher(store, name="first", lease_s=0.0)
    assert first.claim().study_id == sid
    second = Dispatcher(store, name="second")
    claim = second.claim()
    assert claim is not None and claim.study_id == sid and claim.takeover
    assert store.get_study(sid).lease_owner == "second"
    assert second.claim() is None  # a live lease is not taken


@pytest.mark.slow
def test_dispatcher_runs_queued_studies(home, monkeypatch):
    monkeypatch.setenv("HPSEARCH_ALLOWED_MODULES", "tests.helpers")
    store = Store()
    ids = _queue(store, 2, budget={"trials": 3, "max_concurrent": 1})
    Dispatcher(store, max_studies=2).run(poll_s=0.5, until_idle=True)
    for sid in ids:
        study = store.get_study(sid)
        assert study.status == StudyStatus.COMPLETED, study.error
        assert study.lease_owner is None
        trials = store.trials(sid)
        assert len(trials) == 3 and all(t.status == TrialStatus.COMPLETED for t in trials)
