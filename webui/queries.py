"""Read helpers shared by the pages and the API: parsing, paging, summaries in SQL."""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from hpsearch.exceptions import NotFoundError
from hpsearch.store import Store, StudyStatus, TrialStatus
from hpsearch.store import queries as reads
from hpsearch.store.models import Result, Study, Trial, utcnow
from webui import filters
from hpsearch.redact import redact
from webui.errors import BadParam

MAX_PER_PAGE = 200
TRIAL_SORTS = {"number": Trial.number, "value": Trial.value, "status": Trial.status,
               "iterations": Trial.iterations, "started": Trial.started_at,
               "finished": Trial.finished_at}
STUDY_SORTS = {"id": Study.id, "name": Study.name, "status": Study.status,
               "created": Study.created_at, "trainable": Study.trainable, "searcher": Study.searcher}


def store() -> Store:
    return current_app.extensions["hpsearch_store"]


# -- parameters ----------------------------------------------------------------------
def int_arg(args, name: str, default: int, lo: int, hi: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParam(f"{name} must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise BadParam(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def choice_arg(args, name: str, allowed) -> str | None:
    raw = args.get(name) or None
    if raw is not None and raw not in allowed:
        raise BadParam(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def sort_arg(args, allowed: dict, default: str) -> tuple[str, Any]:
    raw = args.get("sort") or default
    key = raw.lstrip("-")
    if key not in allowed:
        options = ", ".join(sorted(allowed))
        raise BadParam(f"sort must be one of {options} (prefix - for descending), got {raw!r}")
    col = allowed[key]
    return raw, (col.desc() if raw.startswith("-") else col.asc())


def page_of(q, *, page: int, per_page: int, order, clamp: bool = False,
            total: int | None = None, total_order: bool = False, key=None) -> reads.Page:
    """One page of ``q`` (the read model's); a page past the last one is a bad page number,
    or with ``clamp`` (the HTML pages) the last page. ``total``: rows ``q`` matches, if known;
    ``total_order``: ``order`` ties no two rows (reads.page reads back pages from the end);
    ``key``: a unique column the order's index holds (reads.page reads the page's keys first)."""
    kw = {"per_page": per_page, "order": order, "total": total, "total_order": total_order,
          "key": key}
    try:
        return reads.page(store(), q, page=page, **kw)
    except reads.PageOutOfRange as exc:
        if clamp:
            return reads.page(store(), q, page=exc.pages, **kw)
        raise BadParam(str(exc)) from None


def ids_arg(raw: str | None, lo: int = 1, hi: int = 10, name: str = "ids",
            what: str = "studies") -> list[int]:
    parts = [p.strip() for p in (raw or "").split(",") if p.strip()]
    if not all(p.isascii() and p.isdigit() and len(p) < 10 for p in parts):  # "³".isdigit()
        raise BadParam(f"{name} must be comma-separated {what[:-1] if what.endswith('s') else what} "
                       f"ids, got {raw!r}")
    ids = list(dict.fromkeys(int(p) for p in parts))
    if not lo <= len(ids) <= hi:
        raise BadParam(f"{name} must name {lo} to {hi} different {what}, got {len(ids)}")
    return ids


# -- studies -------------------------------------------------------------------------
def _iso(t: datetime | None) -> str | None:
    return t.isoformat(timespec="seconds") + "Z" if t else None


def study_dict(study: Study, summary: reads.StudySummary) -> dict:
    counts = summary.counts
    return {
        "id": study.id, "name": study.name, "status": study.status, "owner": study.owner,
        "trainable": study.trainable, "searcher": study.searcher, "scheduler": study.scheduler,
        "metric": study.metric, "mode": study.mode, "n_trials": study.n_trials,
        "trials_done": counts.done, "trials_total": counts.total,
        "trials_imported": counts.imported, "counts": dict(counts.by_status),
        "best_value": summary.best_value,
        "cancel_requested": bool(study.cancel_requested),
        "created_at": _iso(study.created_at), "started_at": _iso(study.started_at),
        "finished_at": _iso(study.finished_at), "duration_s": _duration(study),
        "error": redact(study.error), "end_reason": study.end_reason,
        "waiting": study.waiting,
        "tags": list(study.tags or []),
        "archived_at": _iso(study.archived_at),
        "init_source": study.init_source,  # cold start: the trial its trials started from
        "warm_start_picked": study.warm_start_picked,  # warm_start: auto's picks and why
    }


def _duration(study: Study) -> float | None:
    """Seconds from start to finish (to now while it runs); None before it starts."""
    if study.started_at is None:
        return None
    end = study.finished_at or (utcnow() if study.status == StudyStatus.RUNNING else None)
    return round((end - study.started_at).total_seconds(), 1) if end else None


def study_summary(study_id: int) -> dict:
    st = store()
    study = st.get_study(int(study_id))
    return study_dict(study, reads.summary(st, study))


def list_studies(args, clamp: bool = False) -> dict:
    """Studies filtered by status/trainable/searcher and name, sorted, one page."""
    status = choice_arg(args, "status", StudyStatus.ALL)
    page = int_arg(args, "page", 1, 1, 10**6)
    per_page = int_arg(args, "per_page", 50, 1, MAX_PER_PAGE)
    sort, order = sort_arg(args, STUDY_SORTS, "-id")
    archived = choice_arg(args, "archived", ("0", "1", "all")) or "0"
    q = reads.studies_query(status=status, name_contains=args.get("q") or None, listing=True,
                            equals={k: args[k] for k in ("trainable", "searcher") if args.get(k)},
                            tag=args.get("tag") or None,
                            archived={"0": False, "1": True, "all": None}[archived])
    st = store()
    got = page_of(q, page=page, per_page=per_page, order=(order, Study.id.desc()), clamp=clamp)
    page = got.page
    rows = got.items
    with st.session() as s:
        families = sorted(set(s.scalars(select(Study.trainable).distinct())))
        searchers = sorted(set(s.scalars(select(Study.searcher).distinct())))
    summaries = reads.summaries(st, rows)
    return {"items": [study_dict(r, summaries[r.id]) for r in rows], "total": got.total,
            "page": page, "per_page": per_page, "sort": sort,
            "filters": {"status": status, "trainable": args.get("trainable") or None,
                        "searcher": args.get("searcher") or None, "q": args.get("q") or None,
                        "tag": args.get("tag") or None, "archived": archived},
            "choices": {"status": list(StudyStatus.ALL), "trainable": families,
                        "searcher": searchers}}


# -- trials --------------------------------------------------------------------------
def trial_dict(t: Trial) -> dict:
    return {"number": t.number, "status": t.status, "params": t.params, "value": t.value,
            "best_value": t.best_value, "iterations": t.iterations, "error": redact(t.error),
            "started_at": _iso(t.started_at), "finished_at": _iso(t.finished_at),
            "imported_from": t.imported_from, "notes": t.notes, "worker": worker_dict(t)}


def worker_dict(t: Trial) -> dict | None:
    """Where the trial ran (None: it never said, e.g. a trial from before this was kept)."""
    if not t.node_id and not t.node_host:
        return None
    return {"node_id": t.node_id, "host": t.node_host, "ip": t.node_ip, "slot": t.slot,
            "label": reads.worker_label(t.node_host, t.node_id, t.slot)}


def best_trial(study: Study) -> dict | None:
    t = reads.best_trial(store(), study)
    return trial_dict(t) if t else None


def to_best(study: Study, best: dict | None) -> dict:
    """How far a study went to find its best trial: trials run and seconds from its start."""
    if best is None:
        return {"trials_to_best": None, "time_to_best_s": None}
    finished = datetime.fromisoformat(best["finished_at"].rstrip("Z")) if best["finished_at"] else None
    seconds = (finished - study.started_at).total_seconds() if finished and study.started_at else None
    return {"trials_to_best": best["number"] + 1,
            "time_to_best_s": round(seconds, 1) if seconds is not None else None}


def trial_sort(study: Study, args) -> tuple[str, Any]:
    """``sort`` for trials: a column, ``param.NAME`` (a parameter's value) or ``metric.NAME``
    (a metric's final value), in SQL."""
    raw = args.get("sort") or "number"
    key = raw.lstrip("-")
    if key.startswith(filters.METRIC):
        known = filter_metrics(study)
        if key[len(filters.METRIC):] not in known:
            raise BadParam(f"sort: unknown metric in {raw!r}; metrics: {', '.join(known) or 'none'}")
        return raw, filters.metric_value(key[len(filters.METRIC):])
    if key.startswith(filters.PREFIX):
        infos = filters.params_of(study)
        info = infos.get(key[len(filters.PREFIX):])
        if info is None:
            raise BadParam(f"sort: unknown parameter in {raw!r}; parameters: {', '.join(infos) or 'none'}")
        value = Trial.params[info.name]
        return raw, (value.as_float() if info.numeric else value.as_string())
    if key not in TRIAL_SORTS:
        options = ", ".join(sorted(TRIAL_SORTS))
        raise BadParam(f"sort must be one of {options} or param.NAME (prefix - for descending), "
                       f"got {raw!r}")
    return raw, TRIAL_SORTS[key]


EXTRA_COLUMNS = ("duration", "worker")  # besides metric.NAME (any reported metric)
MAX_EXPORT = 100_000


def columns_arg(study: Study, args) -> list[str]:
    """``cols``: extra trials-table columns, ``duration`` or ``metric.NAME`` (repeat or comma)."""
    raw = [c.strip() for v in args.getlist("cols") for c in v.split(",") if c.strip()]
    known = reads.reported_metrics(store(), study.id) if any(c.startswith("metric.") for c in raw) else []
    for c in raw:
        if c not in EXTRA_COLUMNS and not (c.startswith("metric.") and c[7:] in known):
            raise BadParam(f"cols: unknown column {c!r}; columns: duration, worker, "
                           + ", ".join(f"metric.{m}" for m in known or reads.reported_metrics(store(), study.id)))
    return list(dict.fromkeys(raw))


def trials_filtered(study: Study, args):
    """The query of a study's trials under the table's filters and sort, and what was parsed."""
    status = choice_arg(args, "status", TrialStatus.ALL)
    sort, col = trial_sort(study, args)
    order = col.desc() if sort.startswith("-") else col.asc()
    params = filters.parse(study, args)
    metrics = filters.parse_metrics(study, args, filter_metrics(study)) if filters.wants_metrics(args) else {}
    q = reads.trials_query(study.id, status=status,
                           where=filters.clauses(params) + filters.metric_clauses(metrics))
    # NULL values last whichever the direction; a column that holds no NULL (the trial
    # number, the default) is ordered by itself alone, so that its index serves the page
    # (a million-trial study's first page: no sort of every trial).
    nullable = getattr(getattr(col, "expression", col), "nullable", True)
    keys = ((col.is_(None),) if nullable else ()) + (order,) + (() if col is Trial.number
                                                               else (Trial.number,))
    return q, keys, {"sort": sort, "status": status, "params": params, "metrics": metrics}


def filter_metrics(study: Study) -> list[str]:
    """The metrics a trials filter or sort may name: the spec's objectives and constrained
    metrics, then every metric the study reports."""
    return list(dict.fromkeys(filters.spec_metrics(study) + reads.reported_metrics(store(), study.id)))


def export_rows(study: Study, args) -> list[dict]:
    """Every trial under the table's filters and sort, as ``Study.to_dataframe()`` rows."""
    q, order, _ = trials_filtered(study, args)
    with store().session() as s:
        rows = list(s.scalars(q.order_by(*order).limit(MAX_EXPORT + 1)))
        if len(rows) > MAX_EXPORT:
            raise BadParam(f"more than {MAX_EXPORT:,} trials match: narrow the filter, or use "
                           "study.to_dataframe() in Python")
        return [reads.table_row(t, study.metric) for t in rows]


def list_trials(study: Study, args, clamp: bool = False,
                counts: dict[str, int] | None = None) -> dict:
    """One page of a study's trials, filtered by status and sorted, in SQL (``clamp``: a page
    past the end shows the last one). ``counts``: the study's trials by status, as its
    summary just read them; without parameter or metric filters the page's total is taken
    from them instead of counting the trials again (at 1,000,000 trials a count costs the
    study page 0.1-0.7 s)."""
    page = int_arg(args, "page", 1, 1, 10**6)
    per_page = int_arg(args, "per_page", 25, 1, MAX_PER_PAGE)
    q, order, parsed = trials_filtered(study, args)
    cols = columns_arg(study, args)
    total = None
    if counts is not None and not parsed["params"] and not parsed["metrics"]:
        total = counts.get(parsed["status"], 0) if parsed["status"] else sum(counts.values())
    # The order ends with the trial number, unique in a study: a total order.
    got = page_of(q, page=page, per_page=per_page, order=order, clamp=clamp, total=total,
                  total_order=True, key=Trial.number)
    items = [trial_dict(t) for t in got.items]
    if cols:
        last = reads.last_results(store(), [t.id for t in got.items]) if any(
            c.startswith("metric.") for c in cols) else {}
        for t, d in zip(got.items, items):
            extra = {}
            for c in cols:
                if c == "duration":
                    extra[c] = reads.table_row(t, study.metric)["duration_s"]
                elif c == "worker":
                    extra[c] = (d["worker"] or {}).get("label")
                else:
                    extra[c] = last.get(t.id, {}).get(c[7:])
            d["columns"] = extra
    return {"items": items, "total": got.total, "page": got.page, "per_page": per_page,
            "pages": got.pages, "columns": cols, **parsed}


def trial_detail(study: Study, number: int, with_results: bool = True) -> dict:
    st = store()
    t = st.get_trial(study.id, number)
    d = trial_dict(t)
    d["events"] = [{"status": e.status, "at": _iso(e.at), "message": redact(e.message)}
                   for e in st.trial_events(t.id)]
    d["checkpoint"] = checkpoint_info(t.checkpoint, t.iterations)
    d["last_metrics"] = last_metrics(t.id)
    if with_results:
        d["results"] = [{"iteration": r.iteration, "value": r.value, "metrics": r.metrics}
                        for r in st.results(t.id)]
    return d


def last_metrics(trial_id: int) -> dict:
    """The metrics of a trial's last reported result (every metric it reports, latest value)."""
    with store().session() as s:
        row = s.scalar(select(Result.metrics).where(Result.trial_id == trial_id)
                       .order_by(Result.iteration.desc()).limit(1))
    return dict(row or {})


_CKPT_NAME = re.compile(r"checkpoint_(\d+)$")
MAX_CKPT_FILES = 1000


def checkpoint_info(path: str | None, iterations: int) -> dict | None:
    """What the trial's last checkpoint is: path, index, size and time when this host sees it.

    Only metadata is read (stat), never the checkpoint's contents.
    """
    if not path:
        return None
    p = Path(path)
    m = _CKPT_NAME.search(p.name)
    info: dict[str, Any] = {"path": path, "index": int(m.group(1)) if m else None,
                            "iteration": iterations, "on_this_host": False,
                            "size_bytes": None, "modified_at": None, "files": None}
    try:
        if p.is_dir():
            files = [f for _, f in zip(range(MAX_CKPT_FILES), p.rglob("*")) if f.is_file()]
            stats = [f.stat() for f in files]
        elif p.is_file():
            files, stats = [p], [p.stat()]
        else:
            return info
    except OSError:
        return info
    info.update(on_this_host=True, size_bytes=sum(x.st_size for x in stats), files=len(files),
                modified_at=_iso(datetime.fromtimestamp(max((x.st_mtime for x in stats),
                                                            default=p.stat().st_mtime),
                                                        timezone.utc).replace(tzinfo=None)))
    return info


# -- live ---------------------------------------------------------------------------
MAX_LIVE_RESULTS = 2000


def results_since(study: Study, after: int | None, limit: int = MAX_LIVE_RESULTS) -> dict:
    """A study's results reported after result id ``after``, oldest first (the live page's
    incremental fetch). Without ``after``: none, only the cursor to start from."""
    with store().session() as s:
        if after is None:
            last = s.scalar(select(func.max(Result.id))) or 0
            return {"results": [], "last_id": last, "more": False}
        rows = list(s.execute(
            select(Result.id, Trial.number, Result.iteration, Result.value, Result.metrics)
            .join(Trial, Trial.id == Result.trial_id)
            .where(Trial.study_id == study.id, Result.id > after)
            .order_by(Result.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"results": [{"id": i, "trial": n, "iteration": it, "value": v, "metrics": m or {}}
                        for i, n, it, v, m in rows],
            "last_id": rows[-1][0] if rows else after, "more": more}


def dispatcher_note(study: dict) -> dict | None:
    """For a QUEUED study: the live dispatchers (None when the study is not queued)."""
    if study["status"] != "QUEUED":
        return None
    live = store().live_dispatchers()
    return {"alive": len(live), "names": [d.name for d in live],
            "start": "hpsearch dispatcher --db DATABASE_URL"}


# -- compare studies -------------------------------------------------------------------
def compare_studies(args) -> dict:
    """Studies side by side: summaries (with trials and time to best), best trials, params diff.

    ``?ids=1,2`` or ``?ids=1&ids=2`` (the studies page's checkboxes), 1 to 10 studies.
    """
    ids = ids_arg(",".join(args.getlist("ids")), lo=1, hi=10)
    st = store()
    rows = [st.get_study(i) for i in ids]
    summaries = reads.summaries(st, rows)
    studies, bests = [], []
    for row in rows:
        best = best_trial(row)
        studies.append({**study_dict(row, summaries[row.id]), **to_best(row, best)})
        bests.append(best)
    keys = sorted({k for b in bests if b for k in b["params"]})
    diff = []
    for k in keys:
        values = [b["params"].get(k) if b else None for b in bests]
        diff.append({"param": k, "values": values,
                     "differs": len({json.dumps(v, sort_keys=True) for v in values}) > 1})
    metrics = sorted({(s["metric"], s["mode"]) for s in studies})
    return {"studies": studies, "best_trials": bests, "params": diff,
            "metrics": [{"metric": m, "mode": mode} for m, mode in metrics],
            "metrics_differ": len(metrics) > 1}


# -- compare trials within a study ----------------------------------------------------
def trial_numbers(args) -> list[int]:
    """``?trials=1,4,7`` or ``?trials=1&trials=4`` (the checkboxes of the trials table)."""
    raw = ",".join(args.getlist("trials"))
    return ids_arg(raw, lo=2, hi=20, name="trials", what="trials")


def compare_trials(study: Study, numbers: list[int]) -> dict:
    """The chosen trials side by side: their rows, and their params with the differing marked."""
    st = store()
    trials = [trial_dict(st.get_trial(study.id, n)) for n in numbers]
    keys = list(dict.fromkeys(k for t in trials for k in t["params"]))
    rows = []
    for k in keys:
        values = [t["params"].get(k) for t in trials]
        rows.append({"param": k, "values": values,
                     "differs": len({json.dumps(v, sort_keys=True) for v in values}) > 1})
    return {"study_id": study.id, "trials": trials, "params": rows}


# Ids in URLs: the int converter takes any size; the databases hold 32-bit ids.
MAX_ID = 2**31 - 1


def check_url_ids(endpoint: str | None, values: dict | None) -> None:
    """A url_value_preprocessor: an id no database could hold is an unknown one (404), not a 500."""
    for key in ("study_id", "number"):
        v = (values or {}).get(key)
        if isinstance(v, int) and v > MAX_ID:
            what = "study" if key == "study_id" else "trial"
            raise NotFoundError(f"no {what} {v}")
