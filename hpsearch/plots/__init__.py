"""Plot functions: one public function per chart, each returning a plotly Figure.

The web UI and the notebook API call the same functions. Each checks its input,
aggregates in SQL where it can (a page never loads every result of a 10,000-trial
study), caps what it draws (sampled markers and lines, thinned curves, a binned
contour) and returns an empty figure with the note "no data yet" when there is
nothing to draw. Log-scaled parameters get log axes.

>>> from hpsearch.store import Store                    # doctest: +SKIP
>>> optimization_history(Store(), 1).show()             # doctest: +SKIP
>>> contour(Store(), 1, ("lr", "dropout")).show()       # doctest: +SKIP
"""
from __future__ import annotations

from hpsearch.plots._common import MAX_LINES, MAX_MARKERS
from hpsearch.plots._curves import (MAX_CURVES, MAX_POINTS_PER_TRIAL, compare_history,
                                    compare_trials, learning_curves, trial_metrics)
from hpsearch.plots._more import edf, rank_plot, timeline
from hpsearch.plots._pareto import hypervolume_history, pareto_front
from hpsearch.plots._study import (contour, optimization_history, param_importance,
                                   parallel_coordinates, slice_plot)

__all__ = ["optimization_history", "parallel_coordinates", "param_importance", "slice_plot",
           "contour", "learning_curves", "pareto_front", "hypervolume_history", "trial_metrics", "compare_history", "compare_trials",
           "edf", "rank_plot", "timeline", "PLOT_OPTIONS", "page_charts", "contour_pair",
           "PLOTS", "warm_up", "MAX_POINTS_PER_TRIAL", "MAX_CURVES", "MAX_MARKERS", "MAX_LINES"]

def warm_up() -> None:
    """Import the heavy libraries a chart needs in a background thread (a server calls this
    at start so that its first importance chart does not pay for the import, nor its first
    figure for plotly's validators: loaded lazily, they cost about a second the first time)."""
    import threading

    threading.Thread(target=_warm, name="hpsearch-plots-warm-up", daemon=True).start()


def _warm() -> None:
    import pandas  # noqa: F401 - before any figure (see webui/cache.py figures_ready)
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=["a", "b"])
    fig.add_trace(go.Scatter(x=[1], y=[1], mode="markers", marker={"color": [1]}), row=1, col=1)
    fig.add_trace(go.Bar(x=[1], y=["a"], orientation="h"), row=1, col=2)
    fig.update_xaxes(type="log", nticks=5)
    fig.update_yaxes(title_text="y")
    fig.update_layout(title={"text": "t", "subtitle": {"text": "s"}})
    go.Figure(go.Parcoords(dimensions=[{"label": "a", "values": [1]}], line={"color": [1]}))
    go.Figure(go.Contour(x=[1], y=[1], z=[[1]], colorbar={"title": {"text": "c"}})).to_json()
    fig.add_annotation(text="x", showarrow=False)
    fig.to_json()
    import sklearn.ensemble  # noqa: F401


# The per-study charts by name: the web API's /plots/<name> and the study page, which shows
# them in this order (MULTI_OBJECTIVE first, for studies with several objectives). Adding a
# chart is one entry here (plus its function).
PLOTS = {
    "history": optimization_history,
    "curves": learning_curves,
    "parallel": parallel_coordinates,
    "importance": param_importance,
    "slice": slice_plot,
    "contour": contour,
    "edf": edf,
    "rank": rank_plot,
    "timeline": timeline,
    "pareto": pareto_front,             # studies with several objectives
    "hypervolume": hypervolume_history,
}
MULTI_OBJECTIVE = ("pareto", "hypervolume")  # only for studies with several objectives

# The keyword options a chart takes from the web API's query string (anything else is
# refused): a reported metric instead of the objective, or the contour's pair.
PLOT_OPTIONS = {
    "history": ("metric",),
    "curves": ("metric",),
    "edf": ("metric",),
    "contour": ("params",),
}


def contour_pair(spec: dict | None) -> list[str]:
    """The two parameters the study page's contour opens on: numeric ones first, in the
    space's order (fewer than two when the space has fewer, or no longer parses)."""
    from hpsearch.exceptions import SpecError
    from hpsearch.space import Categorical, Space

    try:
        space = Space.from_spec((spec or {}).get("space") or {})
    except SpecError:
        return []

    def numeric(p) -> bool:
        if not isinstance(p, Categorical):
            return True
        return bool(p.values) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                      for v in p.values)

    names = [p.name for p in space.params if numeric(p)]
    return (names + [p.name for p in space.params if p.name not in names])[:2]


def page_charts(spec: dict | None) -> dict[str, dict]:
    """The charts a study's page shows, in page order, each with the options it opens with
    (the web API's keyword options: the contour's starting pair). The page and the figures
    stored at a study's end (hpsearch/store/figures.py) read this one list."""
    several = len((spec or {}).get("objectives") or []) > 1
    names = [n for n in PLOTS if n not in MULTI_OBJECTIVE]
    if several:
        names = list(MULTI_OBJECTIVE) + names
    out: dict[str, dict] = {name: {} for name in names}
    pair = contour_pair(spec)
    if len(pair) == 2:
        out["contour"] = {"params": (pair[0], pair[1])}
    return out
