"""The second pass of charts (#16): EDF, rank, timeline, importance with sign, a metric
picker on history / curves / EDF / compare, whole-number axes, a wrapped slice plot, and
the reason a finished study's chart is empty."""
from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

import hpsearch.api
from hpsearch import plots
from hpsearch.store import StudyStatus, TrialStatus
from hpsearch.store.models import Study, Trial
from tests.webui.conftest import make_spec


def test_edf_is_the_share_of_trials_at_most_each_value(store, filled):
    fig = plots.edf(store, filled["done"])
    (trace,) = fig.data
    xs, ys = list(trace.x), list(trace.y)
    assert xs == sorted(xs) and ys == sorted(ys) and ys[-1] == 1.0
    # 5 scored trials (one of six is an ERROR): shares 1/5 .. 5/5
    assert [round(y, 2) for y in ys] == [0.2, 0.4, 0.6, 0.8, 1.0]
    by_loss = plots.edf(store, filled["done"], metric="loss")
    assert by_loss.layout.xaxis.title.text == "loss" and max(by_loss.data[0].x) < 0.5
    with pytest.raises(ValueError, match="unknown metric 'nope'.*loss, val_accuracy"):
        plots.edf(store, filled["done"], metric="nope")


def test_rank_puts_the_best_trial_first(store, filled):
    fig = plots.rank_plot(store, filled["done"])
    first = fig.data[0]
    ranks = dict(zip(first.customdata, first.y))
    assert sorted(ranks.values()) == [1, 2, 3, 4, 5]
    assert ranks[4] == 1  # mode max: trial 4 has the highest value
    assert len(fig.data) == 3  # one panel per parameter


def test_timeline_puts_overlapping_trials_in_separate_slots(store):
    row = store.create_study(make_spec("timed"), status=StudyStatus.RUNNING)
    t = time.time() - 100
    params = {"lr": 0.01, "dropout": 0.1, "optimizer": "sgd"}
    # trials 0 and 1 overlap; 2 starts after 0 ended (slot 0 again, after an idle gap)
    store.apply([("trial", row.id, "a", 0, params, TrialStatus.RUNNING, t),
                 ("trial", row.id, "b", 1, params, TrialStatus.RUNNING, t + 1),
                 ("status", row.id, "a", TrialStatus.COMPLETED, {"value": 0.5}, t + 10),
                 ("trial", row.id, "c", 2, params, TrialStatus.RUNNING, t + 20)])
    fig = plots.timeline(store, row.id)
    slots = {n: y for tr in bars(fig) for n, y in zip(tr.customdata, tr.y)}
    assert slots == {0: "slot 0", 1: "slot 1", 2: "slot 0"}
    assert {tr.name for tr in bars(fig)} == {"COMPLETED", "RUNNING"}
    assert fig.layout.xaxis2.type == "date" and fig.layout.yaxis2.type == "category"
    # above the lanes: trials running at each moment (b and c run on to now)
    use = next(tr for tr in fig.data if tr.name == "running")
    assert list(use.y) == [1, 2, 1, 2, 2] and "slots busy" in fig.layout.title.subtitle.text


def test_timeline_reads_only_the_latest_trials(store, monkeypatch):
    """A big study's timeline reads its latest MAX_SPANS trials from SQL, not every trial."""
    from hpsearch.plots import _more

    monkeypatch.setattr(_more, "MAX_SPANS", 3)
    row = store.create_study(make_spec("many"), status=StudyStatus.RUNNING)
    t = time.time() - 100
    params = {"lr": 0.01, "dropout": 0.1, "optimizer": "sgd"}
    ops = []
    for k in (0, 1, 2, 4, 3, 5):  # trial 4 starts before trial 3
        start = t + 10 * (k if k < 3 else {4: 3, 3: 4, 5: 5}[k])
        ops += [("trial", row.id, f"r{k}", k, params, TrialStatus.RUNNING, start),
                ("status", row.id, f"r{k}", TrialStatus.COMPLETED, {"value": 0.5}, start + 5)]
    store.apply(ops)
    fig = plots.timeline(store, row.id)
    assert sorted(n for tr in bars(fig) for n in tr.customdata) == [3, 4, 5]
    assert "the latest 3 of 6 trials" in fig.layout.title.subtitle.text


