"""A study's chart frame (hpsearch/store/frames.py) holds exactly what the raw query of its
scored trials gives: kept by the writer as trials end, when the study ends, refreshed by a
reader when stale, gone with the study. On SQLite and PostgreSQL."""
from __future__ import annotations

import time

import numpy as np
import pytest

from hpsearch import spec as specmod
from hpsearch.store import Store, StudyStatus, TrialStatus, frames, queries
from hpsearch.store.writer import Writer
from tests.helpers import quad_spec


def _study(store, name="fr"):
    spec = specmod.load(quad_spec(name, space={"x": {"uniform": [-5.0, 5.0]},
                                               "opt": {"choice": ["adam", "sgd"]},
                                               "n": {"int": [1, 4]}}))
    return store.create_study(spec, status=StudyStatus.RUNNING).id


def _stored(store, sid):
    with store.engine.connect() as conn:
        got = frames._read_row(conn, sid)
    return frames.decode(got[1], got[0]) if got else None


def _same(frame, store, sid) -> bool:
    """The frame's rows equal the raw read model's scored trials."""
    raw = queries.scored_trials(store, sid)
    return frame is not None and frame.rows() == raw


def _trial(sid, k, params, status, value, t):
    ops = [("trial", sid, f"r{k}", k, params, TrialStatus.RUNNING, t)]
    seen = value if np.isfinite(value) else 1.0  # JSON holds no infinity: the result is finite
    ops += [("result", sid, f"r{k}", i, seen + i, {"loss": seen + i}, t) for i in (1, 2)]
    if status != TrialStatus.RUNNING:
        ops.append(("status", sid, f"r{k}", status,
                    {"value": value} if status in TrialStatus.SCORED else {"error": "boom"}, t))
    return ops


