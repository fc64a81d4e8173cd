"""The store on both backends: schema, studies, batched writes, idempotent results."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, text

from hpsearch import spec as specmod
from hpsearch.exceptions import ConflictError, NotFoundError, StorageError
from hpsearch.store import Store, StudyStatus, TrialStatus
from hpsearch.store import migrate, queries
from hpsearch.store.writer import Writer
from tests.helpers import quad_spec


def spec(name="s1"):
    return specmod.load(quad_spec(name))


def test_new_database_upgrades_itself(db_url):
    store = Store(db_url)
    assert migrate.current_revision(store.engine) == migrate.head_revision()


@pytest.mark.filterwarnings("ignore:.*expression-based index:UserWarning",
                            "ignore:.*expression-based index")
def test_the_migrations_build_the_schema_the_models_declare(db_url):
    """One truth for the schema: a database built by the migrations alone has every table,
    column, type, index and constraint of hpsearch/store/models.py, and nothing else (a
    model change without its migration fails here). SQLite cannot reflect the two
    expression indexes of 0018; PostgreSQL compares them too."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hpsearch.store.models import Base

    store = Store(db_url)
    with store.engine.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c, opts={"compare_type": True}),
                                Base.metadata)
    assert diff == []


def test_sqlite_wal_and_busy_timeout(sqlite_url):
    store = Store(sqlite_url)
    with store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_create_get_conflict_and_idempotency(db_url):
    store = Store(db_url)
    s = store.create_study(spec(), owner="ann")
    assert store.get_study("s1").id == s.id == store.get_study(str(s.id)).id
    with pytest.raises(ConflictError):
        store.create_study(spec())
    with pytest.raises(NotFoundError):
        store.get_study("nope")
    a = store.create_study(spec("s2"), idempotency_key="k1")
    b = store.create_study(spec("s2"), idempotency_key="k1")
    assert a.id == b.id and len(store.list_studies()) == 2


def test_writer_orders_batches_and_upserts(db_url):
    store = Store(db_url)
    sid = store.create_study(spec(), status=StudyStatus.RUNNING).id
    w = Writer(store)
    t = time.time()
    w.put(("trial", sid, "r1", 0, {"x": 1.0}, TrialStatus.RUNNING, t))
    for i in range(1, 201):
        w.put(("result", sid, "r1", i, float(i), {"loss": float(i)}, t))
    w.put(("result", sid, "r1", 5, -5.0, {"loss": -5.0}, t))  # a re-report after restore
    w.put(("status", sid, "r1", TrialStatus.COMPLETED, {"value": 200.0, "best_value": 1.0}, t))
    assert w.flush(30)
    w.close()
    (trial,) = store.trials(sid)
    assert trial.status == TrialStatus.COMPLETED and trial.value == 200.0
    assert trial.iterations == 200
    results = store.results(trial.id)
    assert [r.iteration for r in results] == list(range(1, 201))
    assert results[4].value == -5.0  # replaced, not duplicated
    assert [e.status for e in store.trial_events(trial.id)] == ["RUNNING", "COMPLETED"]


def test_late_running_report_does_not_flip_finished_trial(db_url):
    store = Store(db_url)
    sid = store.create_study(spec(), status=StudyStatus.RUNNING).id
    t = time.time()
    store.apply([("trial", sid, "r1", 0, {"x": 1.0}, TrialStatus.RUNNING, t),
                 ("status", sid, "r1", TrialStatus.COMPLETED, {"value": 1.0}, t),
                 ("status", sid, "r1", TrialStatus.RUNNING, {}, t)])
    assert store.trials(sid)[0].status == TrialStatus.COMPLETED


def test_interrupt_unfinished_and_cancel(db_url):
    store = Store(db_url)
    sid = store.create_study(spec(), status=StudyStatus.RUNNING).id
    t = time.time()
    store.apply([("trial", sid, "a", 0, {"x": 1.0}, TrialStatus.RUNNING, t),
                 ("trial", sid, "b", 1, {"x": 2.0}, TrialStatus.RUNNING, t),
                 ("status", sid, "b", TrialStatus.COMPLETED, {"value": 2.0}, t)])
    assert store.interrupt_unfinished(sid, "driver died") == 1
    assert [t.status for t in store.trials(sid)] == [TrialStatus.INTERRUPTED, TrialStatus.COMPLETED]
    assert store.request_cancel(sid) == StudyStatus.RUNNING and store.cancel_requested(sid)
    queued = store.create_study(spec("q")).id
    assert store.request_cancel(queued) == StudyStatus.CANCELLED
    assert store.get_study(queued).end_reason == "cancelled before it started"
    assert store.get_study(sid).end_reason is None  # asked to stop: its driver decides
    with pytest.raises(ConflictError):
        store.request_cancel(queued)


