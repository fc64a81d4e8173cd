"""The read model: every named question asked of the store, answered once.

The CLI (``list``, ``show``), the Python API, the web pages and JSON API, the
charts, the driver's final verdict and the dispatcher all ask here, so a
study's best trial, its counts and its pages are the same wherever they are
read. Which trials count for what is decided by the status groups in
:mod:`hpsearch.status` (an IMPORTED warm-start trial is listed and counted
under its status, but is never the best and never counts toward the budget).

    >>> best = best_trial(store, study)                    # doctest: +SKIP
    >>> summaries(store, [study])[study.id].best_value     # doctest: +SKIP
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, NamedTuple, Sequence

from sqlalchemy import Select, String, cast, func, literal, or_, select
from sqlalchemy.orm import aliased, defer

from hpsearch.status import StudyStatus, TrialStatus
from hpsearch.store.models import Result, Study, Trial, TrialEvent


# -- the order of "best" ----------------------------------------------------------------
def value_order(mode: str) -> list:
    """SQL order for "best first": by value in the study's direction, ties to the lower number."""
    return [Trial.value.desc() if mode == "max" else Trial.value.asc(), Trial.number.asc()]


def _scored(study_id: int):
    return (Trial.study_id == study_id, Trial.status.in_(TrialStatus.SCORED),
            Trial.value.is_not(None))


def best_trial(store, study: Study) -> Trial | None:
    """The study's best trial: a SCORED one (not imported) with the best value; None if none."""
    with store.session() as s:
        return s.scalar(select(Trial).where(*_scored(study.id))
                        .order_by(*value_order(study.mode)).limit(1))


class Row(NamedTuple):  # a tuple: 10,000 of them build several times faster than dataclasses
    number: int
    params: dict
    value: float


def scored_trials(store, study_id: int, params: bool = True) -> list[Row]:
    """The SCORED trials with a finite value, by number (one query, no results read).

    ``params=False`` leaves the JSON params unread (empty dicts): most of the cost.
    """
    cols = (Trial.number, Trial.params if params else literal(None), Trial.value)
    with store.session() as s:
        rows = s.execute(select(*cols).where(*_scored(study_id)).order_by(Trial.number))
        return [Row(n, p or {}, v) for n, p, v in rows if v is not None and math.isfinite(v)]


# Bookkeeping keys Tune adds to every result: not metrics worth a chart or a picker.
NOT_METRICS = frozenset({"training_iteration", "timestamp", "time_this_iter_s", "time_total_s", "pid",
                         "iterations_since_restore", "time_since_restore", "done"})


def reported_metrics(store, study_id: int) -> list[str]:
    """The numeric metrics a study reports (from its latest result), objective first not implied."""
    # The latest result among the study's latest trials first (a join over every result
    # ordered by id sorted a 100,000-trial study's 2,000,000 results); all of them only if
    # none of those has reported yet.
    latest = (select(Trial.id).where(Trial.study_id == study_id).order_by(Trial.id.desc())
              .limit(20).scalar_subquery())
    with store.session() as s:
        metrics = s.scalar(select(Result.metrics).where(Result.trial_id.in_(latest))
                           .order_by(Result.id.desc()).limit(1))
        if metrics is None:
            metrics = s.scalar(select(Result.metrics).join(Trial, Trial.id == Result.trial_id)
                               .where(Trial.study_id == study_id)
                               .order_by(Result.id.desc()).limit(1))
    return sorted(k for k, v in (metrics or {}).items() if k not in NOT_METRICS
                  and isinstance(v, (int, float)) and not isinstance(v, bool))


