"""Promise 8: 8 writer processes and the web UI polling one SQLite file."""
from __future__ import annotations

import logging
import multiprocessing
import threading
import time

import pytest

from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec
from tests.reliability.conftest import record

pytestmark = pytest.mark.slow
WRITERS, RESULTS, EVERY = 8, 60, 2


def _writer(args: tuple) -> dict:
    """One driver-like process: a Writer committing every few results, and reads between."""
    url, sid, i = args
    from hpsearch.store.writer import Writer

    failures: list[str] = []

    class Failures(logging.Handler):
        def emit(self, record):
            failures.append(record.getMessage())

    logging.getLogger("hpsearch.writer").addHandler(Failures(logging.WARNING))
    try:
        store = Store(url)
        w = Writer(store)
        rid = f"p{i}"
        w.put(("trial", sid, rid, i, {"x": float(i)}, TrialStatus.RUNNING, time.time()))
        for it in range(1, RESULTS + 1):
            w.put(("result", sid, rid, it, float(it), {"loss": float(it)}, time.time()))
            if it % EVERY == 0:
                w.flush(120)  # a commit per few results: as much lock traffic as we can make
                store.trials(sid)
        w.put(("status", sid, rid, TrialStatus.COMPLETED, {"value": float(RESULTS)}, time.time()))
        w.close(120)
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
        failures.append(f"{type(exc).__name__}: {exc}")
    return {"writer": i, "failures": failures}


def test_eight_writers_and_the_web_ui_on_one_sqlite_file(tmp_path):
    from webui import create_app

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    store = Store(url)
    sid = store.create_study(__import__("hpsearch.spec", fromlist=["load"]).load(
        quad_spec("sqlite-8")), status=StudyStatus.RUNNING).id
    client = create_app({"TESTING": True, "DATABASE_URL": url}).test_client()
    stop = threading.Event()
    polls = {"requests": 0, "bad": []}

    def poll():
        paths = ["/api/v1/studies", f"/api/v1/studies/{sid}", f"/api/v1/studies/{sid}/trials"]
        while not stop.is_set():
            for path in paths:
                time.sleep(0.02)  # a browser's polling, not a busy loop holding the GIL
                r = client.get(path)
                polls["requests"] += 1
                if r.status_code != 200:
                    polls["bad"].append((path, r.status_code, r.get_data(as_text=True)[:300]))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    ctx = multiprocessing.get_context("spawn")
    try:
        with ctx.Pool(WRITERS) as pool:
            outcomes = pool.map(_writer, [(url, sid, i) for i in range(WRITERS)], chunksize=1)
    finally:
        stop.set()
        poller.join(30)
    failures = [f for o in outcomes for f in o["failures"]]
    assert not failures, failures[:5]  # no "database is locked", not even a retried one
    assert not polls["bad"], polls["bad"][:3]
    assert polls["requests"] > 0
    trials = store.trials(sid)
    assert len(trials) == WRITERS and all(t.status == TrialStatus.COMPLETED for t in trials)
    assert store.count_results(sid) == WRITERS * RESULTS
    for t in trials:
        assert [r.iteration for r in store.results(t.id)] == list(range(1, RESULTS + 1))
    record("sqlite_concurrency", writer_processes=WRITERS, results=WRITERS * RESULTS,
           commits=WRITERS * (RESULTS // EVERY + 2), ui_requests=polls["requests"],
           locked_errors=0, lost=0)
