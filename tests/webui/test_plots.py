"""Every plot function: a Figure with data, or an empty one with the note."""
from __future__ import annotations

import plotly.graph_objects as go
import pytest

from hpsearch import plots
from hpsearch.exceptions import NotFoundError
from tests.webui.conftest import parallel_axes


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


@pytest.fixture
def wide(store):
    """A finished study of 2,500 trials (no results): more than any chart draws in full."""
    from sqlalchemy import insert

    from hpsearch.store import TrialStatus
    from hpsearch.store.models import Trial
    from tests.webui.conftest import make_spec

    sid = store.create_study(make_spec("wide")).id
    rows = [{"study_id": sid, "number": i, "params": {"lr": 10 ** (-4 + 3 * ((i * 7919) % 2500) / 2500),
                                                      "dropout": (i % 50) / 100, "optimizer": "adam"},
             "status": TrialStatus.COMPLETED, "value": ((i * 7919) % 2500) / 2500, "iterations": 1}
            for i in range(2500)]
    with store.session(write=True) as s:
        s.execute(insert(Trial), rows)
    best = max(rows, key=lambda r: r["value"])["number"]
    return sid, best


def test_big_studies_are_sampled_with_a_note(store, wide):
    sid, best = wide
    hist = plots.optimization_history(store, sid)
    assert len(hist.data[0].x) <= plots.MAX_MARKERS and best in hist.data[0].x
    assert "2,500 trials" in hist.layout.title.subtitle.text
    assert hist.data[1].y[-1] == pytest.approx(2499 / 2500)  # best so far over all trials
    assert hist.data[1].customdata[-1] == best  # the line's last point opens the best trial
    axes = parallel_axes(plots.parallel_coordinates(store, sid))
    assert len(axes["lr (log)"]["values"]) <= plots.MAX_LINES
    assert max(axes[list(axes)[-1]]["values"].values()) == pytest.approx(2499 / 2500)
    assert len(plots.slice_plot(store, sid).data[0].x) <= plots.MAX_MARKERS
    con = plots.contour(store, sid, ("lr", "dropout"))
    assert len(con.data[0].z) <= 24 and len(con.data[1].x) <= plots.MAX_MARKERS
    assert "1,000 of 2,500" in plots.param_importance(store, sid).layout.title.subtitle.text


def test_compare_trials_plot(store, filled):
    fig = plots.compare_trials(store, filled["done"], [0, 3])
    assert [t.name for t in fig.data] == ["trial 0", "trial 3"]
    with pytest.raises(NotFoundError):
        plots.compare_trials(store, filled["done"], [0, 42])
    with pytest.raises(ValueError, match="nope"):
        plots.contour(store, filled["done"], ("nope", "lr"))


def test_notebook_api_draws_the_same_charts(db_url, store, filled):
    import hpsearch

    study = hpsearch.load_study("done-study", db=db_url)
    assert study.plot_contour("lr", "dropout").to_json() == \
        plots.contour(store, filled["done"], ("lr", "dropout")).to_json()
    assert study.plot_slice().to_json() == plots.slice_plot(store, filled["done"]).to_json()
    assert len(study.plot_compare_trials([0, 4]).data) == 2
    assert len(study.plot_trial(0).data) == 2
    fig = hpsearch.compare(["done-study", filled["empty"]], db=db_url)
    assert [t.name for t in fig.data] == ["done-study (val_accuracy (max))"]
