"""Charts of several objectives: the Pareto front (2-D or 3-D) and the hypervolume history.

Both read :func:`hpsearch.store.fronts.pareto`, the read model's one answer to "which
trials are on the front", so the CLI, the notebook and the web UI show the same front.
Each marker carries its trial number in ``customdata`` (the web UI opens that trial on
a click).
"""
from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from hpsearch.plots._common import MAX_MARKERS, arr, empty, get_study, title as mktitle
from hpsearch.store.fronts import Point, pareto

_STYLE = {  # group -> (name, marker)
    "front": ("Pareto front", {"size": 9, "color": "#d62728"}),
    "dominated": ("dominated", {"size": 6, "color": "#7f7f7f", "opacity": 0.6}),
    "infeasible": ("infeasible (breaks a constraint)", {"size": 7, "color": "#1f77b4",
                                                        "symbol": "x", "opacity": 0.7}),
}


def _axes(view, chosen: Sequence[str] | None) -> list[int]:
    metrics = view.objectives.metrics
    if chosen:
        unknown = [m for m in chosen if m not in metrics]
        if unknown or len(chosen) not in (2, 3) or len(set(chosen)) != len(chosen):
            raise ValueError(f"choose 2 or 3 distinct objectives among {', '.join(metrics)}; "
                             f"got {', '.join(map(str, chosen))}")
        return [metrics.index(m) for m in chosen]
    return list(range(min(3, len(metrics))))  # one objective: [0]


def pareto_front(store, study_id: int, objectives: Sequence[str] | None = None) -> go.Figure:
    """Every scored trial in objective space: the front (feasible, non-dominated) in red,
    dominated trials in grey, infeasible ones as crosses; 3-D when the study has three or
    more objectives (the first three) or three are chosen."""
    study = get_study(store, study_id)
    view = pareto(store, study)
    name = f"Pareto front: {study.name}"
    axes = _axes(view, objectives)
    points = [p for p in view.points if all(view.objectives.metrics[k] in p.values for k in axes)]
    if not points:
        return empty(name)
    groups: dict[str, list[Point]] = {"front": [], "dominated": [], "infeasible": []}
    for p in points:
        groups["front" if p.on_front else "dominated" if p.feasible else "infeasible"].append(p)
    # Keep every front point; thin the others to the marker cap.
    room = max(MAX_MARKERS - len(groups["front"]), 0)
    for key in ("dominated", "infeasible"):
        g = groups[key]
        if len(g) > room // 2:
            step = len(g) / max(room // 2, 1)
            groups[key] = [g[int(i * step)] for i in range(room // 2)]
    labels = [f"{view.objectives.items[k].metric} ({view.objectives.items[k].mode})" for k in axes]
    three = len(axes) == 3
    one = len(axes) == 1  # one objective: its front is the best trial; drawn by trial number
    fig = go.Figure(layout={"title": mktitle(name, f"{len(view.front)} on the front, "
                                                   f"{len(view.infeasible)} infeasible"),
                            "clickmode": "event"})
    for key in ("dominated", "infeasible", "front"):
        g = sorted(groups[key], key=lambda p: p.values.get(view.objectives.metrics[axes[0]], 0))
        if not g:
            continue
        label, marker = _STYLE[key]
        coords = [arr([p.values.get(view.objectives.metrics[k]) for p in g]) for k in axes]
        if one:
            coords = [arr([p.number for p in g]), coords[0]]
        common = dict(mode="markers", name=label, marker=marker, customdata=arr([p.number for p in g]),
                      text=[f"trial {p.number}" for p in g])
        if three:
            fig.add_trace(go.Scatter3d(x=coords[0], y=coords[1], z=coords[2],
                                       hovertemplate="%{text}<br>%{x:.4g}, %{y:.4g}, %{z:.4g}<extra></extra>",
                                       **common))
        else:
            fig.add_trace(go.Scatter(x=coords[0], y=coords[1],
                                     hovertemplate="%{text}<br>%{x:.4g}, %{y:.4g}<extra></extra>",
                                     **common))
    if three:
        fig.update_layout(scene={"xaxis": {"title": {"text": labels[0]}},
                                 "yaxis": {"title": {"text": labels[1]}},
                                 "zaxis": {"title": {"text": labels[2]}}})
    else:
        x, y = ("trial", labels[0]) if one else labels
        fig.update_layout(xaxis={"title": {"text": x}}, yaxis={"title": {"text": y}})
    return fig


def hypervolume_history(store, study_id: int) -> go.Figure:
    """The hypervolume of the feasible front after each trial, and the reference point used."""
    study = get_study(store, study_id)
    view = pareto(store, study)
    name = f"Hypervolume: {study.name}"
    if not view.hypervolume:
        return empty(name)
    ref = ", ".join(f"{o.metric}={r:.4g}" for o, r in zip(view.objectives.items, view.reference))
    note = f"reference {'from the spec' if view.reference_from_spec else 'computed'}: {ref}"
    fig = go.Figure(layout={"title": mktitle(name, note), "xaxis": {"title": {"text": "trial"}},
                            "yaxis": {"title": {"text": "hypervolume"}}})
    fig.add_trace(go.Scatter(x=arr([n for n, _ in view.hypervolume]),
                             y=arr([h for _, h in view.hypervolume]), mode="lines",
                             line={"shape": "hv"}, name="hypervolume",
                             customdata=arr([n for n, _ in view.hypervolume])))
    return fig
