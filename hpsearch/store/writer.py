"""Batched, ordered, crash-tolerant writes of Tune events to SQL.

The Tune callback turns events into *ops* (plain JSON-safe tuples) and hands
them to a :class:`Writer`, whose thread applies them in order, many per
transaction. Under load that batches hundreds of results per commit; when idle
an op lands within milliseconds, so a second connection sees results live.

If the database is away, the batch is appended to a local journal (JSON lines,
fsynced) and retried with backoff; a journal left by a dead process is replayed
on the next start. Results are upserts keyed by (trial, iteration), so a replay
or a trial re-reporting after a restore never stores a row twice.

Ops:
    ("trial", study_id, ray_id, number, params, status, t)
    ("result", study_id, ray_id, iteration, value, metrics, t)
    ("status", study_id, ray_id, status, fields, t)     # fields: value, best_value, error...
    ("rerun", study_id, ray_id, number, t)    # trial `number` (INTERRUPTED) runs again as ray_id
    ("heartbeat", study_id, t)                # the driver lives: its RUNNING trials too
    ("searcher_state", study_id, state)       # the searcher's versioned JSON state

A status op never changes a finished trial (COMPLETED, EARLY_STOPPED, ERROR):
a late report from a paused process cannot flip it.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hpsearch.exceptions import StorageError
from hpsearch.store.models import Result, Study, Trial, TrialEvent, TrialStatus

log = logging.getLogger("hpsearch.writer")
MAX_BATCH = 5000
# Called with each committed batch's seconds (the driver's Prometheus histogram, see
# hpsearch/monitoring.py); the store itself knows nothing of Prometheus.
LATENCY_OBSERVERS: list = []


def _ts(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None)


def _upsert(dialect: str):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def apply_ops(s: Session, ops: list, dialect: str) -> None:
    """Apply ops in order inside the caller's transaction."""
    ids: dict[tuple[int, str], int] = {}

    def trial_id(study_id: int, ray_id: str) -> int | None:
        key = (study_id, ray_id)
        if key not in ids:
            ids[key] = s.scalar(select(Trial.id).where(Trial.study_id == study_id,
                                                       Trial.ray_trial_id == ray_id))
        return ids[key]

    results: list[dict] = []
    progress: dict[int, tuple[int, float]] = {}

    def flush_results() -> None:
        if not results:
            return
        insert = _upsert(dialect)
        stmt = insert(Result)
        stmt = stmt.on_conflict_do_update(index_elements=["trial_id", "iteration"],
                                          set_={"metrics": stmt.excluded.metrics,
                                                "value": stmt.excluded.value,
                                                "created_at": stmt.excluded.created_at})
        # one statement per row group keeps the upsert simple on both dialects
        s.execute(stmt, results)
        for tid, (it, t) in progress.items():
            s.execute(update(Trial).where(Trial.id == tid, Trial.iterations < it)
                      .values(iterations=it))
            s.execute(update(Trial).where(Trial.id == tid).values(heartbeat_at=_ts(t)))
        results.clear()
        progress.clear()

    for op in ops:
        kind = op[0]
        if kind == "result":
            _, study_id, ray_id, iteration, value, metrics, t = op
            tid = trial_id(study_id, ray_id)
            if tid is None:
                log.warning("result for unknown trial %s dropped", ray_id)
                continue
            results.append({"trial_id": tid, "iteration": iteration, "value": value,
                            "metrics": metrics, "created_at": _ts(t)})
            prev = progress.get(tid, (0, 0.0))
            progress[tid] = (max(prev[0], iteration), max(prev[1], t))
            continue
        flush_results()  # keep order: results before the status change that follows them
        if kind == "trial":
            _, study_id, ray_id, number, params, status, t = op
            tid = trial_id(study_id, ray_id)
            if tid is None:
                trial = Trial(study_id=study_id, ray_trial_id=ray_id, number=number, params=params,
                              status=status, started_at=_ts(t), heartbeat_at=_ts(t))
                s.add(trial)
                s.flush()
                ids[(study_id, ray_id)] = tid = trial.id
            else:
                if not s.execute(update(Trial).where(Trial.id == tid,
                                                     Trial.status.not_in(TrialStatus.FINISHED))
                                 .values(status=status, heartbeat_at=_ts(t),
                                         finished_at=None)).rowcount:
                    continue
            s.add(TrialEvent(trial_id=tid, status=status, at=_ts(t)))
        elif kind == "status":
            _, study_id, ray_id, status, fields, t = op
            tid = trial_id(study_id, ray_id)
            if tid is None:
                continue
            values = {"status": status, **fields}
            if status in TrialStatus.FINISHED or status == TrialStatus.INTERRUPTED:
                values["finished_at"] = _ts(t)
            # A late report never flips a finished trial (e.g. SIGSTOP/SIGCONT).
            changed = s.execute(update(Trial).where(Trial.id == tid,
                                                    Trial.status.not_in(TrialStatus.FINISHED))
                                .values(**values)).rowcount
            if changed:
                s.add(TrialEvent(trial_id=tid, status=status, at=_ts(t),
                                 message=(fields.get("error") or "")[:2000] or None))
        elif kind == "rerun":
            _, study_id, ray_id, number, t = op
            changed = s.execute(update(Trial).where(
                Trial.study_id == study_id, Trial.number == number,
                Trial.status == TrialStatus.INTERRUPTED).values(
                    ray_trial_id=ray_id, status=TrialStatus.RUNNING, value=None, best_value=None,
                    error=None, finished_at=None, heartbeat_at=_ts(t))).rowcount
            tid = s.scalar(select(Trial.id).where(Trial.study_id == study_id,
                                                  Trial.number == number))
            if changed and tid is not None:
                ids[(study_id, ray_id)] = tid
                s.add(TrialEvent(trial_id=tid, status=TrialStatus.RUNNING, at=_ts(t),
                                 message="run again after an interruption"))
        elif kind == "heartbeat":
            _, study_id, t = op
            s.execute(update(Trial).where(Trial.study_id == study_id,
                                          Trial.status == TrialStatus.RUNNING)
                      .values(heartbeat_at=_ts(t)))
        elif kind == "searcher_state":
            _, study_id, state = op
            s.execute(update(Study).where(Study.id == study_id).values(searcher_state=state))
        else:
            raise ValueError(f"unknown op {kind!r}")
    flush_results()


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
        self.write_latencies: list[float] = []  # seconds, per batch (for /metrics and benchmarks)
        if self.journal is not None and self.journal.exists():
            self._replay_journal()
        self._thread = threading.Thread(target=self._run, name="hpsearch-writer", daemon=True)
        self._thread.start()

    def put(self, op: tuple) -> None:
        with self._done:
            self._submitted += 1
        self.q.put(op)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every op put so far is applied; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            target = self._submitted
            while self._applied < target:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._done.wait(left if left is not None else 1.0)
        return True

    def close(self, timeout: float | None = 60) -> None:
        self.flush(timeout)
        self._closed = True
        self.q.put(None)
        self._thread.join(5)

    # -- the thread -----------------------------------------------------------------
    def _run(self) -> None:
        stop = False
        while not stop:
            op = self.q.get()
            if op is None:
                return
            batch = [op]
            stop = self._drain(batch)
            self._apply_with_retry(batch)
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
            batch.append(nxt)
        return False

    def _apply_with_retry(self, batch: list) -> None:
        delay, journaled = 0.05, 0
        while True:
            started = time.perf_counter()
            try:
                self.store.apply(batch)
                latency = time.perf_counter() - started
                self.write_latencies.append(latency)
                for observe in LATENCY_OBSERVERS:
                    observe(latency)
                if journaled:
                    self._clear_journal()
                return
            except IntegrityError:
                # One bad op must not cost the batch: apply one by one, log the refused.
                for op in batch:
                    try:
                        self.store.apply([op])
                    except (IntegrityError, StorageError) as exc:
                        log.error("write refused and skipped: %r: %s", op[:4], exc)
                if journaled:
                    self._clear_journal()
                return
            except StorageError as exc:
                # Everything reported while the database is away goes to the journal
                # at once, so a crash now still loses nothing that was reported.
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
                f.write(json.dumps(op) + "\n")
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
                    ops.append(tuple(json.loads(line)))
                except json.JSONDecodeError:
                    break  # a torn last line from a crash mid-write
        if ops:
            log.info("replaying %d journaled writes from %s", len(ops), self.journal)
            self.store.apply(ops)
        self._clear_journal()
