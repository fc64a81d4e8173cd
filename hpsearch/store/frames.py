"""A study's scored trials as columns, kept up to date in SQL: what every chart reads.

A chart of a 100,000-trial study must not read and decode 100,000 trial rows
(their JSON params) each time it is drawn: that alone takes seconds. Instead
each study has one ``study_frames`` row holding its SCORED trials with a finite
value as numpy columns (trial id, number, value, and one column per parameter:
numbers as floats, anything else as category codes with their labels), by
trial number, in a small binary format that decodes in milliseconds.

The frame is kept up to date off the page's path, as trials end:

* the driver's Writer marks a study whose trials ended in a committed batch,
  and its frame keeper thread refreshes that study's frame (at most every
  few seconds, so the writer's own thread never waits for it);
* when a study ends (``Store.set_study_status`` to a finished status) its frame
  is refreshed once more, so a finished study's charts never rebuild it.

A refresh is incremental: it reads the ids of the study's scored trials (one
integer column) and fetches only the rows the frame lacks. A reader checks a
cheap marker (count of scored values and the latest finish, one aggregate
query) and refreshes a stale frame itself, so a chart is never drawn from
stale data, whoever wrote last.

    >>> frame = load(store, study_id)                       # doctest: +SKIP
    >>> frame.values.min(), frame.param("lr")              # doctest: +SKIP
"""
from __future__ import annotations

import json
import logging
import math
import struct
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
from sqlalchemy import Text, cast, func, select

from hpsearch.status import TrialStatus
from hpsearch.store.models import StudyFrameRow, Trial, utcnow

log = logging.getLogger("hpsearch.frames")
FORMAT = 2  # the data blob's layout version: a different one is rebuilt, never misread
FETCH_CHUNK = 5000  # trial ids per IN (...) when fetching the rows a frame lacks


@dataclass
class Column:
    """One parameter over the frame's trials: ``numbers`` (NaN where a trial has no value), or
    category ``codes`` (-1 where it has none) into ``labels`` (the values as text).
    ``absent``: where a trial does not have the parameter at all (a conditional parameter it
    does not use; None: every trial has it), told apart from one whose value is null."""

    numbers: np.ndarray | None = None
    codes: np.ndarray | None = None
    labels: list[str] = field(default_factory=list)
    ints: bool = False  # every value an int: shown as one
    absent: np.ndarray | None = None

    @property
    def numeric(self) -> bool:
        return self.numbers is not None

    def take(self, idx: np.ndarray) -> "Column":
        absent = None if self.absent is None else self.absent[idx]
        if self.numeric:
            return Column(numbers=self.numbers[idx], ints=self.ints, absent=absent)
        return Column(codes=self.codes[idx], labels=self.labels, absent=absent)

    def present(self, n: int) -> np.ndarray:
        return np.ones(n, dtype=bool) if self.absent is None else ~self.absent.astype(bool)

    def raw(self, idx: Iterable[int]) -> list:
        """The values of rows ``idx`` as the trials hold them (None where missing)."""
        out: list[Any] = []
        if self.numeric:
            for i in idx:
                v = float(self.numbers[i])
                out.append(None if math.isnan(v) else (int(v) if self.ints else v))
        else:
            for i in idx:
                c = int(self.codes[i])
                out.append(None if c < 0 else self.labels[c])
        return out


@dataclass
class StudyFrame:
    """A study's SCORED trials with a finite value, by number, as columns."""

    ids: np.ndarray
    numbers: np.ndarray
    values: np.ndarray
    params: dict[str, Column]
    marker: str = ""

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def empty(cls) -> "StudyFrame":
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64), {})

    def rows(self, idx: Iterable[int] | None = None) -> list:
        """Rows ``idx`` (default: all) as the read model's Row (number, params, value)."""
        from hpsearch.store.queries import Row

        idx = list(range(len(self))) if idx is None else [int(i) for i in idx]
        cols = {name: col.raw(idx) for name, col in self.params.items()}
        has = {name: col.present(len(self))[idx] for name, col in self.params.items()}
        out = []
        for k, i in enumerate(idx):
            params = {name: vals[k] for name, vals in cols.items() if has[name][k]}
            out.append(Row(int(self.numbers[i]), params, float(self.values[i])))
        return out


