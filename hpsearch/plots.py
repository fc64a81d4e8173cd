"""Plot functions: one public function per chart, each returning a plotly Figure.

The web UI and the notebook API call the same functions. Each checks its input,
aggregates in SQL where it can (a page never loads every result of a 10,000-trial
study), and returns an empty figure with the note "no data yet" when there is
nothing to draw.

>>> from hpsearch.store import Store                    # doctest: +SKIP
>>> optimization_history(Store(), 1).show()             # doctest: +SKIP
"""
from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from sqlalchemy import func, select

from hpsearch.store.models import Result, Study, Trial, TrialStatus

__all__ = ["optimization_history", "parallel_coordinates", "param_importance", "slice_plot",
           "contour", "learning_curves", "trial_metrics", "compare_history", "PLOTS"]

MAX_POINTS_PER_TRIAL = 200
MAX_CURVES = 50
# Trials whose value counts toward "best": finished with a value.
_SCORED = (TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED, TrialStatus.IMPORTED)


# -- helpers -----------------------------------------------------------------------
def _empty(title: str) -> go.Figure:
    fig = go.Figure(layout={"title": {"text": title}})
    fig.add_annotation(text="no data yet", showarrow=False, xref="paper", yref="paper",
                       x=0.5, y=0.5, font={"size": 16})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _study(store, study_id: int) -> Study:
    return store.get_study(int(study_id))  # NotFoundError for an unknown id


def _scored(store, study_id: int) -> list[tuple[int, dict, float]]:
    """(number, params, value) of finished trials with a finite value, by number."""
    with store.session() as s:
        rows = s.execute(select(Trial.number, Trial.params, Trial.value)
                         .where(Trial.study_id == study_id, Trial.status.in_(_SCORED),
                                Trial.value.is_not(None)).order_by(Trial.number))
        return [(n, p or {}, v) for n, p, v in rows if v is not None and math.isfinite(v)]


def _best_so_far(values: list[float], mode: str) -> list[float]:
    out, best = [], None
    for v in values:
        best = v if best is None else (max(best, v) if mode == "max" else min(best, v))
        out.append(best)
    return out


def _param_names(rows) -> list[str]:
    names: dict[str, None] = {}
    for _, params, _ in rows:
        for k in params:
            names.setdefault(k, None)
    return list(names)


def _is_numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None)


def _encode(values: list[Any]) -> tuple[list[float], list[str] | None]:
    """Numbers as they are; anything else as category codes (and the labels)."""
    if _is_numeric(values):
        return [float("nan") if v is None else float(v) for v in values], None
    labels = sorted({str(v) for v in values})
    index = {lab: i for i, lab in enumerate(labels)}
    return [float(index[str(v)]) for v in values], labels


def _metric_title(study: Study) -> str:
    return f"{study.metric} ({study.mode})"


# -- charts -------------------------------------------------------------------------
def optimization_history(store, study_id: int) -> go.Figure:
    """Each trial's value by trial number, and the best-so-far line."""
    study = _study(store, study_id)
    title = f"Optimization history: {study.name}"
    rows = _scored(store, study.id)
    if not rows:
        return _empty(title)
    xs = [n for n, _, _ in rows]
    ys = [v for _, _, v in rows]
    fig = go.Figure(layout={"title": {"text": title}, "xaxis": {"title": {"text": "trial"}},
                            "yaxis": {"title": {"text": _metric_title(study)}}})
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name="value"))
    fig.add_trace(go.Scatter(x=xs, y=_best_so_far(ys, study.mode), mode="lines",
                             name="best so far", line={"shape": "hv"}))
    return fig


def parallel_coordinates(store, study_id: int) -> go.Figure:
    """One line per finished trial across every parameter and the value."""
    study = _study(store, study_id)
    title = f"Parallel coordinates: {study.name}"
    rows = _scored(store, study.id)
    names = _param_names(rows)
    if not rows or not names:
        return _empty(title)
    dims = []
    for name in names:
        vals, labels = _encode([p.get(name) for _, p, _ in rows])
        dim: dict[str, Any] = {"label": name, "values": vals}
        if labels is not None:
            dim.update(tickvals=list(range(len(labels))), ticktext=labels)
        dims.append(dim)
    ys = [v for _, _, v in rows]
    dims.append({"label": study.metric, "values": ys})
    line = {"color": ys, "colorscale": "Viridis", "showscale": True,
            "reversescale": study.mode == "min"}
    return go.Figure(go.Parcoords(dimensions=dims, line=line), layout={"title": {"text": title}})