def last_reported(store, study_id: int, metric: str, params: bool = False) -> list[Row]:
    """Each SCORED trial's last reported value of ``metric`` (any metric it reports), by number;
    trials whose last result lacks it, or holds a non-finite value, are left out."""
    last = (select(Result.trial_id.label("tid"), func.max(Result.iteration).label("it"))
            .join(Trial, Trial.id == Result.trial_id)
            .where(Trial.study_id == study_id, Trial.status.in_(TrialStatus.SCORED))
            .group_by(Result.trial_id).subquery())
    value = Result.metrics[metric].as_float()
    q = (select(Trial.number, Trial.params if params else literal(None), value)
         .join(Result, Result.trial_id == Trial.id)
         .join(last, (last.c.tid == Result.trial_id) & (last.c.it == Result.iteration))
         .order_by(Trial.number))
    with store.session() as s:
        rows = s.execute(q)
        return [Row(n, p or {}, float(v)) for n, p, v in rows
                if isinstance(v, (int, float)) and math.isfinite(v)]


def neighbours(store, study_id: int, number: int) -> tuple[int | None, int | None]:
    """The trial numbers just before and just after ``number`` in the study (None at an end)."""
    with store.session() as s:
        prev = s.scalar(select(func.max(Trial.number)).where(Trial.study_id == study_id,
                                                             Trial.number < number))
        nxt = s.scalar(select(func.min(Trial.number)).where(Trial.study_id == study_id,
                                                            Trial.number > number))
    return prev, nxt


def last_results(store, trial_ids: Sequence[int]) -> dict[int, dict]:
    """Each trial's last reported metrics (its result of the highest iteration), by trial id."""
    if not trial_ids:
        return {}
    last = (select(Result.trial_id.label("tid"), func.max(Result.iteration).label("it"))
            .where(Result.trial_id.in_(list(trial_ids))).group_by(Result.trial_id).subquery())
    with store.session() as s:
        rows = s.execute(select(Result.trial_id, Result.metrics)
                         .join(last, (last.c.tid == Result.trial_id) & (last.c.it == Result.iteration)))
        return {tid: dict(m or {}) for tid, m in rows}


def worker_label(node_host: str | None, node_id: str | None, slot: int | None) -> str:
    """Where a trial ran, as the trials table, the trial page and exports show it:
    ``host (node id) · slot k``; empty when it never said."""
    if not node_id and not node_host:
        return ""
    where = " ".join(x for x in (node_host, f"({node_id[:8]})" if node_id else None) if x)
    return where if slot is None else f"{where} · slot {slot}"


def table_row(t, metric: str) -> dict:
    """One trial as a row of the trials table: what ``Study.to_dataframe()`` and the web
    export (CSV/JSON) both write. ``t`` is a store Trial or the API's TrialInfo."""
    duration = ((t.finished_at - t.started_at).total_seconds()
                if t.started_at and t.finished_at else None)
    row = {"number": t.number, "status": t.status, metric: t.value,
           "best_" + metric: t.best_value, "iterations": t.iterations,
           "duration_s": duration, "imported_from": t.imported_from,
           "worker": worker_label(getattr(t, "node_host", None), getattr(t, "node_id", None),
                                  getattr(t, "slot", None)) or None}
    row.update({k: v for k, v in (getattr(t, "values", None) or {}).items() if k not in row})
    row.update({f"param_{k}": v for k, v in (t.params or {}).items()})
    return row


class Span(NamedTuple):
    number: int
    status: str
    started_at: datetime
    finished_at: datetime | None  # None: still running (drawn to now)
    node_id: str | None = None
    node_host: str | None = None
    slot: int | None = None


def started_count(store, study_id: int) -> int:
    """How many of the study's trials have started."""
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Trial)
                        .where(Trial.study_id == study_id, Trial.started_at.is_not(None))) or 0


