"""Promise 7: PostgreSQL backends terminated mid-study; the connection budget.

Two faults alternate: every connection of the study terminated (busy or idle in
its pool), and a write cut mid-transaction (the results table is locked so the
writer's batch waits, then its backend is terminated while it waits).
"""
from __future__ import annotations

import logging
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from hpsearch.orchestration import run_study
from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec
from tests.reliability.conftest import record

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# The driver's PostgreSQL connections, whatever the number of trials (trials never
# connect): its Store, the writer thread's, the cancel stopper's and the chart-frame
# keeper's (opened per round of refreshes), one each.
DRIVER_BUDGET = 4
TRIALS, EPOCHS = 24, 3


class _Count(logging.Handler):
    """Counts the writer's "database write failed ... retrying" warnings."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.n = 0

    def emit(self, record):
        self.n += "database write failed" in record.getMessage()


def test_terminated_backends_lose_nothing_and_connections_stay_in_budget(
        ray_session, home, pg_url):
    db = pg_url.rsplit("/", 1)[1]
    monitor = create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    locker = create_engine(pg_url, poolclass=NullPool)
    stop = threading.Event()
    seen = {"terminated": 0, "writes_cut": 0, "max_connections": 0}

    def cut_a_write(c) -> None:
        """Hold the results table so the writer's next batch waits, then terminate it there."""
        with locker.begin() as lock:
            lock.execute(text("LOCK TABLE results IN EXCLUSIVE MODE"))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not stop.is_set():
                pids = c.execute(text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = :d AND "
                    "application_name = 'hpsearch' AND wait_event_type = 'Lock'"),
                    {"d": db}).scalars().all()
                for pid in pids:  # a transaction with its batch half-applied
                    c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
                seen["writes_cut"] += len(pids)
                if pids:
                    break
                time.sleep(0.02)

    def fault_loop():
        with monitor.connect() as c:
            last, rounds = time.monotonic(), 0
            while not stop.is_set():
                n = c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d "
                                   "AND application_name = 'hpsearch'"), {"d": db}).scalar()
                seen["max_connections"] = max(seen["max_connections"], n)
                if time.monotonic() - last > 0.7:
                    rounds += 1
                    if rounds % 2 and seen["writes_cut"] < 3:
                        cut_a_write(c)
                    else:  # every connection of the study, busy or idle in its pool
                        seen["terminated"] += c.execute(text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = :d AND pid <> pg_backend_pid()"),
                            {"d": db}).scalar()
                    last = time.monotonic()
                time.sleep(0.05)

    store = Store(pg_url)
    spec = quad_spec("pg-faults", fixed={"epochs": EPOCHS, "sleep": 0.05},
                     budget={"trials": TRIALS, "max_concurrent": 2})
    thread = threading.Thread(target=fault_loop, daemon=True)
    retries = _Count()
    logging.getLogger("hpsearch.writer").addHandler(retries)
    thread.start()
    try:
        study = run_study(spec, store=store, progress=False)
    finally:
        stop.set()
        thread.join(30)
        monitor.dispose()
        locker.dispose()
        logging.getLogger("hpsearch.writer").removeHandler(retries)
    assert seen["terminated"] > 0 and seen["writes_cut"] > 0, seen
    assert retries.n >= seen["writes_cut"]  # each cut write was journaled and retried
    check = Store(pg_url)
    assert study.status == StudyStatus.COMPLETED, study.error
    trials = check.trials(study.id)
    assert len(trials) == TRIALS and all(t.status == TrialStatus.COMPLETED for t in trials)
    results = 0
    for t in trials:  # every reported result stored exactly once
        its = [r.iteration for r in check.results(t.id)]
        assert its == list(range(1, EPOCHS + 1)), (t.number, its)
        results += len(its)
    assert not list((home / "journal").glob("*.jsonl"))  # the journal was replayed and cleared
    assert seen["max_connections"] <= DRIVER_BUDGET, seen
    record("postgres_terminate_backend", terminated=seen["terminated"],
           writes_cut_mid_transaction=seen["writes_cut"], write_retries=retries.n,
           results=results, lost=0, duplicates=0, trials=TRIALS,
           max_connections=seen["max_connections"], connection_budget=DRIVER_BUDGET)