def param_importance(store, study_id: int) -> go.Figure:
    """Parameter importance: a random forest fitted to the finished trials.

    The importance is the forest's mean decrease in impurity (scikit-learn's
    ``RandomForestRegressor.feature_importances_``), an estimate named in the title.
    """
    study = _study(store, study_id)
    title = f"Parameter importance (random-forest impurity estimate): {study.name}"
    rows = _scored(store, study.id)
    names = _param_names(rows)
    if len(rows) < 2 or not names:
        return _empty(title)
    from sklearn.ensemble import RandomForestRegressor  # heavy: only when drawn

    cols = [_encode([p.get(n) for _, p, _ in rows])[0] for n in names]
    X = [[(0.0 if math.isnan(c[i]) else c[i]) for c in cols] for i in range(len(rows))]
    y = [v for _, _, v in rows]
    forest = RandomForestRegressor(n_estimators=64, max_depth=8, random_state=0, n_jobs=1)
    forest.fit(X, y)
    pairs = sorted(zip(names, forest.feature_importances_), key=lambda t: t[1])
    fig = go.Figure(go.Bar(x=[float(v) for _, v in pairs], y=[n for n, _ in pairs], orientation="h"),
                    layout={"title": {"text": title},
                            "xaxis": {"title": {"text": "importance"}}})
    return fig


def slice_plot(store, study_id: int) -> go.Figure:
    """The value against each parameter, one panel per parameter."""
    study = _study(store, study_id)
    title = f"Slice plot: {study.name}"
    rows = _scored(store, study.id)
    names = _param_names(rows)
    if not rows or not names:
        return _empty(title)
    fig = make_subplots(rows=1, cols=len(names), shared_yaxes=True, subplot_titles=names)
    ys = [v for _, _, v in rows]
    nums = [n for n, _, _ in rows]
    for i, name in enumerate(names, start=1):
        xs = [p.get(name) for _, p, _ in rows]
        if not _is_numeric(xs):
            xs = [str(x) for x in xs]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=name, showlegend=False,
                                 marker={"color": nums, "colorscale": "Blues"},
                                 text=[f"trial {n}" for n in nums]), row=1, col=i)
    fig.update_yaxes(title_text=_metric_title(study), row=1, col=1)
    fig.update_layout(title={"text": title})
    return fig


def contour(store, study_id: int, params: tuple[str, str] | None = None) -> go.Figure:
    """The value over a pair of parameters (the first two numeric ones by default)."""
    study = _study(store, study_id)
    rows = _scored(store, study.id)
    names = _param_names(rows)
    if params is None:
        numeric = [n for n in names if _is_numeric([p.get(n) for _, p, _ in rows])]
        params = tuple(numeric[:2]) if len(numeric) >= 2 else tuple(names[:2])  # type: ignore[assignment]
    title = f"Contour: {study.name}" + (f" ({params[0]} × {params[1]})" if len(params) == 2 else "")
    if len(rows) < 2 or len(params) != 2:
        return _empty(title)
    a, b = params
    xs, xl = _encode([p.get(a) for _, p, _ in rows])
    ys, yl = _encode([p.get(b) for _, p, _ in rows])
    zs = [v for _, _, v in rows]
    fig = go.Figure(layout={"title": {"text": title}, "xaxis": {"title": {"text": a}},
                            "yaxis": {"title": {"text": b}}})
    # 1-D x/y/z: plotly grids the scattered points itself.
    fig.add_trace(go.Contour(x=xs, y=ys, z=zs, connectgaps=True, colorscale="Viridis",
                             reversescale=study.mode == "min",
                             colorbar={"title": {"text": study.metric}}))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", showlegend=False,
                             marker={"color": "black", "size": 5}))
    if xl is not None:
        fig.update_xaxes(tickvals=list(range(len(xl))), ticktext=xl)
    if yl is not None:
        fig.update_yaxes(tickvals=list(range(len(yl))), ticktext=yl)
    return fig


def _curves(store, trial_ids: list[int]) -> dict[int, tuple[list[int], list[float]]]:
    """Per trial, at most MAX_POINTS_PER_TRIAL (iteration, value) points, thinned in SQL."""
    if not trial_ids:
        return {}
    with store.session() as s:
        agg = (select(Result.trial_id.label("tid"), func.count(Result.id).label("n"),
                      func.max(Result.iteration).label("last"))
               .where(Result.trial_id.in_(trial_ids)).group_by(Result.trial_id).subquery())
        stride = (agg.c.n + MAX_POINTS_PER_TRIAL - 1) // MAX_POINTS_PER_TRIAL
        q = (select(Result.trial_id, Result.iteration, Result.value)
             .join(agg, agg.c.tid == Result.trial_id)
             .where((Result.iteration % stride == 0) | (Result.iteration == agg.c.last))
             .order_by(Result.trial_id, Result.iteration))
        out: dict[int, tuple[list[int], list[float]]] = {}
        for tid, it, v in s.execute(q):
            xs, ys = out.setdefault(tid, ([], []))
            xs.append(it)
            ys.append(v)
        return out


