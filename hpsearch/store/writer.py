"""Batched, ordered, crash-tolerant writes of Tune events to SQL.

The Tune callback turns events into *ops* (the typed records below) and hands
them to a :class:`Writer`, whose thread applies them in order, many per
transaction. Under load that batches hundreds of results per commit; when idle
an op lands within milliseconds, so a second connection sees results live.

If the database is away, the batch is appended to a local journal (JSON lines,
fsynced) and retried with backoff; a journal left by a dead process is replayed
on the next start. Results are upserts keyed by (trial, iteration), so a replay
or a trial re-reporting after a restore never stores a row twice.

Ops (one record type each; a journal line is ``[kind, *fields]``, the format
journals have always had, so a journal written before the records still replays):
    TrialOp(study_id, ray_id, number, params, status, t)
    ResultOp(study_id, ray_id, iteration, value, metrics, t)
    StatusOp(study_id, ray_id, status, fields, t)    # fields: value, best_value, error, note...
    RerunOp(study_id, ray_id, number, t)    # trial `number` (INTERRUPTED) runs again as ray_id
    HeartbeatOp(study_id, t, ray_ids)       # the driver lives: its RUNNING trials too
    SearcherStateOp(study_id, state)        # the searcher's versioned JSON state (or text)
    LogOp(study_id, ray_id, offset, text)   # what the trial printed from `offset` on
    MediaOp(study_id, ray_id, meta, t)      # a media file written (hpsearch/media.py)
    PlacementOp(study_id, ray_id, where)    # where the trial runs: node_id, node_host, node_ip, slot

A status op never changes a finished trial (COMPLETED, EARLY_STOPPED, ERROR):
a late report from a paused process cannot flip it.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import queue
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple, Union

from sqlalchemy import Text, bindparam, case, insert as sa_insert, select, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hpsearch.settings import settings

from hpsearch.exceptions import StorageError
from hpsearch.logtext import BoundedLog, max_chars
from hpsearch.store.models import (Result, Study, Trial, TrialEvent, TrialLog, TrialMedia,
                                   TrialStatus)

log = logging.getLogger("hpsearch.writer")
MAX_BATCH = 5000
# After the first op of a batch arrives, wait this long for more before writing: a trial's
# start, result and end, or a burst of results, then share one transaction instead of
# paying a commit each. It bounds how late a row reaches SQL (live pages) and what a crash
# can lose beyond the op being written; flush() and close() cut it short
# (HPSEARCH_WRITE_LINGER_S, Writer.linger_s).
# A batch of at least BUSY_BATCH ops means they arrive in a stream (many short trials, a
# trial reporting fast): the next batch lingers BUSY_LINGER_S, so the stream costs fewer,
# larger transactions (about a third less writer CPU per trial at 100 trials/s on
# PostgreSQL), each write still in SQL well within a second of its event.
BUSY_BATCH = 16
BUSY_LINGER_S = 0.25
# A batch that holds this many ops already (a burst from hpsearch.report) is written at once:
# lingering would not make its transaction cheaper per row, only its rows later, and the
# rows still queued when the study ends are what its final flush waits for.
FULL_BATCH = 1000
# Called with each committed batch's seconds (the driver's Prometheus histogram, see
# hpsearch/monitoring.py); the store itself knows nothing of Prometheus.
LATENCY_OBSERVERS: list = []


# -- the ops: typed records, written to the journal as [kind, *fields] ------------------
class TrialOp(NamedTuple):
    """A trial started (or was restored): its row, RUNNING."""
    study_id: int
    ray_id: str
    number: int
    params: dict
    status: str
    t: float


class ResultOp(NamedTuple):
    """One reported result (the study's metric as ``value``, every metric in ``metrics``)."""
    study_id: int
    ray_id: str
    iteration: int
    value: float | None
    metrics: dict
    t: float


class StatusOp(NamedTuple):
    """A trial's status changed; ``fields`` are columns set with it (value, error...)."""
    study_id: int
    ray_id: str
    status: str
    fields: dict
    t: float


class RerunOp(NamedTuple):
    """Trial ``number`` (INTERRUPTED) runs again as Ray trial ``ray_id``."""
    study_id: int
    ray_id: str
    number: int
    t: float


class HeartbeatOp(NamedTuple):
    """The driver lives, and so do its RUNNING trials.

    ``ray_ids``: the trials this driver runs (started, not ended). Another driver of the
    same study keeps its own trials alive; one whose driver died is reaped even while
    this one lives. None (a journal from before): every RUNNING trial of the study.
    """
    study_id: int
    t: float
    ray_ids: tuple[str, ...] | None = None


class SearcherStateOp(NamedTuple):
    """The searcher's versioned JSON state."""
    study_id: int
    state: dict | str  # text: serialised already (the store callback does it once)


class LogOp(NamedTuple):
    """What a trial printed from position ``offset`` on (bounded: hpsearch/logtext.py)."""
    study_id: int
    ray_id: str
    offset: int
    text: str


class MediaOp(NamedTuple):
    """A media file the driver wrote for a trial; ``meta``: its trial_media columns."""
    study_id: int
    ray_id: str
    meta: dict
    t: float


class PlacementOp(NamedTuple):
    """Where a trial runs (its Ray node and slot); ``where``: those trials columns."""
    study_id: int
    ray_id: str
    where: dict


PLACEMENT_COLUMNS = ("node_id", "node_host", "node_ip", "slot")

Op = Union[TrialOp, ResultOp, StatusOp, RerunOp, HeartbeatOp, SearcherStateOp, LogOp, MediaOp,
           PlacementOp]
#: journal kind <-> record type
OPS: dict[str, type] = {"trial": TrialOp, "result": ResultOp, "status": StatusOp,
                        "rerun": RerunOp, "heartbeat": HeartbeatOp,
                        "searcher_state": SearcherStateOp, "log": LogOp, "media": MediaOp,
                        "placement": PlacementOp}
KINDS: dict[type, str] = {cls: kind for kind, cls in OPS.items()}


def encode(op: Op) -> list:
    """An op as its journal line's JSON value: ``[kind, *fields]``."""
    return [KINDS[type(op)], *op]


def decode(raw: Any) -> Op:
    """An op from ``[kind, *fields]`` (a journal line, or a tuple in that shape)."""
    if isinstance(raw, tuple) and type(raw) in KINDS:
        return raw
    kind, *fields = raw
    cls = OPS.get(kind)
    if cls is None:
        raise ValueError(f"unknown op {kind!r}")
    return cls(*fields)


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None)