def trial_spans(store, study_id: int, latest: int | None = None) -> list[Span]:
    """Every started trial's start and end, by start, with where it ran (node and slot);
    ``latest``: only the last that many to start (a 100,000-trial study's timeline reads
    5,000 rows, not all).

    Only a LIVE trial of a LIVE study is still running (``finished_at`` None). A trial that
    ended without a finish time (an ERROR whose end was never recorded, a RUNNING row left
    by a dead driver) ends at the last time it was known alive: its last result or
    heartbeat, within the study's end, never later than the study itself.

    A trial a scheduler paused is one span per run (its PAUSED and RUNNING events split
    it): it held no slot while paused. Each run but the last has status PAUSED and no
    place: a trial keeps only where it ran last.
    """
    with store.session() as s:
        study = s.get(Study, study_id)
        live_study = study is not None and study.status in StudyStatus.LIVE
        study_end = study.finished_at if study is not None else None
        q = (select(Trial.id, Trial.number, Trial.status, Trial.started_at, Trial.finished_at,
                    Trial.heartbeat_at, Trial.node_id, Trial.node_host, Trial.slot)
             .where(Trial.study_id == study_id, Trial.started_at.is_not(None)))
        if latest is None:
            rows = s.execute(q.order_by(Trial.started_at, Trial.number)).all()
        else:
            rows = s.execute(q.order_by(Trial.started_at.desc(), Trial.number.desc())
                             .limit(latest)).all()[::-1]
        open_ = [r.id for r in rows if r.finished_at is None
                 and not (live_study and r.status in TrialStatus.LIVE)]
        last: dict[int, datetime] = {}
        for i in range(0, len(open_), 500):
            last.update(s.execute(select(Result.trial_id, func.max(Result.created_at))
                                  .where(Result.trial_id.in_(open_[i:i + 500]))
                                  .group_by(Result.trial_id)).all())
        runs = _runs(s, [r.id for r in rows])
    out = []
    for r in rows:
        end = r.finished_at
        if end is None and not (live_study and r.status in TrialStatus.LIVE):
            known = [t for t in (r.heartbeat_at, last.get(r.id)) if t is not None]
            end = max(known) if known else (study_end or r.started_at)
            if study_end is not None:
                end = min(end, study_end)
            end = max(end, r.started_at)
        parts, start = [], r.started_at
        for pause, resume in runs.get(r.id, ()):
            parts.append((start, pause))
            start = resume
            if resume is None:  # paused since (or until it ended where it was paused)
                break
        if start is not None:
            parts.append((start, end))
        for k, (a, b) in enumerate(parts):
            if k < len(parts) - 1:  # a run that ended in a pause: where it ran is not kept
                out.append(Span(r.number, TrialStatus.PAUSED, a, b))
            else:
                out.append(Span(r.number, r.status, a, b, r.node_id, r.node_host, r.slot))
    return out


def _runs(s, trial_ids: list[int]) -> dict[int, list[tuple[datetime, datetime | None]]]:
    """Trial id -> (paused at, resumed at or None) of each pause, for those paused."""
    out: dict[int, list] = {}
    for i in range(0, len(trial_ids), 500):
        chunk = trial_ids[i:i + 500]
        paused = s.scalars(select(TrialEvent.trial_id).distinct().where(
            TrialEvent.trial_id.in_(chunk), TrialEvent.status == TrialStatus.PAUSED)).all()
        if not paused:
            continue
        events = s.execute(select(TrialEvent.trial_id, TrialEvent.status, TrialEvent.at)
                           .where(TrialEvent.trial_id.in_(paused))
                           .order_by(TrialEvent.trial_id, TrialEvent.at, TrialEvent.id)).all()
        for tid, status, at in events:
            pauses = out.setdefault(tid, [])
            if status == TrialStatus.PAUSED:
                pauses.append([at, None])
            elif status == TrialStatus.RUNNING and pauses and pauses[-1][1] is None:
                pauses[-1][1] = at
    return {tid: [tuple(p) for p in pauses] for tid, pauses in out.items()}


# -- counts and summaries -------------------------------------------------------------
@dataclass(frozen=True)
class Counts:
    """A study's trials by status, and the totals every view shows."""

    by_status: dict[str, int] = field(default_factory=dict)

    def _sum(self, group: Iterable[str]) -> int:
        return sum(self.by_status.get(st, 0) for st in group)

    @property
    def total(self) -> int:
        """Every trial row (the trials table's length), imported ones included."""
        return sum(self.by_status.values())

    @property
    def done(self) -> int:
        """Trials this study ran to their end (toward its budget): DONE."""
        return self._sum(TrialStatus.DONE)

    @property
    def scored(self) -> int:
        return self._sum(TrialStatus.SCORED)

    @property
    def imported(self) -> int:
        return self.by_status.get(TrialStatus.IMPORTED, 0)

    @property
    def ran(self) -> int:
        """Trials this study started (everything but the imported)."""
        return self.total - self.imported