def learning_curves(store, study_id: int) -> go.Figure:
    """Each trial's reported metric by iteration; the best trial highlighted.

    Shows at most MAX_CURVES trials (the best ones) and MAX_POINTS_PER_TRIAL points each.
    """
    study = _study(store, study_id)
    title = f"Learning curves: {study.name}"
    order = Trial.value.desc() if study.mode == "max" else Trial.value.asc()
    with store.session() as s:
        picked = list(s.execute(
            select(Trial.id, Trial.number, Trial.status, Trial.value)
            .where(Trial.study_id == study.id, Trial.iterations > 0)
            .order_by(Trial.value.is_(None), order, Trial.number).limit(MAX_CURVES)))
    curves = _curves(store, [r[0] for r in picked])
    if not curves:
        return _empty(title)
    best_id = next((tid for tid, _, st, v in picked if v is not None and st in _SCORED), None)
    fig = go.Figure(layout={"title": {"text": title}, "xaxis": {"title": {"text": "iteration"}},
                            "yaxis": {"title": {"text": _metric_title(study)}}})
    for tid, number, status, _ in sorted(picked, key=lambda r: r[1]):
        if tid not in curves or tid == best_id:
            continue
        xs, ys = curves[tid]
        stopped = status == TrialStatus.EARLY_STOPPED
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="lines", name=f"trial {number}" + (" (early stopped)" if stopped else ""),
            line={"width": 1, "dash": "dot" if stopped else "solid",
                  "color": "rgba(200,80,60,0.6)" if stopped else "rgba(90,110,160,0.5)"}))
    if best_id in curves:
        number = next(n for tid, n, _, _ in picked if tid == best_id)
        xs, ys = curves[best_id]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"best: trial {number}",
                                 line={"width": 3, "color": "#2ca02c"}))
    return fig


def trial_metrics(store, study_id: int, number: int) -> go.Figure:
    """One trial's numeric metrics by iteration (thinned to MAX_POINTS_PER_TRIAL)."""
    study = _study(store, study_id)
    trial = store.get_trial(study.id, int(number))
    title = f"Trial {trial.number} metrics"
    with store.session() as s:
        n = s.scalar(select(func.count(Result.id)).where(Result.trial_id == trial.id)) or 0
        stride = max(1, math.ceil(n / MAX_POINTS_PER_TRIAL))
        rows = list(s.execute(select(Result.iteration, Result.metrics)
                              .where(Result.trial_id == trial.id,
                                     (Result.iteration % stride == 0))
                              .order_by(Result.iteration)))
    series: dict[str, tuple[list[int], list[float]]] = {}
    for it, metrics in rows:
        for k, v in (metrics or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in (
                    "training_iteration", "timestamp", "time_this_iter_s", "time_total_s", "pid"):
                xs, ys = series.setdefault(k, ([], []))
                xs.append(it)
                ys.append(v)
    if not series:
        return _empty(title)
    fig = go.Figure(layout={"title": {"text": title}, "xaxis": {"title": {"text": "iteration"}}})
    for k, (xs, ys) in series.items():
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=k,
                                 visible=True if k == study.metric else "legendonly"))
    return fig


def compare_history(store, study_ids: list[int]) -> go.Figure:
    """Best-so-far curves of several studies, overlaid."""
    studies = [_study(store, i) for i in study_ids]
    title = "Best so far: " + ", ".join(s.name for s in studies)
    fig = go.Figure(layout={"title": {"text": title}, "xaxis": {"title": {"text": "trial"}},
                            "yaxis": {"title": {"text": "best value"}}})
    for study in studies:
        rows = _scored(store, study.id)
        if rows:
            fig.add_trace(go.Scatter(x=[n for n, _, _ in rows],
                                     y=_best_so_far([v for _, _, v in rows], study.mode),
                                     mode="lines", line={"shape": "hv"},
                                     name=f"{study.name} ({_metric_title(study)})"))
    if not fig.data:
        return _empty(title)
    return fig


# The per-study charts by name (the web API's /plots/<name>).
PLOTS = {
    "history": optimization_history,
    "parallel": parallel_coordinates,
    "importance": param_importance,
    "slice": slice_plot,
    "contour": contour,
    "curves": learning_curves,
}