def _upsert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


RESULT_CHUNK = 1000  # result rows per statement on PostgreSQL
COPY_MIN_ROWS = 100  # result rows from which a batch goes to PostgreSQL by COPY
_TRIALS, _RESULTS, _EVENTS = Trial.__table__, Result.__table__, TrialEvent.__table__
# Built once: per-batch statements differ only in their parameters.
_PROGRESS = (update(_TRIALS).where(_TRIALS.c.id == bindparam("tid"))
             .values(iterations=case((_TRIALS.c.iterations < bindparam("it"), bindparam("it")),
                                     else_=_TRIALS.c.iterations),
                     heartbeat_at=bindparam("hb")))


# One UPDATE for many trial rows on PostgreSQL: psycopg2's executemany sends an UPDATE
# per row (a round trip each); UPDATE ... FROM (VALUES ...) is one statement.
_PG_PROGRESS = ("UPDATE trials AS t SET iterations = GREATEST(t.iterations, v.it), "
                "heartbeat_at = v.hb FROM (VALUES {}) AS v(id, it, hb) WHERE t.id = v.id")
_PG_PLACE = ("UPDATE trials AS t SET node_id = v.node_id, node_host = v.node_host, "
             "node_ip = v.node_ip, slot = v.slot FROM (VALUES {}) "
             "AS v(id, node_id, node_host, node_ip, slot) WHERE t.id = v.id")


