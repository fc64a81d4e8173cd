"""Charts over reported results: learning curves, one trial's metrics, comparisons."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from sqlalchemy import func, select

from hpsearch.plots._common import (best_idx, check_metric, empty, frame, get_study, int_axis,
                                    metric_title)
from hpsearch.plots._common import title as title_dict
from hpsearch.store.models import Result, Study, Trial, TrialStatus
from hpsearch.store.queries import NOT_METRICS, last_reported

MAX_POINTS_PER_TRIAL = 200
MAX_CURVES = 50
MAX_METRIC_PANELS = 32  # every metric a trial reports, up to this many panels
_NOT_METRICS = NOT_METRICS


def _curves(store, trial_ids: list[int], metric: str | None = None
            ) -> dict[int, tuple[list[int], list[float]]]:
    """Per trial, at most MAX_POINTS_PER_TRIAL (iteration, value) points, thinned in SQL;
    ``metric``: that reported metric instead of the study's objective."""
    if not trial_ids:
        return {}
    with store.session() as s:
        agg = (select(Result.trial_id.label("tid"), func.count(Result.id).label("n"),
                      func.max(Result.iteration).label("last"))
               .where(Result.trial_id.in_(trial_ids)).group_by(Result.trial_id).subquery())
        stride = (agg.c.n + MAX_POINTS_PER_TRIAL - 1) // MAX_POINTS_PER_TRIAL
        value = Result.value if metric is None else Result.metrics[metric].as_float()
        q = (select(Result.trial_id, Result.iteration, value)
             .join(agg, agg.c.tid == Result.trial_id)
             .where((Result.iteration % stride == 0) | (Result.iteration == agg.c.last))
             .order_by(Result.trial_id, Result.iteration))
        out: dict[int, tuple[list[int], list[float]]] = {}
        for tid, it, v in s.execute(q):
            if v is None:
                continue
            xs, ys = out.setdefault(tid, ([], []))
            xs.append(it)
            ys.append(v)
        return out


def _pick_curves(ids: np.ndarray, values: np.ndarray, mode: str, best: int | None) -> np.ndarray:
    """The best trial (id ``best``), the ten best, then an even sample of the rest, up to
    MAX_CURVES: their positions in ``ids`` (trials that reported, by number; ``values``:
    their values, NaN where none), in that order."""
    finite = np.flatnonzero(np.isfinite(values))
    ranked = finite[np.argsort(-values[finite] if mode == "max" else values[finite], kind="stable")]
    keep = set(ranked[:10].tolist())
    if best is not None:
        keep.update(np.flatnonzero(ids == best).tolist())
    free = np.ones(len(ids), dtype=bool)  # a mask, not setdiff1d's sort (0.08 s at 100,000)
    free[np.fromiter(keep, dtype=np.int64, count=len(keep))] = False
    rest = np.flatnonzero(free)
    room = MAX_CURVES - len(keep)
    if len(rest) > room:
        step = len(rest) / room
        rest = rest[np.floor(np.arange(room) * step).astype(np.int64)]
    keep.update(rest.tolist())
    return np.array(sorted(keep), dtype=np.int64)


