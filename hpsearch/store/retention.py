"""Retention: old learning curves downsampled to at most K points per trial.

A study of 100,000 trials x 1,000 results is 100 million result rows; the pages
read a trial's curve thinned to 200 points anyway (hpsearch/plots/_curves.py).
Once a trial has finished (COMPLETED, EARLY_STOPPED or ERROR) and some time has
passed, :func:`retain` keeps at most ``points`` of its result rows:

- the first and the last (the final metrics: leaderboards, "last reported" and
  the trial page read the row of the highest iteration);
- the row with the best value of the study's metric (``best_value`` is the
  trial's own column; the row keeps the metrics reported with it);
- evenly spaced rows between them (by position in iteration order), so the
  curve keeps its shape.

Every metric lives in the same row, so each metric keeps at most ``points``
points per trial. The trial rows (value, best_value, values, iterations,
status) are never touched, so leaderboards and bests do not change. Running it
again changes nothing (a trial with ``points`` rows or fewer is left alone).
INTERRUPTED and RUNNING trials are never thinned: they may report again.

Run by the dispatcher every ``HPSEARCH_RETAIN_EVERY_S`` when
``HPSEARCH_RETAIN_POINTS`` is set, and by ``hpsearch db retain``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from hpsearch.exceptions import SpecError
from hpsearch.store.models import Result, Study, StudyFigureRow, Trial, TrialStatus, utcnow

MIN_POINTS = 3          # first, last and best
TRIALS_PER_BATCH = 200  # trials thinned per transaction
_DELETE_CHUNK = 900     # ids per DELETE on SQLite (older builds allow 999 parameters)


@dataclass(frozen=True)
class RetentionPolicy:
    """Keep at most ``points`` results per trial once it finished ``after_s`` seconds ago."""

    points: int
    after_s: float = 86400.0

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not isinstance(self.points, int) or self.points < MIN_POINTS:
            out.append(("points", f"must be a whole number >= {MIN_POINTS} (first, last and "
                                  f"best are always kept), got {self.points!r}"))
        if not (isinstance(self.after_s, (int, float)) and math.isfinite(self.after_s)
                and self.after_s >= 0):
            out.append(("after_s", f"must be a number of seconds >= 0, got {self.after_s!r}"))
        return out

    def check(self) -> "RetentionPolicy":
        if problems := self.problems():
            raise SpecError(problems)
        return self

    @classmethod
    def from_settings(cls) -> "RetentionPolicy | None":
        """The configured policy (``HPSEARCH_RETAIN_*``), or None when retention is off."""
        from hpsearch.settings import settings

        s = settings()
        return cls(s.retain_points, s.retain_after_s) if s.retain_points else None


@dataclass
class RetentionReport:
    """What one pass did."""

    trials: int = 0    # trials whose curves were thinned
    deleted: int = 0   # result rows deleted
    kept: int = 0      # result rows those trials still have


def keep_positions(values: list[float | None], points: int, mode: str) -> set[int]:
    """Which positions (0-based, in iteration order) of a curve of ``len(values)`` to keep.

    At most ``points``: the first, the last, the best value (``mode`` "min"/"max";
    None and non-finite values never count as best) and evenly spaced ones.
    """
    n = len(values)
    if n <= points:
        return set(range(n))
    # (n - 1) / (points - 1) > 1, so these are distinct; they include 0 and n - 1.
    picks = {round(j * (n - 1) / (points - 1)) for j in range(points)}
    finite = [(v, i) for i, v in enumerate(values)
              if isinstance(v, (int, float)) and math.isfinite(v)]
    if finite:
        best = (max(finite, key=lambda p: (p[0], -p[1])) if mode == "max"
                else min(finite, key=lambda p: (p[0], p[1])))[1]
        if best not in picks:
            inner = sorted(picks - {0, n - 1})
            picks.remove(min(inner, key=lambda i: (abs(i - best), i)))
            picks.add(best)
    return picks


def retain(store, policy: RetentionPolicy, *, study_id: int | None = None,
           now: datetime | None = None, since: datetime | None = None) -> RetentionReport:
    """Thin the curves of trials that finished before ``now - policy.after_s``.

    ``since``: only trials that finished after it (a periodic caller passes the
    previous pass's cut-off, so it does not count the rows of trials it thinned
    before). Each batch of trials is its own transaction: a pass can stop anywhere
    and the next one carries on.
    """
    policy.check()
    cutoff = (now or utcnow()) - timedelta(seconds=policy.after_s)
    report = RetentionReport()
    after_id = 0
    while True:
        with store.session(write=True) as s:
            # Rows <= iterations + 1 (iterations count from 1; a stray 0 is possible), so a
            # trial with fewer iterations has nothing to thin: the trials table says so.
            q = (select(Trial.id, Study.mode).join(Study, Study.id == Trial.study_id)
                 .where(Trial.id > after_id, Trial.status.in_(TrialStatus.FINISHED),
                        Trial.finished_at <= cutoff, Trial.iterations >= policy.points)
                 .order_by(Trial.id).limit(TRIALS_PER_BATCH))
            if study_id is not None:
                q = q.where(Trial.study_id == study_id)
            if since is not None:
                q = q.where(Trial.finished_at > since)
            batch = list(s.execute(q))
            if not batch:
                return report
            after_id = batch[-1][0]
            modes = dict(batch)
            over = [tid for tid, n in s.execute(
                select(Result.trial_id, func.count(Result.id))
                .where(Result.trial_id.in_(list(modes))).group_by(Result.trial_id)
                .having(func.count(Result.id) > policy.points))]
            if not over:
                continue
            curves: dict[int, list[tuple[int, float | None]]] = {}
            for tid, rid, value in s.execute(
                    select(Result.trial_id, Result.id, Result.value)
                    .where(Result.trial_id.in_(over))
                    .order_by(Result.trial_id, Result.iteration)):
                curves.setdefault(tid, []).append((rid, value))
            drop: list[int] = []
            for tid, rows in curves.items():
                keep = keep_positions([v for _, v in rows], policy.points, modes[tid])
                drop += [rid for i, (rid, _) in enumerate(rows) if i not in keep]
                report.trials += 1
                report.kept += len(keep)
            _delete(s, drop)
            # The stored charts of these studies drew the rows just deleted.
            s.execute(delete(StudyFigureRow).where(StudyFigureRow.study_id.in_(
                select(Trial.study_id).where(Trial.id.in_(list(curves))).distinct())))
            report.deleted += len(drop)


def _delete(s, ids: list[int]) -> None:
    if not ids:
        return
    conn = s.connection()
    if conn.dialect.name == "postgresql":
        # One array parameter, not one bind per id.
        conn.execute(delete(Result).where(Result.id == func.any(
            bindparam("ids", type_=ARRAY(Integer)))), {"ids": ids})
        return
    for i in range(0, len(ids), _DELETE_CHUNK):
        conn.execute(delete(Result).where(Result.id.in_(ids[i:i + _DELETE_CHUNK])))