def _bulk_update(conn, pg_sql: str, types: tuple[str, ...], rows: list[tuple], stmt,
                 keys: list[str]) -> None:
    """Apply ``rows`` (trial id first; PostgreSQL ``types``) with one statement on
    PostgreSQL (psycopg2), else ``stmt`` as an executemany (SQLite's runs in-process:
    no round trips to save)."""
    if conn.dialect.driver != "psycopg2":
        conn.execute(stmt, [dict(zip(keys, r)) for r in rows])
        return
    plain = "(" + ",".join(["%s"] * len(types)) + ")"
    # The first row carries the column types (a VALUES list infers them from it: a
    # column of NULLs would otherwise be text).
    typed = "(" + ",".join(f"%s::{t}" for t in types) + ")"
    cur = conn.connection.driver_connection.cursor()
    try:
        values = b",".join(cur.mogrify(typed if i == 0 else plain, r) for i, r in enumerate(rows))
    finally:
        cur.close()
    conn.exec_driver_sql(pg_sql.format(values.decode()), execution_options={"no_parameters": True})


_PG_UPSERT = ("INSERT INTO results (trial_id, iteration, value, metrics, created_at) VALUES {} "
              "ON CONFLICT (trial_id, iteration) DO UPDATE SET metrics = EXCLUDED.metrics, "
              "value = EXCLUDED.value, created_at = EXCLUDED.created_at")


_NULL = "\\N"
_PG_COPY = "COPY results (trial_id, iteration, value, metrics, created_at) FROM STDIN"


# A result row as the batch keeps it until written: (trial_id, iteration, value, metrics,
# t), t in epoch seconds. Plain tuples: a burst builds thousands per batch.
_to_json = json.JSONEncoder().encode  # json.dumps's defaults, without its per-call checks


def _result_dict(row: tuple) -> dict:
    tid, iteration, value, metrics, t = row
    return {"trial_id": tid, "iteration": iteration, "value": value, "metrics": metrics,
            "created_at": _ts(t)}


def _copy_text(rows: list[tuple]) -> str:
    """Result rows in COPY's text format (tab-separated, \\N for NULL). Results reported
    together share their time: each distinct time is formatted once."""
    stamps: dict[float, str] = {}
    lines = []
    for tid, iteration, value, metrics, t in rows:
        text = _to_json(metrics)
        if "\\" in text:  # COPY reads backslash escapes; JSON never holds a raw tab or newline
            text = text.replace("\\", "\\\\")
        stamp = stamps.get(t)
        if stamp is None:
            stamp = stamps[t] = str(_ts(t))
        lines.append(f"{tid}\t{iteration}\t{_NULL if value is None else repr(value)}\t{text}\t{stamp}\n")
    return "".join(lines)


def _copy_results(conn, rows: list[tuple]) -> bool:
    """New result rows by ``COPY`` (PostgreSQL, psycopg2); False if one already exists.

    COPY skips the per-statement parse and the per-row parameters of an INSERT: several
    times cheaper for the server and for this thread. It cannot upsert, so it runs in a
    savepoint: a row that exists already (a replayed journal, a re-report after a
    restore) rolls it back, and the caller upserts the batch instead.
    """
    import io

    import psycopg2
    from sqlalchemy.exc import DBAPIError

    cur = conn.connection.driver_connection.cursor()
    try:
        cur.execute("SAVEPOINT hps_copy")
        try:
            cur.copy_expert(_PG_COPY, io.StringIO(_copy_text(rows)))
        except psycopg2.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT hps_copy")
            return False
        cur.execute("RELEASE SAVEPOINT hps_copy")
        return True
    except psycopg2.Error as exc:
        # As SQLAlchemy would raise it (a dropped connection is invalidated, an
        # IntegrityError stays one), so the session and the writer's retry see the usual.
        if isinstance(exc, (psycopg2.OperationalError, psycopg2.InterfaceError)):
            conn.invalidate()
        raise DBAPIError.instance(_PG_COPY, None, exc, psycopg2.Error) from exc
    finally:
        if not cur.closed:
            cur.close()