@dataclass(frozen=True)
class StudySummary:
    """What a study's lists and headers show: its counts and its best value."""

    study_id: int
    counts: Counts
    best_value: float | None


def summaries(store, studies: Sequence[Study]) -> dict[int, StudySummary]:
    """Counts by status and best value of each study, in two aggregate queries."""
    ids = [st.id for st in studies]
    if not ids:
        return {}
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    lo_hi: dict[int, float | None] = {}
    with store.session() as s:
        for sid, status, n in s.execute(select(Trial.study_id, Trial.status, func.count())
                                        .where(Trial.study_id.in_(ids))
                                        .group_by(Trial.study_id, Trial.status)):
            counts[sid][str(status)] = n
        # Each study's best value: one walk of the (study, value) index, not an aggregate
        # over every trial (a 1,000,000-trial study among the listed ones).
        for st in studies:
            lo_hi[st.id] = s.scalar(select(Trial.value).where(*_scored(st.id))
                                    .order_by(*value_order(st.mode)).limit(1))
    out = {}
    for st in studies:
        out[st.id] = StudySummary(st.id, Counts(counts[st.id]), lo_hi.get(st.id))
    return out


def summary(store, study: Study) -> StudySummary:
    return summaries(store, [study])[study.id]


def counts(store, study_id: int) -> Counts:
    with store.session() as s:
        rows = s.execute(select(Trial.status, func.count()).where(Trial.study_id == study_id)
                         .group_by(Trial.status))
        return Counts({str(st): n for st, n in rows})


# -- pages ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    """One page of rows from a query, with the total the query matched."""

    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