def _until(check, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_the_writer_keeps_the_frame_as_trials_end_and_the_study_end_seals_it(db_url):
    store = Store(db_url)
    sid = _study(store)
    w = Writer(store)
    t = time.time()
    for op in (_trial(sid, 0, {"x": 1.5, "opt": "adam", "n": 2}, TrialStatus.COMPLETED, 0.3, t)
               + _trial(sid, 1, {"x": -2.0, "opt": "sgd", "n": 1}, TrialStatus.EARLY_STOPPED, 0.9, t)
               + _trial(sid, 2, {"x": 0.0, "opt": "sgd", "n": 3}, TrialStatus.ERROR, 0.0, t)
               + _trial(sid, 3, {"x": 4.0, "opt": "adam", "n": 4}, TrialStatus.RUNNING, 0.1, t)):
        w.put(op)
    assert w.flush(30)
    # written by the writer's frame keeper, before anyone draws a chart
    assert _until(lambda: _same(_stored(store, sid), store, sid))
    assert [r.number for r in _stored(store, sid).rows()] == [0, 1]
    # results of a running trial do not change it; its end does (incrementally)
    w.put(("result", sid, "r3", 3, 0.05, {"loss": 0.05}, t))
    w.put(("status", sid, "r3", TrialStatus.COMPLETED, {"value": 0.05}, t))
    for op in _trial(sid, 4, {"x": 2.5, "opt": "sgd"}, TrialStatus.COMPLETED, 0.7, t):  # no "n"
        w.put(op)
    assert w.flush(30)
    assert _until(lambda: _same(_stored(store, sid), store, sid))
    frame = _stored(store, sid)
    assert [r.number for r in frame.rows()] == [0, 1, 3, 4]
    assert frame.params["opt"].labels == ["adam", "sgd"] and frame.params["n"].ints
    assert np.isnan(frame.params["n"].numbers[-1]) and "n" not in frame.rows()[-1].params
    w.close()
    # A trial row written without the writer (another process); the study's end refreshes.
    store.apply(_trial(sid, 5, {"x": -4.0, "opt": "adam", "n": 1}, TrialStatus.COMPLETED, 0.01,
                       t))
    assert not _same(_stored(store, sid), store, sid)
    store.set_study_status(sid, StudyStatus.COMPLETED)
    assert _same(_stored(store, sid), store, sid)
    assert len(_stored(store, sid)) == 5


def test_a_reader_refreshes_a_stale_frame_and_a_delete_removes_it(db_url):
    store = Store(db_url)
    sid, other = _study(store, "a"), _study(store, "b")
    t = time.time()
    store.apply(_trial(sid, 0, {"x": 1.0, "opt": "adam", "n": 1}, TrialStatus.COMPLETED, 2.0, t))
    store.apply(_trial(other, 0, {"x": 3.0, "opt": "sgd", "n": 2}, TrialStatus.COMPLETED, 1.0, t))
    assert _stored(store, sid) is None  # store.apply alone keeps no frame
    assert _same(frames.load(store, sid), store, sid)  # the reader builds and saves it
    assert _same(_stored(store, sid), store, sid)
    store.apply(_trial(sid, 1, {"x": -1.0, "opt": "sgd", "n": 3}, TrialStatus.COMPLETED, 0.5, t)
                + [("result", sid, "r0", 9, 7.0, {"loss": 7.0}, t)])  # a late result: ignored
    frame = frames.load(store, sid)  # stale in SQL and in this process's memo: refreshed
    assert _same(frame, store, sid) and len(frame) == 2
    # numbers are kept in trial order whatever order trials end in
    store.apply(_trial(sid, 7, {"x": 0.5, "opt": "adam", "n": 2}, TrialStatus.RUNNING, 0.0, t))
    store.apply(_trial(sid, 6, {"x": 0.2, "opt": "adam", "n": 2}, TrialStatus.COMPLETED, 0.4, t))
    store.apply([("status", sid, "r7", TrialStatus.COMPLETED, {"value": 0.1}, t)])
    assert [r.number for r in frames.load(store, sid).rows()] == [0, 1, 6, 7]
    assert _same(frames.load(store, sid), store, sid)
    frames.load(store, other)
    store.delete_study(sid)
    assert _stored(store, sid) is None
    assert _same(_stored(store, other), store, other)
    with pytest.raises(Exception):
        store.get_study(sid)


def test_non_finite_values_and_odd_params_match_the_raw_query(db_url):
    store = Store(db_url)
    sid = _study(store)
    t = time.time()
    store.apply(_trial(sid, 0, {"x": 1.0, "opt": "adam", "n": 1, "flag": True}, TrialStatus.COMPLETED,
                       float("inf"), t))
    store.apply(_trial(sid, 1, {"x": None, "opt": 3, "n": 2}, TrialStatus.COMPLETED, 0.5, t))
    store.apply(_trial(sid, 2, {"x": 2.0, "opt": "sgd", "n": 2, "flag": False},
                       TrialStatus.COMPLETED, 0.25, t))
    frame = frames.load(store, sid)
    raw = queries.scored_trials(store, sid)
    assert [r.number for r in raw] == [1, 2]
    # categories come back as their text, as a chart shows them
    assert [(r.number, r.value) for r in frame.rows()] == [(r.number, r.value) for r in raw]
    assert [r.params.get("opt") for r in frame.rows()] == ["3", "sgd"]
    assert [r.params.get("flag") for r in frame.rows()] == [None, "False"]
    assert [r.params.get("x") for r in frame.rows()] == [None, 2.0]
    # a null value is told apart from a parameter the trial does not use
    assert "x" in frame.rows()[0].params and "flag" not in frame.rows()[0].params


def test_saving_a_frame_waits_for_a_sqlite_writer(sqlite_url):
    """The driver's writer holds SQLite's write lock and commits while a frame is saved: the
    save waits for it (BEGIN IMMEDIATE) instead of failing with "database is locked"."""
    import threading

    from sqlalchemy import text

    store = Store(sqlite_url)
    sid = _study(store)
    store.apply(_trial(sid, 0, {"x": 1.0, "opt": "adam", "n": 1}, TrialStatus.COMPLETED, 2.0,
                       time.time()))
    frame = frames.refresh(store, sid)
    frame.marker = "old"
    other = Store(sqlite_url)
    locked = threading.Event()

    def writer():
        with other.engine.execution_options(sqlite_immediate=True).begin() as conn:
            conn.execute(text("UPDATE studies SET notes = 'x' WHERE id = :i"), {"i": sid})
            locked.set()
            time.sleep(0.5)

    t = threading.Thread(target=writer)
    t.start()
    assert locked.wait(10)
    frames._save(store, sid, frame)  # raised OperationalError before BEGIN IMMEDIATE
    t.join()
    assert _stored(store, sid).marker == "old"