def _upsert_results(conn, insert, rows: list[tuple]) -> None:
    """Insert or replace result rows (each (trial, iteration) at most once in ``rows``)."""
    if conn.dialect.driver == "psycopg2":
        # COPY pays three statements (savepoint, copy, release): worth it for a burst, not
        # for the few rows of a quiet batch, which go as one multi-row upsert below.
        if len(rows) >= COPY_MIN_ROWS and _copy_results(conn, rows):
            return
        # An upsert is not eligible for SQLAlchemy's multi-row executemany, so psycopg2
        # would send it row by row (10,000 results: 1.2 s). Instead one statement per
        # RESULT_CHUNK rows, its VALUES quoted by psycopg2 itself (mogrify, client side,
        # what execute_values does); run through SQLAlchemy so that a dropped connection
        # is noticed and discarded like any other.
        cur = conn.connection.driver_connection.cursor()
        try:
            for i in range(0, len(rows), RESULT_CHUNK):
                values = b",".join(cur.mogrify("(%s,%s,%s,%s,%s)", (
                    tid, iteration, value, _to_json(metrics), _ts(t)))
                    for tid, iteration, value, metrics, t in rows[i:i + RESULT_CHUNK])
                # no_parameters: the driver must not look for placeholders in the data
                conn.exec_driver_sql(_PG_UPSERT.format(values.decode()),
                                     execution_options={"no_parameters": True})
        finally:
            cur.close()
        return
    stmt = insert(_RESULTS)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=["trial_id", "iteration"],
        set_={"metrics": stmt.excluded.metrics, "value": stmt.excluded.value,
              "created_at": stmt.excluded.created_at}), [_result_dict(r) for r in rows])


def _append_logs(conn, insert, chunks: dict[int, list[tuple[int, str]]]) -> None:
    """Add each trial's new output to its bounded log (hpsearch/logtext.py)."""
    cap = max_chars()
    t = TrialLog.__table__
    now = _ts(time.time())
    for tid, parts in chunks.items():
        row = conn.execute(select(t.c.head, t.c.tail, t.c.total, t.c.cut)
                           .where(t.c.trial_id == tid)).first()
        log_ = BoundedLog(*row) if row else BoundedLog()
        for offset, text in parts:
            log_.append(offset, text, cap)
        values = dict(head=log_.head, tail=log_.tail, total=log_.total, cut=log_.cut,
                      updated_at=now)
        stmt = insert(t).values(trial_id=tid, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["trial_id"], set_=values))


def _upsert_media(conn, insert, rows: list[dict]) -> None:
    t = TrialMedia.__table__
    for row in rows:  # few per batch: a trial records dozens at most
        stmt = insert(t).values(**row)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["trial_id", "name", "step"],
            set_={k: row[k] for k in ("kind", "path", "bytes", "width", "height", "created_at")}))


def _error_message(fields: dict) -> str | None:
    """A status op's error, as its status-history message."""
    return (fields.get("error") or "")[:2000] or None


_NEW_TRIALS: dict = {}  # dialect's insert -> its new-trials statement, built once


def _new_trials(insert):
    """``INSERT INTO trials ... ON CONFLICT (study, Ray id) DO NOTHING RETURNING`` the ids."""
    stmt = _NEW_TRIALS.get(insert)
    if stmt is None:
        stmt = _NEW_TRIALS[insert] = (
            insert(_TRIALS).on_conflict_do_nothing(index_elements=["study_id", "ray_trial_id"])
            .returning(_TRIALS.c.id, _TRIALS.c.study_id, _TRIALS.c.ray_trial_id))
    return stmt