# -- columns from rows -------------------------------------------------------------------
def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _columns(params: list[dict]) -> dict[str, Column]:
    names: dict[str, None] = {}
    for p in params:
        for k in p:
            names.setdefault(k, None)
    out = {}
    for name in names:
        vals = [p.get(name) for p in params]
        absent = np.array([name not in p for p in params], dtype=np.uint8)
        absent = absent if absent.any() else None
        if all(v is None or _is_number(v) for v in vals):
            out[name] = Column(numbers=np.array([np.nan if v is None else float(v) for v in vals],
                                                dtype=np.float64),
                               ints=all(v is None or isinstance(v, int) for v in vals),
                               absent=absent)
        else:
            labels = sorted({str(v) for v in vals if v is not None})
            index = {lab: i for i, lab in enumerate(labels)}
            out[name] = Column(codes=np.array([-1 if v is None else index[str(v)] for v in vals],
                                              dtype=np.int32), labels=labels, absent=absent)
    return out


def _concat(a: StudyFrame, b: StudyFrame) -> StudyFrame:
    """``a`` and ``b`` in one frame, by trial number (their columns merged)."""
    n_a, n_b = len(a), len(b)
    params: dict[str, Column] = {}
    for name in dict.fromkeys([*a.params, *b.params]):
        ca, cb = a.params.get(name), b.params.get(name)
        absent = np.concatenate([(~c.present(n)).astype(np.uint8) if c else np.ones(n, np.uint8)
                                 for c, n in ((ca, n_a), (cb, n_b))])
        absent = absent if absent.any() else None
        if all(c is None or c.numeric for c in (ca, cb)):
            params[name] = Column(numbers=np.concatenate([
                ca.numbers if ca else np.full(n_a, np.nan), cb.numbers if cb else np.full(n_b, np.nan)]),
                ints=all(c is None or c.ints for c in (ca, cb)), absent=absent)
            continue
        # category codes (a numeric side joins as text)
        parts = []
        for col, n in ((ca, n_a), (cb, n_b)):
            if col is None:
                parts.append([None] * n)
            else:
                parts.append([None if v is None else str(v) for v in col.raw(range(n))])
        vals = parts[0] + parts[1]
        labels = sorted({v for v in vals if v is not None})
        index = {lab: i for i, lab in enumerate(labels)}
        params[name] = Column(codes=np.array([-1 if v is None else index[v] for v in vals],
                                             dtype=np.int32), labels=labels, absent=absent)
    merged = StudyFrame(np.concatenate([a.ids, b.ids]), np.concatenate([a.numbers, b.numbers]),
                        np.concatenate([a.values, b.values]), params)
    order = np.argsort(merged.numbers, kind="stable")
    if np.any(order != np.arange(len(order))):
        merged = StudyFrame(merged.ids[order], merged.numbers[order], merged.values[order],
                            {k: c.take(order) for k, c in merged.params.items()})
    return merged


# -- the blob ------------------------------------------------------------------------------
def encode(frame: StudyFrame) -> bytes:
    """A JSON header (column names, kinds, labels) and the raw arrays after it."""
    arrays = [frame.ids.astype("<i8"), frame.numbers.astype("<i8"), frame.values.astype("<f8")]
    cols = []
    for name, col in frame.params.items():
        if col.numeric:
            cols.append({"name": name, "kind": "f", "ints": col.ints})
            arrays.append(col.numbers.astype("<f8"))
        else:
            cols.append({"name": name, "kind": "c", "labels": col.labels})
            arrays.append(col.codes.astype("<i4"))
        if col.absent is not None:
            cols[-1]["absent"] = True
            arrays.append(col.absent.astype("u1"))
    header = json.dumps({"format": FORMAT, "n": len(frame), "columns": cols}).encode()
    return b"".join([struct.pack("<I", len(header)), header] + [a.tobytes() for a in arrays])


def decode(data: bytes, marker: str = "") -> StudyFrame | None:
    """The frame in ``data``; None if it is of another format (then it is rebuilt)."""
    (hlen,) = struct.unpack_from("<I", data, 0)
    header = json.loads(data[4:4 + hlen])
    if header.get("format") != FORMAT:
        return None
    n, pos = header["n"], 4 + hlen

    def take(dtype: str) -> np.ndarray:
        nonlocal pos
        arr = np.frombuffer(data, dtype=dtype, count=n, offset=pos)
        pos += arr.nbytes
        return arr

    ids, numbers, values = take("<i8"), take("<i8"), take("<f8")
    params = {}
    for col in header["columns"]:
        if col["kind"] == "f":
            c = Column(numbers=take("<f8"), ints=bool(col.get("ints")))
        else:
            c = Column(codes=take("<i4"), labels=list(col["labels"]))
        if col.get("absent"):
            c.absent = take("u1")
        params[col["name"]] = c
    return StudyFrame(ids, numbers, values, params, marker)


