"""Every plot function: a Figure with data, or an empty one with the note."""
from __future__ import annotations

import plotly.graph_objects as go
import pytest

from hpsearch import plots
from hpsearch.exceptions import NotFoundError


def _note(fig: go.Figure) -> bool:
    return any(a.text == "no data yet" for a in fig.layout.annotations)


@pytest.mark.parametrize("name", sorted(plots.PLOTS))
def test_plot_with_data(store, filled, name):
    fig = plots.PLOTS[name](store, filled["done"])
    assert isinstance(fig, go.Figure) and len(fig.data) > 0 and not _note(fig)
    fig.to_json()


@pytest.mark.parametrize("name", sorted(plots.PLOTS))
def test_plot_empty_has_note(store, filled, name):
    fig = plots.PLOTS[name](store, filled["empty"])
    assert isinstance(fig, go.Figure) and len(fig.data) == 0 and _note(fig)


def test_importance_names_method(store, filled):
    assert "random-forest" in plots.param_importance(store, filled["done"]).layout.title.text


def test_learning_curves_best_highlighted_and_early_stopped(store, filled):
    fig = plots.learning_curves(store, filled["done"])
    names = [t.name for t in fig.data]
    assert any(n.startswith("best: trial 4") for n in names)
    assert any("early stopped" in n for n in names)


def test_learning_curves_downsampled(store):
    import time

    from hpsearch.store import TrialStatus
    from tests.webui.conftest import make_spec

    sid = store.create_study(make_spec("long")).id
    t = time.time()
    ops = [("trial", sid, "r", 0, {"lr": 0.01}, TrialStatus.RUNNING, t)]
    ops += [("result", sid, "r", i, float(i), {"val_accuracy": float(i)}, t) for i in range(1, 1001)]
    store.apply(ops)
    (trace,) = plots.learning_curves(store, sid).data
    assert len(trace.x) <= plots.MAX_POINTS_PER_TRIAL + 1 and trace.x[-1] == 1000


def test_trial_metrics_and_compare(store, filled):
    assert len(plots.trial_metrics(store, filled["done"], 0).data) == 2
    fig = plots.compare_history(store, [filled["done"], filled["empty"]])
    assert len(fig.data) == 1
    assert _note(plots.compare_history(store, [filled["empty"]]))


def test_unknown_study(store):
    with pytest.raises(NotFoundError):
        plots.optimization_history(store, 999)