def _reported(store, study: Study, fr) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ids, numbers, values) of the trials that reported, by number: the scored ones from the
    study's frame (their value comes from a report; one whose value is not finite has no
    curve worth picking), the others (running, failed) read here."""
    with store.engine.connect() as conn:
        others = conn.execute(select(Trial.id, Trial.number, Trial.value)
                              .where(Trial.study_id == study.id,
                                     # IN, not NOT IN: the (study, status) index finds them
                                     Trial.status.in_([st for st in TrialStatus.ALL
                                                       if st not in TrialStatus.SCORED]),
                                     Trial.iterations > 0)).all()
    ids = np.concatenate([fr.ids, np.array([r[0] for r in others], dtype=np.int64)])
    numbers = np.concatenate([fr.numbers, np.array([r[1] for r in others], dtype=np.int64)])
    values = np.concatenate([fr.values, np.array([np.nan if r[2] is None else r[2] for r in others],
                                                 dtype=np.float64)])
    order = np.argsort(numbers, kind="stable")
    return ids[order], numbers[order], values[order]


def learning_curves(store, study_id: int, metric: str | None = None) -> go.Figure:
    """Each trial's reported metric by iteration; the best highlighted, early-stopped dotted.

    ``metric``: any metric the trials report (default: the study's objective).
    At most MAX_CURVES trials (the ten best and an even sample of the rest),
    each thinned to MAX_POINTS_PER_TRIAL points.
    """
    study = get_study(store, study_id)
    metric = check_metric(store, study, metric)
    title = f"Learning curves: {study.name}" + (f" ({metric})" if metric else "")
    fr = frame(store, study.id)  # the scored trials' columns: no 100,000-row read here
    best_id = int(fr.ids[best_idx(fr.values, study.mode)]) if len(fr) else None
    ids, numbers, values = _reported(store, study, fr)
    pos = _pick_curves(ids, values, study.mode, best_id)
    picked_ids = [int(i) for i in ids[pos]]
    with store.engine.connect() as conn:
        statuses = dict(conn.execute(select(Trial.id, Trial.status)
                                     .where(Trial.id.in_(picked_ids))).all()) if picked_ids else {}
    picked = [(tid, int(numbers[k]), statuses.get(tid)) for tid, k in zip(picked_ids, pos)]
    curves = _curves(store, picked_ids, metric)
    if not curves:
        return empty(title, study)
    note = (f"{len(picked):,} of {len(ids):,} trials shown (the 10 best and an even sample)"
            if len(picked) < len(ids) else "")
    # No legend entry per trial (the hover names each): 50 entries cost the browser more to
    # lay out than the curves themselves (draw time halved in an A/B at 100,000 trials).
    stopped_shown = any(st == TrialStatus.EARLY_STOPPED and tid in curves for tid, _, st in picked)
    note = "; ".join(filter(None, [note, "dotted: early stopped" if stopped_shown else ""]))
    last = max((xs[-1] for xs, _ in curves.values() if xs), default=None)
    fig = go.Figure(layout={"title": title_dict(title, note),
                            "xaxis": {"title": {"text": "iteration"}, **int_axis(last)},
                            "yaxis": {"title": {"text": metric or metric_title(study)}},
                            "meta": {"metric": metric or study.metric}})
    for tid, number, status in picked:
        if tid not in curves or tid == best_id:
            continue
        xs, ys = curves[tid]
        stopped = status == TrialStatus.EARLY_STOPPED
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", name=f"trial {number}" + (" (early stopped)" if stopped else ""),
            meta=number, showlegend=False,
            line={"width": 1, "dash": "dot" if stopped else "solid",
                  "color": "rgba(200,80,60,0.6)" if stopped else "rgba(90,110,160,0.5)"}))
    if best_id in curves:
        number = next(r[1] for r in picked if r[0] == best_id)
        xs, ys = curves[best_id]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"best: trial {number}", meta=number,
                                 line={"width": 3, "color": "#2ca02c"}))
    return fig


def _metric_series(store, trial_id: int) -> dict[str, tuple[list[int], list[float]]]:
    """Every numeric metric a trial reported, by iteration (thinned to MAX_POINTS_PER_TRIAL)."""
    with store.session() as s:
        n, last = s.execute(select(func.count(Result.id), func.max(Result.iteration))
                            .where(Result.trial_id == trial_id)).one()
        stride = max(1, math.ceil((n or 0) / MAX_POINTS_PER_TRIAL))
        rows = list(s.execute(select(Result.iteration, Result.metrics)
                              .where(Result.trial_id == trial_id,
                                     (Result.iteration % stride == 0) | (Result.iteration == last))
                              .order_by(Result.iteration)))
    series: dict[str, tuple[list[int], list[float]]] = {}
    for it, metrics in rows:
        for k, v in (metrics or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _NOT_METRICS:
                xs, ys = series.setdefault(k, ([], []))
                xs.append(it)
                ys.append(v)
    return series


def trial_metrics(store, study_id: int, number: int) -> go.Figure:
    """One trial's numeric metrics by iteration, one panel per metric (the study's first)."""
    study = get_study(store, study_id)
    trial = store.get_trial(study.id, int(number))
    title = f"Trial {trial.number}: every reported metric"
    series = _metric_series(store, trial.id)
    if not series:
        return empty(title, study)
    names = sorted(series, key=lambda k: (k != study.metric, k))
    if len(names) > MAX_METRIC_PANELS:
        title += f" (first {MAX_METRIC_PANELS} of {len(names)})"
        names = names[:MAX_METRIC_PANELS]
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names,
                        vertical_spacing=min(0.08, 0.3 / len(names)))
    for i, k in enumerate(names, start=1):
        xs, ys = series[k]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=k, showlegend=False,
                                 marker={"size": 4}), row=i, col=1)
    fig.update_xaxes(title_text="iteration", row=len(names), col=1)
    fig.update_xaxes(**int_axis(max((xs[-1] for xs, _ in series.values() if xs), default=None)))
    fig.update_layout(title={"text": title}, height=max(380, 200 * len(names) + 80))
    return fig


def compare_trials(store, study_id: int, numbers: Sequence[int]) -> go.Figure:
    """The learning curves of chosen trials of one study, overlaid (NotFoundError if one is missing)."""
    study = get_study(store, study_id)
    trials = [store.get_trial(study.id, int(n)) for n in dict.fromkeys(numbers)]
    title = f"Trials {', '.join(str(t.number) for t in trials)} of {study.name}"
    curves = _curves(store, [t.id for t in trials])
    last = max((xs[-1] for xs, _ in curves.values() if xs), default=None)
    fig = go.Figure(layout={"title": {"text": title},
                            "xaxis": {"title": {"text": "iteration"}, **int_axis(last)},
                            "yaxis": {"title": {"text": metric_title(study)}}})
    for t in trials:
        if t.id in curves:
            xs, ys = curves[t.id]
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=f"trial {t.number}",
                                     meta=t.number,
                                     marker={"size": 4}))
    if not fig.data:
        return empty(title, study)
    return fig


def compare_history(store, study_ids: list[int], metric: str | None = None) -> go.Figure:
    """Best-so-far curves of several studies: one panel per (metric, mode), each study on the
    panel of its own metric (steps only, so any size stays small).

    Studies that optimise different metrics never share a y axis: the title says so.
    ``metric``: instead, each finished trial's last reported value of that metric (any
    metric the studies report), all studies on one panel.
    """
    studies = [get_study(store, i) for i in study_ids]
    title = "Best so far: " + ", ".join(s.name for s in studies)
    if metric:
        title = f"{metric} of each finished trial: " + ", ".join(s.name for s in studies)
        fig = go.Figure(layout={"title": {"text": title}, "xaxis": {"title": {"text": "trial"}, **int_axis()},
                                "yaxis": {"title": {"text": metric}}})
        for study in studies:
            rows = last_reported(store, study.id, metric)
            if rows:
                fig.add_trace(go.Scatter(x=[r.number for r in rows], y=[r.value for r in rows],
                                         mode="markers", name=study.name, meta=study.id))
        return fig if fig.data else empty(title)
    groups: dict[tuple[str, str], list] = {}
    for study in studies:
        groups.setdefault((study.metric, study.mode), []).append(study)
    keys = list(groups)
    note = (f"the studies optimise {len(keys)} different metrics: one panel each"
            if len(keys) > 1 else "")
    fig = make_subplots(rows=len(keys), cols=1, shared_xaxes=False,
                        subplot_titles=[f"{m} ({mode})" for m, mode in keys],
                        vertical_spacing=min(0.12, 0.4 / len(keys)))
    drawn = 0
    for row, key in enumerate(keys, start=1):
        for study in groups[key]:
            fr = frame(store, study.id)
            if not len(fr):
                continue
            bests = (np.maximum if study.mode == "max" else np.minimum).accumulate(fr.values)
            keep = np.unique(np.r_[0, len(fr) - 1, np.flatnonzero(bests[1:] != bests[:-1]) + 1])
            fig.add_trace(go.Scatter(x=fr.numbers[keep], y=bests[keep],
                                     mode="lines", line={"shape": "hv"}, meta=study.id,
                                     name=f"{study.name} ({metric_title(study)})"), row=row, col=1)
            drawn += 1
        fig.update_yaxes(title_text=key[0], row=row, col=1)
        fig.update_xaxes(title_text="trial", tickformat="d", row=row, col=1)
    if not drawn:
        return empty(title)
    fig.update_layout(title=title_dict(title, note), height=max(380, 300 * len(keys) + 80))
    return fig