# -- SQL -------------------------------------------------------------------------------------
def _scored(study_id: int) -> tuple:
    return (Trial.study_id == study_id, Trial.status.in_(TrialStatus.SCORED),
            Trial.value.is_not(None))


def marker(conn, study_id: int) -> str:
    """What changes whenever the study's scored trials do: how many trials are in a SCORED
    status (read from the (study, status) index alone). A trial enters that set with its final
    value and never leaves it (a finished trial's row is never changed), so the count names
    the set."""
    n = conn.scalar(select(func.count()).select_from(Trial)
                    .where(Trial.study_id == study_id, Trial.status.in_(TrialStatus.SCORED)))
    return f"v{FORMAT}:{n}"


def _fetch(conn, study_id: int, ids: np.ndarray | None) -> StudyFrame:
    """The scored trials ``ids`` (None: all of the study's) as a frame, by number."""
    # As text (psycopg2 would decode each JSON value itself): parsed below in one go.
    cols = (Trial.id, Trial.number, Trial.value, cast(Trial.params, Text))
    rows: list = []
    if ids is None:
        rows = list(conn.execute(select(*cols).where(*_scored(study_id))))
    else:
        for i in range(0, len(ids), FETCH_CHUNK):
            part = [int(x) for x in ids[i:i + FETCH_CHUNK]]
            rows += conn.execute(select(*cols).where(*_scored(study_id), Trial.id.in_(part))).all()
    # Non-finite values are not drawn (nor counted by the charts).
    rows = [r for r in rows if r[2] is not None and math.isfinite(r[2])]
    rows.sort(key=lambda r: r[1])
    # One parse of every params text at once: a per-row json.loads costs ten times more.
    params = json.loads("[" + ",".join(r[3] or "{}" for r in rows) + "]") if rows else []
    params = [p if isinstance(p, dict) else {} for p in params]
    return StudyFrame(np.array([r[0] for r in rows], dtype=np.int64),
                      np.array([r[1] for r in rows], dtype=np.int64),
                      np.array([r[2] for r in rows], dtype=np.float64), _columns(params))


def _read_row(conn, study_id: int) -> tuple[str, bytes] | None:
    t = StudyFrameRow.__table__
    row = conn.execute(select(t.c.marker, t.c.data).where(t.c.study_id == study_id)).first()
    return (row[0], bytes(row[1])) if row else None


def _save(store, study_id: int, frame: StudyFrame) -> None:
    from hpsearch.store.writer import _upsert

    t = StudyFrameRow.__table__
    values = {"marker": frame.marker, "trials": len(frame), "data": encode(frame),
              "updated_at": utcnow()}
    insert = _upsert(store.engine.dialect.name)
    # BEGIN IMMEDIATE on SQLite: a transaction that read before it writes cannot wait for
    # another writer (the driver's) and fails at once with "database is locked".
    with store.engine.execution_options(sqlite_immediate=True).begin() as conn:
        from hpsearch.store.models import Study

        if conn.scalar(select(Study.id).where(Study.id == study_id)) is None:
            return  # deleted meanwhile
        stmt = insert(t).values(study_id=study_id, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["study_id"], set_=values))


def refresh(store, study_id: int, stored: StudyFrame | None = None) -> StudyFrame:
    """Bring the study's frame up to date in SQL and return it (incremental: only the scored
    trials it lacks are read)."""
    with store.engine.connect() as conn:
        mark = marker(conn, study_id)
        if stored is None:
            got = _read_row(conn, study_id)
            stored = decode(got[1], got[0]) if got else None
        if stored is not None and stored.marker == mark:
            return stored
        now = np.array(conn.execute(select(Trial.id).where(*_scored(study_id))).scalars().all(),
                       dtype=np.int64)
        if stored is None or len(stored) == 0 or not np.isin(stored.ids, now).all():
            frame = _fetch(conn, study_id, None)  # first build, or a trial left the set
        else:
            new = np.setdiff1d(now, stored.ids, assume_unique=True)
            frame = _concat(stored, _fetch(conn, study_id, new)) if len(new) else stored
            # a trial whose value is not finite stays out of the frame: fetched each time,
            # but such trials are rare
    frame.marker = mark
    try:
        _save(store, study_id, frame)
    except Exception as exc:  # noqa: BLE001 - a reader without write rights still draws
        log.warning("could not save the chart frame of study %s: %s", study_id, exc)
    return frame