def test_waiting_is_a_running_studys_and_goes_with_its_run(db_url):
    """``Study.waiting`` (what the trials of a study on a cluster wait for): written only
    while the study runs, and cleared by any change of its status (a new driver, its end)."""
    store = Store(db_url)
    sid = store.create_study(spec(), status=StudyStatus.RUNNING).id
    store.set_waiting(sid, "no node of the cluster can run a trial: resources.gpu: ...")
    assert store.get_study(sid).waiting.startswith("no node of the cluster")
    store.set_waiting(sid, None)
    assert store.get_study(sid).waiting is None
    store.set_waiting(sid, "x")
    store.set_study_status(sid, StudyStatus.COMPLETED, end_reason="all 1 trials of its budget ran")
    assert store.get_study(sid).waiting is None
    store.set_waiting(sid, "late")  # a watch's last look after the end writes nothing
    assert store.get_study(sid).waiting is None
    queued = store.create_study(spec("q")).id
    store.set_waiting(queued, "x")
    assert store.get_study(queued).waiting is None


def test_summaries_aggregate_in_sql(db_url):
    store = Store(db_url)
    sid = store.create_study(spec(), status=StudyStatus.RUNNING).id
    t = time.time()
    ops = []
    for i in range(5):
        ops += [("trial", sid, f"r{i}", i, {"x": float(i)}, TrialStatus.RUNNING, t),
                ("status", sid, f"r{i}", TrialStatus.COMPLETED, {"value": float(i)}, t)]
    store.apply(ops)
    d = queries.summary(store, store.get_study(sid))
    assert d.counts.by_status == {"COMPLETED": 5} and d.counts.done == 5 and d.best_value == 0.0


def test_unreachable_database_is_a_clear_error():
    with pytest.raises(StorageError) as e:
        Store("postgresql+psycopg2://nobody:secret@127.0.0.1:1/none")
    assert "secret" not in str(e.value)


def test_journal_replays_after_a_crash(sqlite_url, tmp_path):
    store = Store(sqlite_url)
    sid = store.create_study(spec(), status=StudyStatus.RUNNING).id
    journal = tmp_path / "j.jsonl"
    t = time.time()
    import json
    ops = [("trial", sid, "r1", 0, {"x": 1.0}, "RUNNING", t)] + \
          [("result", sid, "r1", i, float(i), {"loss": float(i)}, t) for i in range(1, 4)]
    journal.write_text("".join(json.dumps(op) + "\n" for op in ops) + '["result", 1, "r1"')  # torn line
    w = Writer(store, journal=journal)
    w.close()
    assert not journal.exists()
    assert [r.iteration for r in store.results(store.trials(sid)[0].id)] == [1, 2, 3]


def test_behind_head_postgres_names_the_fix(pg_url):
    store = Store(pg_url)
    eng = create_engine(pg_url)
    with eng.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num='0000_old'"))
    eng.dispose()
    store.dispose()
    with pytest.raises(StorageError) as e:
        Store(pg_url)
    assert "hpsearch db upgrade" in str(e.value)


def test_result_batches_keep_odd_metric_values_and_known_trial_ids(db_url):
    """Quotes, percent signs, unicode and None survive the multi-row upsert; a later batch
    finds a trial an earlier one created (the writer's id cache), and a batch larger than
    one statement's chunk is stored whole."""
    from hpsearch.store.writer import RESULT_CHUNK

    store = Store(db_url)
    sid = store.create_study(spec(), status=StudyStatus.RUNNING).id
    t = time.time()
    known = store.apply([("trial", sid, "r1", 0, {"x": 1.0}, TrialStatus.RUNNING, t)])
    assert list(known) == [(sid, "r1")]
    odd = {"note": "50% of it's \"done\" %s %(x)s \\ é", "loss": None, "ok": True}
    n = RESULT_CHUNK + 7
    learned = store.apply([("result", sid, "r1", i, float(i), {**odd, "i": i}, t)
                           for i in range(1, n + 1)], known)
    assert learned == {}  # nothing new: the id came from ``known``
    rows = store.results(store.trials(sid)[0].id)
    assert [r.iteration for r in rows] == list(range(1, n + 1))
    assert rows[0].metrics == {**odd, "i": 1} and rows[-1].value == float(n)