def bars(fig) -> list:
    return [tr for tr in fig.data if tr.type == "bar"]


def _bar_ends(fig) -> list[datetime]:
    return [datetime.fromisoformat(b) + timedelta(milliseconds=ms)
            for tr in bars(fig) for b, ms in zip(tr.base, tr.x)]


def test_timeline_ends_a_finished_trial_without_finish_time_at_its_last_known_time(store):
    """An ERROR trial whose end was never recorded used to be drawn to now: a study that
    ran for a minute an hour ago became an hour wide. It ends at its last result, within
    the study's own times; only a running trial of a running study extends to now."""
    row = store.create_study(make_spec("ended"), status=StudyStatus.RUNNING)
    t = time.time() - 3600
    params = {"lr": 0.01, "dropout": 0.1, "optimizer": "sgd"}
    store.apply([("trial", row.id, "a", 0, params, TrialStatus.RUNNING, t),
                 ("result", row.id, "a", 1, 0.5, {"val_accuracy": 0.5}, t + 5),
                 ("status", row.id, "a", TrialStatus.COMPLETED, {"value": 0.5}, t + 10),
                 ("trial", row.id, "b", 1, params, TrialStatus.RUNNING, t + 2),
                 ("result", row.id, "b", 1, 0.4, {"val_accuracy": 0.4}, t + 30)])
    store.set_study_status(row.id, StudyStatus.COMPLETED)
    with store.session() as s:  # b failed, its end never written (as a reaped or lost op leaves it)
        trial = s.scalars(select(Trial).where(Trial.study_id == row.id, Trial.number == 1)).one()
        trial.status, trial.finished_at, trial.heartbeat_at = TrialStatus.ERROR, None, None
        study = s.get(Study, row.id)
        study.started_at = datetime.utcfromtimestamp(t - 1)
        study.finished_at = datetime.utcfromtimestamp(t + 60)
        start, end = study.started_at, study.finished_at
    fig = plots.timeline(store, row.id)
    ends = _bar_ends(fig)
    assert max(ends) <= end and min(datetime.fromisoformat(b) for tr in bars(fig) for b in tr.base) >= start
    b_end = {n: e for n, e in zip([n for tr in bars(fig) for n in tr.customdata], ends)}[1]
    assert abs((b_end - datetime.utcfromtimestamp(t + 30)).total_seconds()) < 1  # its last result
    api_fig = hpsearch.api.Study(store, row.id).plot_timeline()  # the notebook draws the same
    assert max(_bar_ends(api_fig)) <= end


def test_timeline_has_one_lane_per_node_and_slot(store):
    row = store.create_study(make_spec("lanes"), status=StudyStatus.RUNNING)
    t = time.time() - 100
    params = {"lr": 0.01, "dropout": 0.1, "optimizer": "sgd"}
    ops = []
    for rid, n, node, slot in [("a", 0, "n1" * 28, 0), ("b", 1, "n1" * 28, 1),
                               ("c", 2, "n2" * 28, 0), ("d", 3, "n1" * 28, 0)]:
        ops += [("trial", row.id, rid, n, params, TrialStatus.RUNNING, t + n),
                ("placement", row.id, rid, {"node_id": node, "node_host": "box",
                                            "node_ip": "10.0.0.1", "slot": slot})]
    store.apply(ops)
    fig = plots.timeline(store, row.id)
    lanes = {n: y for tr in bars(fig) for n, y in zip(tr.customdata, tr.y)}
    # two Ray nodes on one host: told apart by their ids
    assert lanes == {0: "box n1n1n1 · slot 0", 1: "box n1n1n1 · slot 1", 2: "box n2n2n2 · slot 0",
                     3: "box n1n1n1 · slot 0"}
    assert list(fig.layout.yaxis2.categoryarray) == ["box n1n1n1 · slot 0", "box n1n1n1 · slot 1",
                                                    "box n2n2n2 · slot 0"]


def test_importance_shows_the_sign_of_each_effect(store, filled):
    fig = plots.param_importance(store, filled["done"])
    signs = fig.layout.meta["signs"]
    # val_accuracy (max) rises with lr and dropout in the fixture; optimizer is a category
    assert signs == {"lr": 1, "dropout": 1, "optimizer": 0}
    colours = dict(zip(fig.data[0].y, fig.data[0].marker.color))
    assert colours["lr"] != colours["optimizer"]


