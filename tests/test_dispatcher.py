"""Service mode: queued studies claimed atomically and run by dispatchers."""
from __future__ import annotations

import signal
import sys
import threading
import time

import pytest

from hpsearch import spec as specmod
from hpsearch.dispatcher import Dispatcher
from hpsearch.exceptions import SpecError
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


# -- leases, cancel and shutdown with real stand-in driver processes (no Ray) -------------
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


def _dispatcher(store: Store, name: str, **kw) -> Dispatcher:
    return Dispatcher(store, name=name, driver_command=SLEEPER, **kw)


def test_a_dispatcher_that_lost_its_lease_kills_its_driver(sqlite_url, home):
    store = Store(sqlite_url)
    (sid,) = _queue(store, 1)
    slow = _dispatcher(store, "slow", lease_s=0.0)  # its lease is over at once
    slow.step()
    proc = slow.drivers[sid].proc
    assert proc.poll() is None
    fast = _dispatcher(store, "fast")
    claim = fast.claim()
    assert claim.study_id == sid and claim.takeover
    slow.renew()  # finds the study owned by "fast": never two drivers for one study
    assert proc.wait(10) == -signal.SIGKILL and sid not in slow.drivers
    assert store.get_study(sid).lease_owner == "fast"


def test_shutdown_leaves_the_study_for_takeover(sqlite_url, home):
    store = Store(sqlite_url)
    (sid,) = _queue(store, 1)
    d = _dispatcher(store, "leaving")
    d.step()
    store.apply([("trial", sid, "r0", 0, {"x": 1.0}, TrialStatus.RUNNING, time.time())])
    proc = d.drivers[sid].proc
    d.shutdown(grace_s=5)
    assert proc.poll() is not None
    study = store.get_study(sid)
    assert study.status == StudyStatus.RUNNING and study.lease_owner == "leaving"
    assert [t.status for t in store.trials(sid)] == [TrialStatus.INTERRUPTED]
    claim = _dispatcher(store, "next").claim()  # no need to wait for the lease
    assert claim.study_id == sid and claim.takeover


def test_claims_follow_priority_then_fair_share_then_arrival(db_url, home):
    """Two slots, three queued studies: the high priority first, then the owner with no
    study running (bob) before alice's earlier one; a freed slot takes alice's."""
    store = Store(db_url)
    a1 = store.create_study(specmod.load(quad_spec("a1")), owner="alice").id
    a2 = store.create_study(specmod.load(quad_spec("a2", priority=5)), owner="alice").id
    b1 = store.create_study(specmod.load(quad_spec("b1")), owner="bob").id
    d = _dispatcher(store, "fair", max_studies=2)
    try:
        d.step()
        assert list(d.drivers) == [a2, b1]
        assert store.get_study(a1).status == StudyStatus.QUEUED
        d.drivers[b1].proc.kill()  # bob's study ends (its driver exits): one slot frees
        d.drivers[b1].proc.wait(10)
        d.step()
        assert list(d.drivers) == [a2, a1]
    finally:
        d.shutdown(grace_s=5)


def test_priority_and_the_concurrency_cap_are_checked_at_the_door(monkeypatch):
    monkeypatch.setenv("HPSEARCH_STUDY_MAX_CONCURRENT", "4")
    with pytest.raises(SpecError) as err:
        specmod.validate(quad_spec("x", priority=101, budget={"trials": 6, "max_concurrent": 8}))
    fields = dict(err.value.problems)
    assert set(fields) == {"priority", "budget.max_concurrent"}, fields
    assert "8" in fields["budget.max_concurrent"] and "4" in fields["budget.max_concurrent"]
    ok = specmod.validate(quad_spec("y", priority=-3, budget={"trials": 6, "max_concurrent": 4}))
    assert ok.priority == -3 and ok.to_dict()["priority"] == -3
    # the default leaves a spec's stored form (and its fingerprint) as it was
    plain = specmod.validate(quad_spec("z"))
    assert "priority" not in plain.to_dict()
    assert plain.fingerprint() == specmod.validate(quad_spec("z", priority=7)).fingerprint()


def test_a_driver_that_ignores_cancel_is_killed(sqlite_url, home):
    store = Store(sqlite_url)
    (sid,) = _queue(store, 1)
    d = _dispatcher(store, "strict", cancel_grace_s=0.0)
    d.step()
    proc = d.drivers[sid].proc
    assert store.request_cancel(sid) == StudyStatus.RUNNING  # asks the driver to stop
    d.step()  # sees the cancel
    time.sleep(0.1)
    d.step()  # the grace is over: killed, recorded as cancelled
    assert proc.poll() is not None and sid not in d.drivers
    study = store.get_study(sid)
    assert study.status == StudyStatus.CANCELLED and study.lease_owner is None
    assert study.end_reason == "cancelled; its driver ignored the cancel for 0 s and was killed"


def test_a_driver_that_dies_fails_its_study_with_its_last_words(sqlite_url, home):
    store = Store(sqlite_url)
    (sid,) = _queue(store, 1)
    d = Dispatcher(store, name="d", driver_command=[
        sys.executable, "-c", "import sys; print('CUDA out of memory'); sys.exit(3)"])
    d.step()
    d.drivers[sid].proc.wait(30)
    d.step()
    study = store.get_study(sid)
    assert study.status == StudyStatus.FAILED and study.lease_owner is None
    assert study.error == "the driver process exited with code 3: CUDA out of memory"


def test_json_log_lines():
    import json
    import logging

    from hpsearch.monitoring import JsonFormatter

    record = logging.LogRecord("hpsearch.dispatcher", logging.INFO, __file__, 1, "claimed %s",
                               (7,), None)
    record.event, record.study_id = "study.claimed", 7
    d = json.loads(JsonFormatter().format(record))
    assert d["message"] == "claimed 7" and d["event"] == "study.claimed" and d["study_id"] == 7
    assert d["level"] == "info" and d["logger"] == "hpsearch.dispatcher" and d["ts"].endswith("Z")


def test_a_driver_ends_when_its_dispatcher_is_killed(tmp_path):
    """A driver has a session of its own; it must still not outlive its dispatcher."""
    import os
    import subprocess

    child = ("import os, time; from hpsearch.dispatcher import exit_with_parent; "
             "exit_with_parent(int(os.environ['PARENT']), every=0.2); time.sleep(60)")
    parent = ("import os, subprocess, sys, time; "
              f"p = subprocess.Popen([sys.executable, '-c', {child!r}], start_new_session=True, "
              "env={**os.environ, 'PARENT': str(os.getpid())}); print(p.pid, flush=True); "
              "time.sleep(60)")
    dispatcher = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    driver = int(dispatcher.stdout.readline())
    time.sleep(1.0)  # the driver is up and watching
    dispatcher.kill()
    dispatcher.wait(10)
    deadline = time.time() + 20
    while time.time() < deadline and os.path.exists(f"/proc/{driver}") and \
            open(f"/proc/{driver}/stat").read().split()[2] != "Z":
        time.sleep(0.1)
    gone = not os.path.exists(f"/proc/{driver}") or open(f"/proc/{driver}/stat").read().split()[2] == "Z"
    if not gone:
        os.kill(driver, signal.SIGKILL)
    assert gone