class PageOutOfRange(ValueError):
    """A page past the last one (page 1 of nothing is fine)."""

    def __init__(self, page: int, per_page: int, total: int):
        self.pages = max(1, -(-total // per_page))
        super().__init__(f"page must be between 1 and {self.pages} ({total} rows, {per_page} per "
                         f"page), got {page}")


def page(store, q: Select, *, page: int, per_page: int, order: Sequence,
         total: int | None = None, total_order: bool = False, key=None) -> Page:
    """Rows ``page`` (from 1) of ``q`` in ``order``; PageOutOfRange past the last page.
    ``total``: the rows ``q`` matches, when the caller already counted them (else counted).
    ``total_order``: ``order`` ties no two rows (it ends with a unique column), so a page in
    the back half is read from the other end, in the reversed order with the smaller offset:
    the last page of a 1,000,000-trial study sorted by value needs the 25 rows at one end
    (a top-N pass over the rows), not a sort of all of them for an offset of 999,975 (1.2 s
    against 4.4 s in PostgreSQL at load 13).
    ``key``: a column unique among ``q``'s rows that an index holds with the order's keys
    (the trial number): the page's keys are read first, past the offset, from that index
    alone, then only their rows (without it, PostgreSQL fetches every skipped row: the
    middle page of 1,000,000 trials took seconds even in index order)."""
    with store.session() as s:
        # Counted on the query's own table, not over a subquery of every column (a studies
        # list must not read the specs to count them).
        if total is None:
            total = s.scalar(q.with_only_columns(func.count(), maintain_column_froms=True)
                             .order_by(None)) or 0
        if page > max(1, -(-total // per_page)):
            raise PageOutOfRange(page, per_page, total)
        offset = (page - 1) * per_page
        n = max(0, min(per_page, total - offset))
        if total_order and n and offset > total - offset - n:
            by, skip, take, flip = [_reversed(k) for k in order], total - offset - n, n, True
        else:
            by, skip, take, flip = list(order), offset, per_page, False
        if key is not None and skip:
            keys = q.with_only_columns(key).order_by(*by).offset(skip).limit(take)
            rows = list(s.scalars(q.where(key.in_(keys)).order_by(*by)))
        else:
            rows = list(s.scalars(q.order_by(*by).offset(skip).limit(take)))
        if flip:
            rows.reverse()
    return Page(rows, total, page, per_page)


def _reversed(key):
    """An ORDER BY key the other way round (``col.desc()`` for ``col`` or ``col.asc()``)."""
    from sqlalchemy.sql import operators
    from sqlalchemy.sql.elements import UnaryExpression

    if isinstance(key, UnaryExpression) and key.modifier in (operators.asc_op, operators.desc_op):
        return key.element.asc() if key.modifier is operators.desc_op else key.element.desc()
    return key.desc()


def trials_query(study_id: int, *, status: str | None = None, where: Sequence = ()) -> Select:
    q = select(Trial).where(Trial.study_id == study_id, *where)
    return q.where(Trial.status == status) if status else q


def studies_query(*, status: str | None = None, owner: str | None = None,
                  equals: dict[str, str] | None = None, name_contains: str | None = None,
                  listing: bool = False, tag: str | None = None,
                  archived: bool | None = None) -> Select:
    """Studies filtered by status, owner, exact column values and a substring of the name.

    ``listing``: for a list of studies (the studies page and API), which shows no spec or
    searcher state: those columns are not loaded (one huge spec must not slow every
    user's studies page), and reading them raises.
    """
    q = select(Study)
    if listing:
        q = q.options(defer(Study.spec, raiseload=True),
                      defer(Study.searcher_state, raiseload=True))
    if status:
        q = q.where(Study.status == status)
    if archived is not None:  # None: both; False: the default list; True: the archive
        q = q.where(Study.archived_at.is_not(None) if archived else Study.archived_at.is_(None))
    if tag:  # tags are a JSON list of [A-Za-z0-9_.-] words: its text holds "tag" quoted
        pattern = '%"' + tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
        q = q.where(cast(Study.tags, String).like(pattern, escape="\\"))
    if owner:
        q = q.where(Study.owner == owner)
    for col, value in (equals or {}).items():
        q = q.where(getattr(Study, col) == value)
    if name_contains:
        pattern = ("%" + name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                   + "%")
        q = q.where(Study.name.ilike(pattern, escape="\\"))
    return q


# -- claims (the dispatcher) --------------------------------------------------------------
def claim_priority():
    """A study's claim priority: the spec's ``priority`` (0 when the spec has none)."""
    return func.coalesce(Study.spec["priority"].as_integer(), 0)


def claimable(now: datetime, exclude: Iterable[int] = ()) -> Select:
    """The next study a dispatcher may take: QUEUED, or RUNNING under an expired lease.

    The share policy (docs/deployment.md): a study whose lease expired first (it was
    running: resume it before anything new), then the highest ``priority``, then the
    owner with the fewest studies running (one user's twenty queued studies do not hold
    back another user's one), then first come first served, so among equals no study
    waits behind a later one. Locked FOR UPDATE SKIP LOCKED on PostgreSQL, so two
    dispatchers never take the same.
    """
    other = aliased(Study)
    owner_running = (select(func.count(other.id))
                     .where(other.status == StudyStatus.RUNNING,
                            func.coalesce(other.owner, "") == func.coalesce(Study.owner, ""))
                     .correlate(Study).scalar_subquery())
    q = (select(Study).where(or_(
            Study.status == StudyStatus.QUEUED,
            (Study.status == StudyStatus.RUNNING) & Study.lease_owner.is_not(None)
            & (Study.lease_expires_at < now)))
         .order_by((Study.status == StudyStatus.RUNNING).desc(), claim_priority().desc(),
                   owner_running, Study.id)
         .limit(1).with_for_update(skip_locked=True, of=Study))
    exclude = list(exclude)
    return q.where(Study.id.not_in(exclude)) if exclude else q


__all__ = ["Counts", "Page", "PageOutOfRange", "Row", "StudySummary", "best_trial", "claim_priority", "claimable",
           "counts", "page", "scored_trials", "studies_query", "summaries", "summary",
           "trials_query", "value_order"]