def test_history_and_curves_take_any_reported_metric(store, filled):
    fig = plots.optimization_history(store, filled["done"], metric="loss")
    assert fig.layout.yaxis.title.text == "loss" and len(fig.data) == 1  # no best-so-far line
    assert all(y < 0.5 for y in fig.data[0].y)
    curves = plots.learning_curves(store, filled["done"], metric="loss")
    assert all(max(t.y) < 0.5 for t in curves.data) and curves.layout.yaxis.title.text == "loss"
    assert plots.learning_curves(store, filled["done"]).data[0].meta is not None  # trial number
    cmp = plots.compare_history(store, [filled["done"]], metric="loss")
    assert cmp.layout.yaxis.title.text == "loss"
    with pytest.raises(ValueError):
        plots.optimization_history(store, filled["done"], metric="d_loss")


def test_counts_get_whole_number_ticks(store, filled):
    assert plots.optimization_history(store, filled["done"]).layout.xaxis.dtick == 1
    assert plots.learning_curves(store, filled["done"]).layout.xaxis.tickformat == "d"


def test_slice_with_six_parameters_wraps_into_rows(store):
    space = {f"p{i}": {"uniform": [0.0, 1.0]} for i in range(6)}
    row = store.create_study(make_spec("wide", space=space), status=StudyStatus.RUNNING)
    t = time.time()
    ops = []
    for n in range(4):
        ops += [("trial", row.id, f"r{n}", n, {f"p{i}": (n + i) / 10 for i in range(6)},
                 TrialStatus.RUNNING, t),
                ("status", row.id, f"r{n}", TrialStatus.COMPLETED, {"value": n / 10}, t)]
    store.apply(ops)
    fig = plots.slice_plot(store, row.id)
    assert len(fig.data) == 6 and fig.layout.height >= 680  # two rows of panels
    assert {t.xaxis for t in fig.data} == {"x", "x2", "x3", "x4", "x5", "x6"}


def test_a_failed_studys_empty_chart_says_why(store, filled):
    store.set_study_status(filled["empty"], StudyStatus.FAILED, error="boom")
    fig = plots.optimization_history(store, filled["empty"])
    (note,) = fig.layout.annotations
    assert "failed" in note.text.lower() and "yet" not in note.text


def test_plot_api_passes_the_metric_and_refuses_an_unknown_one(client, filled):
    sid = filled["done"]
    r = client.get(f"/api/v1/studies/{sid}/plots/history?metric=loss")
    assert r.status_code == 200 and r.json["layout"]["yaxis"]["title"]["text"] == "loss"
    r = client.get(f"/api/v1/studies/{sid}/plots/curves?metric=nope")
    assert r.status_code == 400 and "nope" in r.json["message"]
    for name in ("edf", "rank", "timeline"):
        assert client.get(f"/api/v1/studies/{sid}/plots/{name}").status_code == 200


def test_compare_page_takes_any_reported_metric(client, filled):
    sid = filled["done"]
    html = client.get(f"/compare?ids={sid}&metric=loss").get_data(as_text=True)
    assert '<option selected>loss</option>' in html and '"text": "loss"' in html.replace('"text":"loss"', '"text": "loss"')
    r = client.get(f"/compare?ids={sid}&metric=d_loss")
    assert r.status_code == 400 and "loss, val_accuracy" in r.get_data(as_text=True)


def test_log_panels_label_powers_of_ten_without_colliding(store, filled):
    """Slice and rank panels are narrow (four a row): a log axis writes 10⁻⁴, not 100µ /
    0.001, and labels every second power when the values span more than 3.5 decades."""
    from hpsearch.plots._common import log_panel_axis

    assert log_panel_axis([8, 512]) == {"type": "log", "dtick": 1, "exponentformat": "power"}
    assert log_panel_axis([1e-5, 0.1])["dtick"] == 2 and log_panel_axis([1e-9, 1.0])["dtick"] == 3
    for fig in (plots.slice_plot(store, filled["done"]), plots.rank_plot(store, filled["done"])):
        logs = [ax for name, ax in fig.layout.to_plotly_json().items()
                if name.startswith("xaxis") and ax.get("type") == "log"]
        assert logs and all(ax["exponentformat"] == "power" for ax in logs)
