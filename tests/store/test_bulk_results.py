"""Bulk result writes (COPY on PostgreSQL): exact round trip, and upserts when a row exists."""
from __future__ import annotations

import time

from hpsearch import spec as specmod
from hpsearch.store import Store, StudyStatus, TrialStatus
from hpsearch.store.writer import COPY_MIN_ROWS, FULL_BATCH, ResultOp, TrialOp, Writer
from tests.helpers import quad_spec

# What COPY's text format would misread unless escaped: backslashes, tabs, newlines, \N.
TRICKY = {"note": 'a\\b\t"c"\n\\N', "unicode": "é✓", "none": None, "flag": True, "n": 3}


def test_results_round_trip_exactly_and_a_later_re_report_replaces(db_url):
    store = Store(db_url)
    sid = store.create_study(specmod.load(quad_spec("bulk")), status=StudyStatus.RUNNING).id
    w = Writer(store)
    t = time.time()
    w.put(TrialOp(sid, "r1", 0, {"x": 1.0}, TrialStatus.RUNNING, t))
    n = 2 * COPY_MIN_ROWS  # a burst: the batch goes by COPY on PostgreSQL
    for i in range(1, n + 1):
        w.put(ResultOp(sid, "r1", i, None if i == 3 else float(i), {**TRICKY, "i": i}, t + i))
    assert w.flush(30)
    # A restored trial reports iterations 5..n+50 again: 5..n replace, the rest are new
    # (on PostgreSQL the COPY meets existing rows and the batch is upserted instead).
    for i in range(5, n + 51):
        w.put(ResultOp(sid, "r1", i, -float(i), {"loss": -float(i)}, t + 1000 + i))
    assert w.flush(30)
    w.put(ResultOp(sid, "r1", 7, 7.5, {"loss": 7.5}, t))  # a quiet batch: one upsert
    assert w.flush(30)
    w.close()
    (trial,) = store.trials(sid)
    rows = store.results(trial.id)
    assert [r.iteration for r in rows] == list(range(1, n + 51))
    for r in rows[:4]:
        assert r.metrics == {**TRICKY, "i": r.iteration}
    assert rows[2].value is None and rows[0].value == 1.0
    assert rows[6].value == 7.5 and rows[6].metrics == {"loss": 7.5}
    assert [r.value for r in rows[7:]] == [-float(i) for i in range(8, n + 51)]
    assert rows[4].metrics == {"loss": -5.0}
    assert trial.iterations == n + 50


def test_results_carry_two_indexes_not_three(db_url):
    """The unique (trial_id, iteration) serves lookups by trial: no index on trial_id alone."""
    from sqlalchemy import inspect

    store = Store(db_url)
    insp = inspect(store.engine)
    names = {i["name"] for i in insp.get_indexes("results")}
    uniques = [tuple(u["column_names"]) for u in insp.get_unique_constraints("results")]
    assert "ix_results_trial_id" not in names
    assert ("trial_id", "iteration") in uniques
    # a trial's curve is read through it (PostgreSQL shows the plan)
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect() as c:
            c.exec_driver_sql("SET enable_seqscan = off")
            plan = "\n".join(r[0] for r in c.exec_driver_sql(
                "EXPLAIN SELECT * FROM results WHERE trial_id = 1 ORDER BY iteration"))
        assert "uq_results_trial_iteration" in plan


def test_a_full_batch_is_written_without_waiting_out_the_linger(db_url):
    """A burst already as large as FULL_BATCH gains nothing from lingering: it lands at once
    (a study's final flush then waits only for what came after it)."""
    store = Store(db_url)
    sid = store.create_study(specmod.load(quad_spec("full")), status=StudyStatus.RUNNING).id
    w = Writer(store)
    w.linger_s = 600.0  # from the next batch on, a small batch would wait this long for company
    w.put(TrialOp(sid, "r1", 0, {"x": 1.0}, TrialStatus.RUNNING, time.time()))
    assert w.flush(30)  # a flush does not linger
    t = time.time()
    w.put_many([ResultOp(sid, "r1", i, float(i), {"loss": float(i)}, t) for i in range(1, FULL_BATCH + 1)])
    deadline = time.monotonic() + 30
    while store.count_results(sid) < FULL_BATCH and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.count_results(sid) == FULL_BATCH  # no flush() asked for it
    w.close()