def _insert_new_trials(conn, insert, ops, cached, status_ops, top, learned, event, folded,
                       settled, inserted) -> None:
    """Insert the batch's new trials in one multi-row statement per shape.

    A trial op whose (study, Ray id) is not known yet is a new trial, one round trip for
    all of them (``INSERT ... ON CONFLICT DO NOTHING RETURNING``); a trial a restore
    brings back already has its row (the unique (study, Ray id) pair): it is not
    returned, and the ops loop updates it. A trial whose one status op in the batch is
    final (it started, reported and ended within the batch, as most short trials do) is
    inserted in that final state. A trial's first op is its trial op, so inserting every
    new trial before the batch's other ops keeps each trial's order.
    """
    shapes: dict[tuple, list[tuple[int, dict, StatusOp | None, int | None]]] = {}
    seen: set[tuple[int, str]] = set()
    for i, op in enumerate(ops):
        if not isinstance(op, TrialOp):
            continue
        study_id, ray_id, number, params, status, t = op
        key = (study_id, ray_id)
        if key in seen or cached(key) is not None:
            continue
        seen.add(key)
        values = dict(study_id=study_id, ray_trial_id=ray_id, number=number, params=params,
                      status=status, iterations=0, started_at=_ts(t), heartbeat_at=_ts(t))
        end = status_ops.get(key, [])
        final = ops[end[0]] if len(end) == 1 and end[0] > i else None
        if final is not None and final.status in TrialStatus.FINISHED:
            values.update(final.fields, status=final.status, iterations=top.get(key, 0),
                          finished_at=_ts(final.t), heartbeat_at=_ts(max(final.t, t)))
            values.pop("note", None)
        else:
            final = None
        shapes.setdefault(tuple(values), []).append((i, values, final,
                                                     end[0] if final is not None else None))
    for shaped in shapes.values():
        # One statement compiled once (SQLAlchemy caches it) and sent with the rows as
        # parameters, which SQLAlchemy batches into multi-row VALUES itself
        # ("insertmanyvalues"). Built with .values([...]) instead, the statement was a new
        # one per batch, compiled with a bind parameter per cell: 70% of this thread's CPU
        # at 100 trials/s.
        got = {(sid, rid): tid for tid, sid, rid in conn.execute(
            _new_trials(insert), [r for _, r, _, _ in shaped])}
        for i, values, final, end in shaped:
            key = (values["study_id"], values["ray_trial_id"])
            tid = got.get(key)
            if tid is None:
                continue  # a restored trial: the ops loop updates its row
            learned[key] = tid
            inserted.add(i)
            event(tid, ops[i].status, ops[i].t)
            if final is not None:
                folded.add(end)
                settled.add(tid)
                event(tid, final.status, final.t, _error_message(final.fields))