# -- the reader's side: one decoded frame per study in this process ----------------------------
_MEMO: OrderedDict[int, StudyFrame] = OrderedDict()
_MEMO_SIZE = 4
_LOCKS: dict[int, threading.Lock] = {}
_LOCK = threading.Lock()


def load(store, study_id: int) -> StudyFrame:
    """The study's frame, up to date: from this process's memo when the study's scored trials
    have not changed, else from SQL (refreshed there first when stale)."""
    with _LOCK:
        lock = _LOCKS.setdefault(study_id, threading.Lock())
    with lock:  # concurrent charts of one study: one of them reads, the others reuse it
        with store.engine.connect() as conn:
            mark = marker(conn, study_id)
            key = (id(store.engine), study_id)
            memo = _MEMO.get(key)
            if memo is not None and memo.marker == mark:
                _MEMO.move_to_end(key)
                return memo
            got = _read_row(conn, study_id)
        stored = decode(got[1], got[0]) if got else None
        frame = stored if stored is not None and stored.marker == mark else refresh(store, study_id, stored)
        with _LOCK:
            _MEMO[key] = frame
            _MEMO.move_to_end(key)
            while len(_MEMO) > _MEMO_SIZE:
                _MEMO.popitem(last=False)
        return frame


def forget(study_id: int) -> None:
    """Drop a deleted study's frame from this process's memo."""
    with _LOCK:
        for key in [k for k in _MEMO if k[1] == study_id]:
            del _MEMO[key]


# -- the writer's side ---------------------------------------------------------------------------
class FrameKeeper:
    """A thread that refreshes the frames of studies whose trials ended, off the writer's
    thread: ``touch(study_id)`` after a committed batch; at most one refresh per study every
    ``max(min_interval, 5 x its last refresh's time)``, so a huge running study costs a
    bounded share of the driver's time."""

    def __init__(self, store, min_interval: float = 2.0):
        # Its own connection, opened for each round of refreshes and closed after: the
        # writer's store has one connection (the driver's budget), which a refresh must
        # never hold while the writer waits for it.
        from hpsearch.store.store import Store

        in_memory = store.is_sqlite and (store.engine.url.database or ":memory:") == ":memory:"
        self._own = not in_memory  # another connection to memory would be another database
        self.store = (Store(store.url, pool_size=1, max_overflow=0, check_schema=False)
                      if self._own else store)
        self.min_interval = min_interval
        self._dirty: dict[int, None] = {}
        self._next: dict[int, float] = {}
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="hpsearch-frames", daemon=True)
        self._thread.start()

    def touch(self, study_ids: Iterable[int]) -> None:
        with self._cv:
            for sid in study_ids:
                self._dirty[sid] = None
            self._cv.notify()

    def close(self, timeout: float = 30.0) -> None:
        """Refresh what is still dirty now, then stop."""
        with self._cv:
            self._stop = True
            self._next.clear()
            self._cv.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cv:
                while True:
                    now = time.monotonic()
                    due = [s for s in self._dirty if self._next.get(s, 0) <= now]
                    if due or (self._stop and not self._dirty):
                        break
                    wait = min((self._next[s] for s in self._dirty), default=now + 60) - now
                    self._cv.wait(max(0.05, wait))
                if not due:
                    return
                for sid in due:
                    del self._dirty[sid]
            for sid in due:
                started = time.monotonic()
                try:
                    refresh(self.store, sid)
                except Exception as exc:  # noqa: BLE001 - charts then refresh it themselves
                    log.warning("chart frame of study %s not refreshed: %s", sid, exc)
                took = time.monotonic() - started
                self._next[sid] = time.monotonic() + max(self.min_interval, 5 * took)
            if self._own:
                self.store.engine.dispose()


__all__ = ["Column", "FrameKeeper", "StudyFrame", "decode", "encode", "forget", "load", "marker",
           "refresh"]
