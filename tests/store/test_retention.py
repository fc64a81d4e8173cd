"""Retention (hpsearch/store/retention.py): old curves thinned, finals and bests unchanged."""
from __future__ import annotations

import random
import time

import pytest

from hpsearch import spec as specmod
from hpsearch.cli import main as cli
from hpsearch.dispatcher import Retention
from hpsearch.store import Store, StudyStatus, TrialStatus, queries
from hpsearch.store.retention import RetentionPolicy, keep_positions, retain
from hpsearch.store.writer import ResultOp, StatusOp, TrialOp, Writer
from tests.helpers import quad_spec

DAY = 86400.0
K = 7


def _trial(w, sid, ray_id, number, n, *, seed, end, finished_ago=None):
    """A trial with ``n`` results (a noisy falling loss); ``end`` its final status op or None."""
    rng = random.Random(seed)
    t0 = time.time() - (finished_ago or 0) - n
    w.put(TrialOp(sid, ray_id, number, {"x": number}, TrialStatus.RUNNING, t0))
    values = [10.0 / i + rng.uniform(-1, 1) for i in range(1, n + 1)]
    for i, v in enumerate(values, 1):
        w.put(ResultOp(sid, ray_id, i, v, {"loss": v, "acc": -v, "epoch": i}, t0 + i))
    if end is not None:
        w.put(StatusOp(sid, ray_id, end, {"value": values[-1], "best_value": min(values)},
                       time.time() - finished_ago))
    return values


def _snapshot(store, study):
    trials = {t.number: (t.status, t.value, t.best_value, t.iterations, t.values)
              for t in store.trials(study.id)}
    return (trials, queries.scored_trials(store, study.id), queries.best_trial(store, study).number,
            queries.last_reported(store, study.id, "acc"))


def _curves(store, study):
    return {t.number: [(r.iteration, r.value, r.metrics) for r in store.results(t.id)]
            for t in store.trials(study.id)}


@pytest.fixture
def study(db_url):
    store = Store(db_url)
    sid = store.create_study(specmod.load(quad_spec("ret")), status=StudyStatus.RUNNING).id
    w = Writer(store)
    _trial(w, sid, "old-a", 0, 60, seed=1, end=TrialStatus.COMPLETED, finished_ago=2 * DAY)
    _trial(w, sid, "old-b", 1, 40, seed=2, end=TrialStatus.EARLY_STOPPED, finished_ago=3 * DAY)
    _trial(w, sid, "old-short", 2, K, seed=3, end=TrialStatus.COMPLETED, finished_ago=2 * DAY)
    _trial(w, sid, "recent", 3, 50, seed=4, end=TrialStatus.COMPLETED, finished_ago=60)
    _trial(w, sid, "running", 4, 50, seed=5, end=None)
    assert w.flush(60)
    w.close()
    return store, store.get_study(sid)


def test_retention_thins_old_curves_and_changes_no_final_or_best(study):
    store, st = study
    before_rows, before = _curves(store, st), _snapshot(store, st)
    done = retain(store, RetentionPolicy(points=K, after_s=DAY))
    after_rows = _curves(store, st)
    assert done.trials == 2 and done.deleted == (60 - K) + (40 - K)
    for number in (0, 1):  # old and finished: thinned
        full, kept = before_rows[number], after_rows[number]
        assert len(kept) == K
        assert kept[0] == full[0] and kept[-1] == full[-1]  # first and final, as reported
        best = min(full, key=lambda r: r[1])
        assert best in kept  # the best row, with the metrics reported with it
        assert all(r in full for r in kept)
    for number in (2, 3, 4):  # short, recent, running: untouched
        assert after_rows[number] == before_rows[number]
    assert _snapshot(store, st) == before  # trial rows, leaderboard, best, last reported
    # Idempotent: a second pass finds nothing to do and changes nothing.
    again = retain(store, RetentionPolicy(points=K, after_s=DAY))
    assert (again.trials, again.deleted) == (0, 0)
    assert _curves(store, st) == after_rows and _snapshot(store, st) == before


def test_retention_scope_study_and_since(study):
    store, st = study
    other = store.create_study(specmod.load(quad_spec("other")), status=StudyStatus.RUNNING).id
    assert retain(store, RetentionPolicy(K, DAY), study_id=other).trials == 0
    # since: only trials that finished after it (old-a finished 2 days ago, old-b 3)
    from hpsearch.store.models import utcnow
    from datetime import timedelta

    done = retain(store, RetentionPolicy(K, DAY), study_id=st.id,
                  since=utcnow() - timedelta(days=2, hours=12))
    assert done.trials == 1
    assert [len(v) for v in _curves(store, st).values()] == [K, 40, K, 50, 50]


def test_dispatcher_pass_runs_the_configured_policy(study, monkeypatch):
    store, st = study
    monkeypatch.setenv("HPSEARCH_RETAIN_POINTS", str(K))
    monkeypatch.setenv("HPSEARCH_RETAIN_AFTER_S", str(DAY))
    r = Retention(store)
    r.maybe_start()
    r.join(60)
    assert r.last is not None and r.last.trials == 2
    r.maybe_start()  # within HPSEARCH_RETAIN_EVERY_S: no second pass
    assert r._thread is not None and not r._thread.is_alive()
    assert [len(v) for v in _curves(store, st).values()] == [K, K, K, 50, 50]


@pytest.mark.parametrize("mode", ["min", "max"])
def test_keep_positions_first_last_best_and_at_most_k(mode):
    rng = random.Random(0)
    for _ in range(300):
        n, k = rng.randint(1, 80), rng.randint(3, 12)
        values = [rng.choice([None, float("nan"), rng.uniform(-5, 5)]) if rng.random() < 0.2
                  else rng.uniform(-5, 5) for _ in range(n)]
        keep = keep_positions(values, k, mode)
        assert len(keep) == min(n, k) and keep <= set(range(n))
        assert {0, n - 1} <= keep
        finite = [v for v in values if v is not None and v == v]
        if finite:
            best = max(finite) if mode == "max" else min(finite)
            assert any(values[i] == best for i in keep)
        # idempotent: thinning the kept curve again keeps all of it
        kept = [values[i] for i in sorted(keep)]
        assert keep_positions(kept, k, mode) == set(range(len(kept)))


def test_bad_policy_refused_with_every_problem(sqlite_url, capsys):
    assert RetentionPolicy(2, -1).problems() == [
        ("points", "must be a whole number >= 3 (first, last and best are always kept), got 2"),
        ("after_s", "must be a number of seconds >= 0, got -1")]
    assert cli(["db", "retain", "--db", sqlite_url, "--points", "2", "--after", "-5"]) == 2
    err = capsys.readouterr().err
    assert "--points: must be a whole number >= 3" in err and "--after: must be" in err
    assert cli(["db", "retain", "--db", sqlite_url]) == 2  # retention is off by default
    assert "retention is off" in capsys.readouterr().err


def test_cli_retain(study, capsys):
    store, st = study
    url = store.url
    assert cli(["db", "retain", "--db", url, "--points", str(K), "--after", str(DAY),
                "--study", st.name]) == 0
    assert "2 trials thinned" in capsys.readouterr().out
    assert [len(v) for v in _curves(store, st).values()] == [K, K, K, 50, 50]