def apply_ops(s: Session, ops: list, dialect: str,
              known: dict[tuple[int, str], int] | None = None) -> dict[tuple[int, str], int]:
    """Apply ops inside the caller's transaction, in few round trips.

    Trials and status changes are applied in order; the batch's results, their
    progress on the trial rows and the status history go last, as three
    executemany statements (nothing in a batch reads them, and the commit makes
    the batch visible all at once). A trial that starts and ends in the batch is
    inserted in its final state.

    ``known`` maps (study id, Ray trial id) to trial ids learned from earlier,
    committed batches (a trial's id never changes); the ids this batch learns are
    returned, for the caller to keep once the transaction has committed.
    """
    ops = [decode(op) for op in ops]
    conn = s.connection()  # Core: the ORM's per-statement bookkeeping is not needed here
    known = known or {}
    learned: dict[tuple[int, str], int] = {}
    insert = _upsert(dialect)
    results: dict[tuple[int, int], tuple] = {}  # the last report of an iteration wins
    progress: dict[int, tuple[int, float]] = {}
    events: list[dict] = []
    logs: dict[int, list[tuple[int, str]]] = {}
    media: list[dict] = []
    placements: dict[int, dict] = {}

    def cached(key: tuple[int, str]) -> int | None:
        return learned.get(key) or known.get(key)

    def trial_id(study_id: int, ray_id: str) -> int | None:
        key = (study_id, ray_id)
        tid = cached(key)
        if tid is None:
            tid = conn.scalar(select(_TRIALS.c.id).where(_TRIALS.c.study_id == study_id,
                                                         _TRIALS.c.ray_trial_id == ray_id))
            if tid is not None:
                learned[key] = tid
        return tid

    def event(tid: int, status: str, t: float, message: str | None = None) -> None:
        events.append({"trial_id": tid, "status": status, "at": _ts(t), "message": message})

    # A short trial often starts, reports and ends within one batch: its row is then
    # inserted once, in its final state, instead of an INSERT and two UPDATEs. Only when
    # its one status op in the batch is the final one (a retry's RUNNING op is not).
    status_ops: dict[tuple[int, str], list[int]] = {}
    top: dict[tuple[int, str], int] = {}  # the highest iteration reported in this batch
    for i, op in enumerate(ops):
        if isinstance(op, StatusOp):
            status_ops.setdefault((op.study_id, op.ray_id), []).append(i)
        elif isinstance(op, ResultOp):
            key = (op.study_id, op.ray_id)
            top[key] = max(top.get(key, 0), op.iteration)
    folded: set[int] = set()    # status ops already written with their trial's insert
    settled: set[int] = set()   # trials whose iterations the insert set
    inserted: set[int] = set()  # trial ops whose row the bulk insert below wrote
    _insert_new_trials(conn, insert, ops, cached, status_ops, top, learned, event, folded,
                       settled, inserted)

    unfinished = _TRIALS.c.status.not_in(TrialStatus.FINISHED)
    for i, op in enumerate(ops):
        if i in folded or i in inserted:
            continue
        if type(op) is ResultOp:  # most ops of a busy batch: kept cheap
            study_id, ray_id, iteration, value, metrics, t = op
            key = (study_id, ray_id)
            tid = learned.get(key) or known.get(key) or trial_id(study_id, ray_id)
            if tid is None:
                log.warning("result for unknown trial %s dropped", ray_id)
                continue
            results[(tid, iteration)] = (tid, iteration, value, metrics, t)
            if tid not in settled:
                prev = progress.get(tid)
                if prev is None:
                    progress[tid] = (iteration, t)
                elif iteration > prev[0] or t > prev[1]:
                    progress[tid] = (max(prev[0], iteration), max(prev[1], t))
        elif isinstance(op, TrialOp):
            # Not inserted above: a trial a restore brings back (its row exists already).
            study_id, ray_id, number, params, status, t = op
            tid = trial_id(study_id, ray_id)
            if tid is None:
                log.warning("trial %s: no row to restore", ray_id)
                continue
            if conn.execute(update(_TRIALS).where(_TRIALS.c.id == tid, unfinished)
                            .values(status=status, heartbeat_at=_ts(t),
                                    finished_at=None)).rowcount:
                event(tid, status, t)
        elif isinstance(op, StatusOp):
            study_id, ray_id, status, fields, t = op
            tid = trial_id(study_id, ray_id)
            if tid is None:
                continue
            fields = dict(fields)
            note = fields.pop("note", None)  # the event's message only (an OOM retry)
            values = {"status": status, **fields}
            if status in TrialStatus.FINISHED or status == TrialStatus.INTERRUPTED:
                values["finished_at"] = _ts(t)
            elif status == TrialStatus.RUNNING:  # running again (a retry, a resume): alive now,
                values["heartbeat_at"] = _ts(t)  # however long it waited (the reaper reads this)
            # A late report never flips a finished trial (e.g. SIGSTOP/SIGCONT).
            if conn.execute(update(_TRIALS).where(_TRIALS.c.id == tid, unfinished)
                            .values(**values)).rowcount:
                event(tid, status, t, note or _error_message(fields))
        elif isinstance(op, RerunOp):
            study_id, ray_id, number, t = op
            changed = conn.execute(update(_TRIALS).where(
                _TRIALS.c.study_id == study_id, _TRIALS.c.number == number,
                _TRIALS.c.status == TrialStatus.INTERRUPTED).values(
                    ray_trial_id=ray_id, status=TrialStatus.RUNNING, value=None, best_value=None,
                    error=None, finished_at=None, heartbeat_at=_ts(t))).rowcount
            tid = conn.scalar(select(_TRIALS.c.id).where(_TRIALS.c.study_id == study_id,
                                                         _TRIALS.c.number == number))
            if changed and tid is not None:
                learned[(study_id, ray_id)] = tid
                event(tid, TrialStatus.RUNNING, t, "run again after an interruption")
        elif isinstance(op, HeartbeatOp):
            mine = _TRIALS.c.study_id == op.study_id
            if op.ray_ids is not None:
                if not op.ray_ids:
                    continue
                # Sorted by the callback: drivers of one study lock rows in one order.
                mine = mine & _TRIALS.c.ray_trial_id.in_(list(op.ray_ids))
            conn.execute(update(_TRIALS).where(mine, _TRIALS.c.status == TrialStatus.RUNNING)
                         .values(heartbeat_at=_ts(op.t)))
        elif isinstance(op, SearcherStateOp):
            # The state as JSON text (the store callback serialises it once) or as a dict.
            state = type_coerce(op.state, Text) if isinstance(op.state, str) else op.state
            conn.execute(update(Study.__table__).where(Study.__table__.c.id == op.study_id)
                         .values(searcher_state=state))
        elif isinstance(op, LogOp):
            tid = trial_id(op.study_id, op.ray_id)
            if tid is not None:
                logs.setdefault(tid, []).append((int(op.offset), op.text))
        elif isinstance(op, MediaOp):
            tid = trial_id(op.study_id, op.ray_id)
            if tid is not None:
                media.append({**op.meta, "trial_id": tid, "created_at": _ts(op.t)})
        elif isinstance(op, PlacementOp):
            tid = trial_id(op.study_id, op.ray_id)
            if tid is not None:  # the last placement of a trial in the batch wins
                placements[tid] = {k: op.where.get(k) for k in PLACEMENT_COLUMNS}
    if logs:
        _append_logs(conn, insert, logs)
    if media:
        _upsert_media(conn, insert, media)
    if results:
        _upsert_results(conn, insert, list(results.values()))
    if placements:
        _bulk_update(conn, _PG_PLACE, ("integer", "text", "text", "text", "integer"),
                     [(tid, *(w[k] for k in PLACEMENT_COLUMNS)) for tid, w in placements.items()],
                     update(_TRIALS).where(_TRIALS.c.id == bindparam("tid")).values(
                         **{k: bindparam(k) for k in PLACEMENT_COLUMNS}),
                     ["tid", *PLACEMENT_COLUMNS])
    if progress:
        _bulk_update(conn, _PG_PROGRESS, ("integer", "integer", "timestamp"),
                     [(tid, it, _ts(t)) for tid, (it, t) in progress.items()],
                     _PROGRESS, ["tid", "it", "hb"])
    if events:
        conn.execute(sa_insert(_EVENTS), events)
    return learned


