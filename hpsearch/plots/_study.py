"""Charts over a study's finished trials: history, parallel coordinates, importance, slice, contour."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from hpsearch.plots._common import (GRID, INACTIVE, MAX_FIT_ROWS, MAX_LINES, MAX_MARKERS,
                                    MAX_SLICE, arr, best_idx, categorical, check_metric, empty,
                                    encode, encode_param, frame, frame_names, get_study, int_axis,
                                    is_numeric, linear_ticks, log_panel_axis, log_params, log_ticks, metric_title,
                                    sample_idx, shown_note, title as mktitle)
from hpsearch.store.queries import last_reported


def optimization_history(store, study_id: int, metric: str | None = None) -> go.Figure:
    """Each trial's value by trial number, and the best-so-far line.

    The best-so-far line uses every trial but keeps only its steps; at most
    MAX_MARKERS trial markers are drawn (the best always among them).
    ``metric``: any reported metric instead of the objective (each finished trial's
    last reported value; no best-so-far line, its direction is not known).
    """
    study = get_study(store, study_id)
    metric = check_metric(store, study, metric)
    title = f"Optimization history: {study.name}" + (f" ({metric})" if metric else "")
    if metric:
        rows = last_reported(store, study.id, metric)
        numbers = np.asarray([r.number for r in rows], dtype=np.int64)
        values = np.asarray([r.value for r in rows], dtype=np.float64)
    else:
        fr = frame(store, study.id)
        numbers, values = fr.numbers, fr.values
    if not len(values):
        return empty(title, study)
    shown = sample_idx(values, MAX_MARKERS, study.mode)
    fig = go.Figure(layout={"title": mktitle(title, shown_note(len(shown), len(values))),
                            "xaxis": {"title": {"text": "trial"}, **int_axis(int(numbers[-1]))},
                            "yaxis": {"title": {"text": metric or metric_title(study)}},
                            "meta": {"metric": metric or study.metric}})
    nums = numbers[shown]
    fig.add_trace(go.Scatter(x=nums, y=values[shown], customdata=nums,
                             mode="markers", name="value", marker={"size": 5},
                             hovertemplate="trial %{x}: %{y}<extra>click to open</extra>"))
    if metric is None:
        bests = (np.maximum if study.mode == "max" else np.minimum).accumulate(values)
        changes = np.flatnonzero(np.r_[True, bests[1:] != bests[:-1]])
        steps = np.unique(np.r_[changes, len(values) - 1])
        # Each point of the line opens the trial that set that best (a click on the best
        # marker may land on the line's point over it).
        setter = numbers[changes[np.searchsorted(changes, steps, side="right") - 1]]
        fig.add_trace(go.Scatter(x=numbers[steps], y=bests[steps], customdata=setter,
                                 mode="lines", name="best so far", line={"shape": "hv"},
                                 hovertemplate="best so far: %{y} (trial %{customdata})"
                                               "<extra>click to open</extra>"))
    return fig


PARALLEL_BANDS = 8  # colour bands of the lines, by rank of their value


def parallel_coordinates(store, study_id: int) -> go.Figure:
    """One line per finished trial across every parameter and the value, coloured by the
    value (the best on top, the best tenth of the lines always drawn).

    Drawn as plain SVG lines on one axis per dimension (each scaled to its own range, with
    its own ticks; log-scaled parameters in log10 with ticks at powers of ten, a trial that
    does not use a conditional parameter on a "—" tick of its own), not as plotly's WebGL
    ``parcoords``: a software-rendered browser spends seconds starting WebGL, and this draws
    in milliseconds anywhere, with a hover and a click to open each trial. At most
    MAX_LINES lines; ``layout.meta.dimensions`` holds each axis's label, range and ticks.
    """
    study = get_study(store, study_id)
    title = f"Parallel coordinates: {study.name}"
    fr = frame(store, study.id)
    names = frame_names(study, fr)
    if not len(fr) or not names:
        return empty(title, study)
    picked = sample_idx(fr.values, MAX_LINES, study.mode, keep_best=MAX_LINES // 10)
    shown = fr.rows(picked)
    logs = log_params(study)
    dims: list[dict[str, Any]] = []
    for name in names:
        raw = [r.params.get(name) for r in shown]
        log = name in logs and is_numeric(raw)
        # A trial that does not use a conditional parameter sits on its own "—" tick.
        vals, labels, inactive_at = encode_param(shown, name, log=log)
        dim: dict[str, Any] = {"label": name + (" (log)" if log else ""), "values": np.asarray(vals, float)}
        finite = [v for v in vals if math.isfinite(v) and v != inactive_at]
        if labels is not None:
            dim.update(tickvals=list(range(len(labels))), ticktext=labels)
        elif finite:
            ticks = (log_ticks if log else linear_ticks)(min(finite), max(finite))
            if inactive_at is not None:
                ticks = ([inactive_at, *ticks[0]], [INACTIVE, *ticks[1]])
            dim.update(zip(("tickvals", "ticktext"), ticks))
        dims.append(dim)
    ys = fr.values[picked]
    lo, hi = float(ys.min()), float(ys.max())
    dims.append({"label": study.metric, "values": ys, **dict(zip(("tickvals", "ticktext"),
                                                                 linear_ticks(lo, hi)))})
    # Each axis scaled to 0..1 over its values (and its ticks, for categories).
    ranges = []
    for dim in dims:
        v = dim["values"]
        pts = np.concatenate([v[np.isfinite(v)], np.asarray(dim.get("tickvals", []), float)])
        a, b = (float(pts.min()), float(pts.max())) if len(pts) else (0.0, 1.0)
        ranges.append((a, b))
        span = (b - a) or 1.0
        dim["y"] = (v - a) / span if b > a else np.where(np.isfinite(v), 0.5, np.nan)
    n_dims = len(dims)
    ymat = np.stack([d["y"] for d in dims], axis=1)  # lines x dimensions
    nums = fr.numbers[picked]
    # Colour bands by rank (best first); drawn worst first so that the best lie on top.
    order = np.argsort(-ys if study.mode == "max" else ys, kind="stable")
    band = np.empty(len(ys), dtype=np.int64)
    band[order] = np.arange(len(ys)) * PARALLEL_BANDS // max(1, len(ys))
    from plotly.colors import sample_colorscale

    fig = go.Figure()
    for k in range(PARALLEL_BANDS - 1, -1, -1):
        rows = np.flatnonzero(band == k)
        if not len(rows):
            continue
        colour = sample_colorscale("Viridis", [1.0 - (k + 0.5) / PARALLEL_BANDS])[0]
        xs = np.tile(np.r_[np.arange(n_dims, dtype=float), np.nan], len(rows))
        yv = np.concatenate([ymat[rows], np.full((len(rows), 1), np.nan)], axis=1).ravel()
        cd = np.repeat(nums[rows], n_dims + 1)
        fig.add_trace(go.Scatter(
            x=xs, y=yv, customdata=cd, mode="lines", connectgaps=False, showlegend=False,
            name=f"band {k + 1} of {PARALLEL_BANDS}", opacity=0.5,
            line={"color": colour, "width": 1},
            hovertemplate="trial %{customdata}<extra>click to open</extra>"))
    best = int(order[0])
    fig.add_trace(go.Scatter(x=np.arange(n_dims), y=ymat[best], customdata=np.repeat(nums[best], n_dims),
                             mode="lines+markers", name=f"best: trial {int(nums[best])}",
                             showlegend=False, line={"color": "#2ca02c", "width": 3},
                             marker={"size": 5},
                             hovertemplate="best: trial %{customdata}<extra>click to open</extra>"))
    # The colour scale, on a trace that draws nothing.
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", showlegend=False, hoverinfo="skip",
                             marker={"colorscale": "Viridis", "reversescale": study.mode == "min",
                                     "cmin": lo, "cmax": hi, "color": [lo], "showscale": True,
                                     "colorbar": {"title": {"text": study.metric}}}))
    shapes = [{"type": "line", "x0": i, "x1": i, "y0": 0, "y1": 1, "xref": "x", "yref": "y",
               "line": {"color": "#888", "width": 1}, "layer": "below"} for i in range(n_dims)]
    notes = []
    for i, (dim, (a, b)) in enumerate(zip(dims, ranges)):
        for tv, tt in zip(dim.get("tickvals", []), dim.get("ticktext", [])):
            y = (tv - a) / ((b - a) or 1.0) if b > a else 0.5
            if -0.01 <= y <= 1.01:
                notes.append({"x": i, "y": y, "text": str(tt), "showarrow": False, "xanchor": "right",
                              "xshift": -3, "font": {"size": 10}, "xref": "x", "yref": "y"})
    meta = {"dimensions": [{"label": d["label"], "range": list(r),
                            "tickvals": list(d.get("tickvals", [])),
                            "ticktext": list(d.get("ticktext", []))} for d, r in zip(dims, ranges)]}
    fig.update_layout(title=mktitle(title, shown_note(len(shown), len(fr))), shapes=shapes,
                      annotations=notes, meta=meta, hovermode="closest",
                      xaxis={"tickvals": list(range(n_dims)), "ticktext": [d["label"] for d in dims],
                             "range": [-0.6, n_dims - 0.6], "showgrid": False, "zeroline": False},
                      yaxis={"visible": False, "range": [-0.05, 1.05]})
    return fig


def param_importance(store, study_id: int) -> go.Figure:
    """Parameter importance: a random forest fitted to the finished trials.

    The importance is the forest's mean decrease in impurity (scikit-learn's
    ``RandomForestRegressor.feature_importances_``), an estimate named in the
    title; fitted on at most MAX_FIT_ROWS trials (an even sample).
    """
    study = get_study(store, study_id)
    title = f"Parameter importance (random-forest impurity estimate): {study.name}"
    fr = frame(store, study.id)
    names = frame_names(study, fr)
    if len(fr) < 2 or not names:
        return empty(title, study)
    from sklearn.ensemble import RandomForestRegressor  # heavy: only when drawn

    fit = fr.rows(sample_idx(fr.values, MAX_FIT_ROWS, study.mode))
    total = len(fr)
    cols = [encode([r.params.get(n) for r in fit])[0] for n in names]
    X = [[(0.0 if math.isnan(c[i]) else c[i]) for c in cols] for i in range(len(fit))]
    y = [r.value for r in fit]
    # 24 trees on half-samples (when there are enough rows): stable rankings at a fifth of
    # the cost of 64 full trees.
    forest = RandomForestRegressor(n_estimators=24, max_depth=8, random_state=0, n_jobs=1,
                                   max_samples=0.5 if len(fit) >= 200 else None)
    forest.fit(X, y)
    signs = effect_signs(names, fit, study.mode)
    pairs = sorted(zip(names, forest.feature_importances_), key=lambda t: t[1])
    note = shown_note(len(fit), total, "fitted")
    note = "; ".join(filter(None, [note, "colour: the effect's sign (rank correlation)"]))
    colours = {1: "#2e7d32", -1: "#c62828", 0: "#9e9e9e"}
    words = {1: "raising it improves", -1: "raising it worsens", 0: "no monotone effect"}
    bar = go.Bar(x=[float(v) for _, v in pairs], y=[n for n, _ in pairs], orientation="h",
                 marker={"color": [colours[signs[n][0]] for n, _ in pairs]},
                 customdata=[[words[signs[n][0]], signs[n][1]] for n, _ in pairs],
                 hovertemplate="%{y}: %{x:.3f}<br>%{customdata[0]} %{meta} "
                               "(rank correlation %{customdata[1]:+.2f})<extra></extra>",
                 meta=study.metric)
    return go.Figure(bar, layout={"title": mktitle(title, note),
                                  "xaxis": {"title": {"text": "importance"}},
                                  "meta": {"signs": {n: signs[n][0] for n in names}}})


def effect_signs(names: list[str], rows, mode: str) -> dict[str, tuple[int, float]]:
    """Per numeric parameter, the sign of its effect on the objective: +1 when raising it
    improves the objective (in the study's direction), -1 when it worsens it, 0 when the
    Spearman rank correlation is weak (|rho| < 0.1) or the parameter is a category."""
    import numpy as np

    def ranks(v):
        return np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(float)

    y = ranks(np.asarray([r.value for r in rows], dtype=float))
    out: dict[str, tuple[int, float]] = {}
    for name in names:
        raw = [r.params.get(name) for r in rows]
        if not is_numeric(raw) or any(v is None for v in raw) or len(set(raw)) < 2:
            out[name] = (0, 0.0)
            continue
        rho = float(np.corrcoef(ranks(np.asarray(raw, dtype=float)), y)[0, 1])
        rho = 0.0 if not math.isfinite(rho) else (rho if mode == "max" else -rho)
        out[name] = (0 if abs(rho) < 0.1 else (1 if rho > 0 else -1), rho)
    return out


def slice_plot(store, study_id: int) -> go.Figure:
    """The value against each parameter, one panel per parameter (log axes for log params)."""
    study = get_study(store, study_id)
    title = f"Slice plot: {study.name}"
    fr = frame(store, study.id)
    names = frame_names(study, fr)
    if not len(fr) or not names:
        return empty(title, study)
    shown = fr.rows(sample_idx(fr.values, MAX_SLICE, study.mode))
    logs = log_params(study)
    # At most four panels a row: six or more side by side leave their labels colliding.
    per_row = min(len(names), 4)
    n_rows = -(-len(names) // per_row)
    # A conditional parameter's panel shows the trials that use it; the title says how
    # many do not (on a category axis they are the "—" category).
    unused = {n: sum(n not in r.params for r in shown) for n in names}
    titles = [n + (f" ({unused[n]} trials do not use it)" if unused[n] else "") for n in names]
    fig = make_subplots(rows=n_rows, cols=per_row, shared_yaxes=True, subplot_titles=titles,
                        horizontal_spacing=0.04, vertical_spacing=min(0.15, 0.5 / n_rows))
    ys = arr([r.value for r in shown])
    nums = arr([r.number for r in shown])
    text = arr([f"trial {n}" for n in nums])
    for i, name in enumerate(names, start=1):
        raw = [r.params.get(name) for r in shown]
        numeric = is_numeric(raw)
        xs = (arr([float("nan") if x is None else x for x in raw]) if numeric
              else arr([str(x) if name in r.params else INACTIVE for x, r in zip(raw, shown)]))
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=name, showlegend=False,
                                 marker={"color": nums, "colorscale": "Blues", "size": 5},
                                 text=text, customdata=nums), row=(i - 1) // per_row + 1,
                      col=(i - 1) % per_row + 1)
        if numeric and name in logs:
            fig.update_xaxes(**log_panel_axis(xs), row=(i - 1) // per_row + 1, col=(i - 1) % per_row + 1)
    for r in range(1, n_rows + 1):
        fig.update_yaxes(title_text=metric_title(study), row=r, col=1)
    fig.update_xaxes(nticks=5, tickangle=0)
    fig.update_layout(title=mktitle(title, shown_note(len(shown), len(fr))),
                      height=max(380, 300 * n_rows + 80))
    return fig


def _bins(values: np.ndarray, labels: list[str] | None) -> tuple[list[float], np.ndarray]:
    """Cell centres and each value's cell (-1: none): one cell per category, else GRID equal
    cells."""
    if labels is not None:
        cells = np.where(np.isfinite(values), values, -1).astype(np.int64)
        return [float(i) for i in range(len(labels))], cells
    finite = values[np.isfinite(values)]
    lo, hi = float(finite.min()), float(finite.max())
    if hi == lo:
        return [lo], np.where(np.isfinite(values), 0, -1)
    width = (hi - lo) / GRID
    centres = [lo + (k + 0.5) * width for k in range(GRID)]
    with np.errstate(invalid="ignore"):
        cells = np.where(np.isfinite(values),
                         np.minimum(GRID - 1, np.floor((values - lo) / width)), -1).astype(np.int64)
    return centres, cells


def _coords(col, log: bool) -> tuple[np.ndarray, list[str] | None]:
    """A frame column as drawn: numbers (log10 when ``log``; NaN when missing), or codes and
    labels."""
    if col is None:
        return np.zeros(0), None
    if not col.numeric:
        return np.where(col.codes < 0, np.nan, col.codes).astype(float), col.labels
    if not log:
        return col.numbers, None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(col.numbers > 0, np.log10(col.numbers), np.nan), None


def contour(store, study_id: int, params: tuple[str, str] | None = None) -> go.Figure:
    """The value over a pair of parameters (the first two numeric ones by default).

    The trials are binned on a GRID x GRID grid (log10 cells for log params)
    holding each cell's best value; the sampled trials are drawn on top.
    Raises ValueError for a parameter the study does not have.
    """
    study = get_study(store, study_id)
    fr = frame(store, study.id)
    names = frame_names(study, fr)
    if params is None:
        cats = categorical(study)
        numeric = [n for n in names if n not in cats and (n not in fr.params or fr.params[n].numeric)]
        params = tuple(numeric[:2]) if len(numeric) >= 2 else tuple(names[:2])  # type: ignore[assignment]
    else:
        for name in params:
            if name not in names:
                raise ValueError(f"unknown parameter {name!r}; parameters: {', '.join(names) or 'none'}")
        if len(params) != 2 or params[0] == params[1]:
            raise ValueError(f"contour needs two different parameters, got {list(params)}")
    title = f"Contour: {study.name}" + (f" ({params[0]} × {params[1]})" if len(params) == 2 else "")
    if len(fr) < 2 or len(params) != 2:
        return empty(title, study)
    a, b = params
    logs = log_params(study)
    ca, cb = fr.params.get(a), fr.params.get(b)
    xlog = a in logs and ca is not None and ca.numeric
    ylog = b in logs and cb is not None and cb.numeric
    xs, xl = _coords(ca, xlog)
    ys, yl = _coords(cb, ylog)
    if not np.isfinite(xs).any() or not np.isfinite(ys).any():
        return empty(title, study)
    xc, xcell = _bins(xs, xl)
    yc, ycell = _bins(ys, yl)
    # Each cell's best value
    ok = (xcell >= 0) & (ycell >= 0)
    better = np.maximum if study.mode == "max" else np.minimum
    z = np.full((len(yc), len(xc)), -np.inf if study.mode == "max" else np.inf)
    better.at(z, (ycell[ok], xcell[ok]), fr.values[ok])
    z[np.isinf(z)] = np.nan

    # Axes stay linear in the drawn coordinates (log10 for log params) so that the
    # contour's cells are even; log params get power-of-ten ticks instead.
    def axis(label: str, log: bool, labels: list[str] | None, vals: np.ndarray) -> dict:
        ax: dict[str, Any] = {"title": {"text": label + (" (log)" if log else "")}}
        if labels is not None:
            ax.update(tickvals=list(range(len(labels))), ticktext=labels)
        elif log:
            finite = vals[np.isfinite(vals)]
            ax.update(zip(("tickvals", "ticktext"), log_ticks(float(finite.min()), float(finite.max()))))
        return ax

    n = len(fr)
    idx = np.arange(n)
    if n > MAX_MARKERS // 2:
        step = n / (MAX_MARKERS // 2)
        idx = np.unique(np.r_[best_idx(fr.values, study.mode),
                              np.floor(np.arange(MAX_MARKERS // 2) * step).astype(np.int64)])
    note = "colour: the best value in each cell" + (
        "; dots: " + shown_note(len(idx), n) if len(idx) < n else "")
    fig = go.Figure(layout={"title": mktitle(title, note), "xaxis": axis(a, xlog, xl, xs),
                            "yaxis": axis(b, ylog, yl, ys)})
    fig.add_trace(go.Contour(x=xc, y=yc, z=z, connectgaps=True, colorscale="Viridis",
                             reversescale=study.mode == "min", name=study.metric,
                             colorbar={"title": {"text": study.metric}}))
    nums = fr.numbers[idx]
    fig.add_trace(go.Scatter(x=xs[idx], y=ys[idx],
                             mode="markers", showlegend=False, name="trials",
                             text=arr([f"trial {k}" for k in nums]),
                             customdata=nums,
                             marker={"color": "black", "size": 4, "opacity": 0.6}))
    return fig