def test_a_trial_whose_whole_life_is_one_batch(db_url):
    """Inserted once in its final state; with a retry's status op in between, it is not."""
    store = Store(db_url)
    sid = store.create_study(spec(), status=StudyStatus.RUNNING).id
    t = time.time()
    store.apply([("trial", sid, "a", 0, {"x": 1.0}, TrialStatus.RUNNING, t),
                 ("result", sid, "a", 1, 3.0, {"loss": 3.0}, t + 1),
                 ("result", sid, "a", 2, 2.0, {"loss": 2.0}, t + 2),
                 ("status", sid, "a", TrialStatus.COMPLETED,
                  {"value": 2.0, "best_value": 2.0, "checkpoint": "/c"}, t + 3),
                 ("trial", sid, "b", 1, {"x": 2.0}, TrialStatus.RUNNING, t),
                 ("status", sid, "b", TrialStatus.RUNNING, {"error": "retry 1"}, t + 1),
                 ("result", sid, "b", 1, 5.0, {"loss": 5.0}, t + 2),
                 ("status", sid, "b", TrialStatus.ERROR, {"error": "boom"}, t + 3)])
    a, b = store.trials(sid)
    assert (a.status, a.value, a.best_value, a.checkpoint, a.iterations) == (
        TrialStatus.COMPLETED, 2.0, 2.0, "/c", 2)
    assert a.finished_at is not None and a.started_at < a.finished_at
    assert [e.status for e in store.trial_events(a.id)] == ["RUNNING", "COMPLETED"]
    assert (b.status, b.error, b.iterations) == (TrialStatus.ERROR, "boom", 1)
    assert [(e.status, e.message) for e in store.trial_events(b.id)] == [
        ("RUNNING", None), ("RUNNING", "retry 1"), ("ERROR", "boom")]
    assert [r.value for r in store.results(a.id)] == [3.0, 2.0]


def test_a_journal_written_before_typed_ops_still_replays(db_url, tmp_path):
    """tests/store/fixtures/journal-v1.jsonl was written by the Writer of the day before the
    ops became records (positional tuples, one JSON list a line): it replays as it did."""
    import shutil
    from pathlib import Path

    store = Store(db_url)
    sid = store.create_study(spec(), status=StudyStatus.RUNNING).id
    assert sid == 1  # the fixture's ops name study 1
    journal = tmp_path / "old.jsonl"
    shutil.copy(Path(__file__).parent / "fixtures" / "journal-v1.jsonl", journal)
    Writer(store, journal=journal).close()
    assert not journal.exists()
    a, b, c = store.trials(sid)
    assert (a.status, a.value, a.best_value, a.checkpoint, a.iterations, a.params) == (
        TrialStatus.COMPLETED, 1.25, 1.25, "/ckpt/a0001", 2, {"x": 1.5, "opt": "adam"})
    assert [(r.iteration, r.value) for r in store.results(a.id)] == [(1, 2.25), (2, 1.25)]
    assert (b.status, b.error, b.iterations) == (TrialStatus.ERROR, "RuntimeError: boom", 1)
    assert (c.status, c.number) == (TrialStatus.RUNNING, 2)
    assert store.get_study(sid).searcher_state["n_suggested"] == 3


def test_ops_are_typed_records_and_journal_as_before(tmp_path):
    """The callback hands the writer records; the journal keeps its [kind, *fields] lines."""
    import json

    from hpsearch.store.writer import OPS, ResultOp, StatusOp, decode, encode

    op = ResultOp(study_id=3, ray_id="r", iteration=2, value=0.5, metrics={"loss": 0.5}, t=1.0)
    assert encode(op) == ["result", 3, "r", 2, 0.5, {"loss": 0.5}, 1.0]
    assert decode(json.loads(json.dumps(encode(op)))) == op and type(decode(encode(op))) is ResultOp
    assert decode(("status", 3, "r", "ERROR", {"error": "x"}, 2.0)).fields == {"error": "x"}
    with pytest.raises(ValueError, match="unknown op 'nope'"):
        decode(["nope", 1])
    assert set(OPS) == {"trial", "result", "status", "rerun", "heartbeat", "searcher_state", "log",
                        "media", "placement"}
    assert StatusOp._fields == ("study_id", "ray_id", "status", "fields", "t")