class _Bundle(list):
    """Ops queued together by :meth:`Writer.put_many` (one queue item)."""


class Writer:
    """A background thread that applies ops in order, batching under load."""

    def __init__(self, store, journal: str | Path | None = None):
        self.store = store
        self.journal = Path(journal) if journal else None
        self.q: queue.Queue = queue.Queue()
        self._done = threading.Condition()
        self._submitted = 0
        self._applied = 0
        self._closed = False
        # seconds per committed batch, the latest ones (for benchmarks and tests)
        self.write_latencies: collections.deque[float] = collections.deque(maxlen=10000)
        self._ids: dict[tuple[int, str], int] = {}  # (study, Ray trial id) -> trial id
        self._hurry = threading.Event()  # set by flush()/close(): write without lingering
        self._flush_to = 0  # ops a flush() waits for: until applied, no batch lingers
        self._frames = None  # hpsearch.store.frames.FrameKeeper, started by the first trial end
        self.linger_s = settings().write_linger_s  # batch writes for this long under load
        if self.journal is not None and self.journal.exists():
            self._replay_journal()
        self._thread = threading.Thread(target=self._run, name="hpsearch-writer", daemon=True)
        self._thread.start()

    def put(self, op: Op) -> None:
        with self._done:
            self._submitted += 1
        self.q.put(op)

    def put_many(self, ops: list) -> None:
        """Queue several ops at once, in order (one lock and one wake-up for all of them:
        a batch of results from ``hpsearch.report``)."""
        if not ops:
            return
        with self._done:
            self._submitted += len(ops)
        self.q.put(_Bundle(ops))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every op put so far is applied; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            target = self._submitted
            if self._applied < target:
                self._flush_to = max(self._flush_to, target)
                self._hurry.set()
            while self._applied < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._done.wait(left if left is not None else 1.0)
        return True

    def close(self, timeout: float | None = 60) -> None:
        self.flush(timeout)
        self._closed = True
        self._hurry.set()
        self.q.put(None)
        self._thread.join(5)
        if self._frames is not None:
            self._frames.close()

    def _ended(self, batch: list) -> None:
        """Tell the frame keeper which studies' trials ended in a committed batch (their
        charts' input changed); a scan of the batch, the refresh runs on its own thread."""
        ended = set()
        for op in batch:
            if type(op) is StatusOp:
                study_id, status = op.study_id, op.status
            elif type(op) in (tuple, list) and op and op[0] == "status":  # [kind, *fields]
                study_id, status = op[1], op[3]
            else:
                continue
            if status in TrialStatus.FINISHED:
                ended.add(study_id)
        if not ended:
            return
        if self._frames is None:
            from hpsearch.store.frames import FrameKeeper

            self._frames = FrameKeeper(self.store)
        self._frames.touch(ended)

    # -- the thread -----------------------------------------------------------------
    def _run(self) -> None:
        stop = False
        linger = self.linger_s
        while not stop:
            op = self.q.get()
            if op is None:
                return
            batch = list(op) if type(op) is _Bundle else [op]
            stop = self._drain(batch)
            if (not stop and linger > 0 and len(batch) < FULL_BATCH and not self._hurry.is_set()
                    and self._applied >= self._flush_to):
                self._hurry.wait(linger)
                stop = self._drain(batch)
            self._hurry.clear()
            self._apply_with_retry(batch)
            busy = self.linger_s > 0 and len(batch) >= BUSY_BATCH
            linger = max(self.linger_s, BUSY_LINGER_S) if busy else self.linger_s
            with self._done:
                self._applied += len(batch)
                self._done.notify_all()

    def _drain(self, batch: list) -> bool:
        """Move queued ops into ``batch`` without waiting; True if close() was called."""
        while len(batch) < MAX_BATCH:
            try:
                nxt = self.q.get_nowait()
            except queue.Empty:
                return False
            if nxt is None:
                return True
            if type(nxt) is _Bundle:
                batch.extend(nxt)
            else:
                batch.append(nxt)
        return False

    def _apply_with_retry(self, batch: list) -> None:
        delay, journaled = 0.05, 0
        while True:
            started = time.perf_counter()
            try:
                self._ids.update(self.store.apply(batch, self._ids))
                latency = time.perf_counter() - started
                self.write_latencies.append(latency)
                for observe in LATENCY_OBSERVERS:
                    observe(latency)
                self._ended(batch)
                if journaled:
                    self._clear_journal()
                return
            except IntegrityError:
                # One bad op must not cost the batch: apply one by one, log the refused.
                for op in batch:
                    try:
                        self._ids.update(self.store.apply([op], self._ids))
                    except (IntegrityError, StorageError) as exc:
                        log.error("write refused and skipped: %s %r: %s", KINDS.get(type(op), "op"),
                                  tuple(op)[:3], exc)
                if journaled:
                    self._clear_journal()
                return
            except Exception as exc:  # noqa: BLE001 - StorageError, or anything else: the
                # thread must live on. Everything reported while the database is away goes
                # to the journal at once, so a crash now still loses nothing reported.
                if not isinstance(exc, StorageError):
                    log.exception("unexpected error writing a batch")
                if self._drain(batch):
                    self.q.put(None)  # close() was called: stop after this batch lands
                self._append_journal(batch[journaled:])
                journaled = len(batch)
                log.warning("database write failed (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    # -- journal -----------------------------------------------------------------------
    def _append_journal(self, batch: list) -> None:
        if self.journal is None:
            return
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        with open(self.journal, "a") as f:
            for op in batch:
                f.write(json.dumps(encode(decode(op))) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _clear_journal(self) -> None:
        if self.journal is not None and self.journal.exists():
            self.journal.unlink()

    def _replay_journal(self) -> None:
        ops = []
        with open(self.journal) as f:
            for line in f:
                try:
                    ops.append(decode(json.loads(line)))
                except (json.JSONDecodeError, ValueError, TypeError):
                    break  # a torn last line from a crash mid-write
        if ops:
            log.info("replaying %d journaled writes from %s", len(ops), self.journal)
            self._ids.update(self.store.apply(ops))
        self._clear_journal()
