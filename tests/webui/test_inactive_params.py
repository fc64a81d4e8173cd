"""Conditional parameters a trial does not use (a ``when:`` not met) are shown as "—"
with the condition, never as a value: trials table, trial page, parallel coordinates
and slice plot (#20)."""
from __future__ import annotations

import re
import time

import pytest

from hpsearch import plots
from hpsearch.store import StudyStatus, TrialStatus
from tests.webui.conftest import make_spec, parallel_axes

SPACE = {"kernel": {"choice": ["linear", "rbf"]},
         "C": {"loguniform": [1e-2, 1e3]},
         "gamma": {"loguniform": [1e-4, 1.0], "when": {"kernel": "rbf"}},
         "shrink": {"choice": [None, "auto"], "when": {"kernel": "rbf"}}}
# Trial 1 uses no gamma/shrink; trial 2 uses shrink = None, a value of its own.
TRIALS = [{"kernel": "rbf", "C": 1.0, "gamma": 0.01, "shrink": "auto"},
          {"kernel": "linear", "C": 10.0},
          {"kernel": "rbf", "C": 100.0, "gamma": 0.1, "shrink": None}]


@pytest.fixture
def conditional(store) -> int:
    row = store.create_study(make_spec("conditional", space=SPACE), status=StudyStatus.RUNNING)
    t = time.time()
    ops: list[tuple] = []
    for i, params in enumerate(TRIALS):
        ops += [("trial", row.id, f"r{i}", i, params, TrialStatus.RUNNING, t),
                ("status", row.id, f"r{i}", TrialStatus.COMPLETED, {"value": 0.5 + 0.1 * i}, t)]
    store.apply(ops)
    return row.id


def test_trials_table_shows_an_unused_parameter_blank_with_its_condition(client, conditional):
    html = client.get(f"/studies/{conditional}").get_data(as_text=True)
    row = re.search(r'<tr data-trial="1".*?</tr>', html, re.S).group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[-4:-2] == ["linear", "10"]  # kernel, C
    inactive = re.findall(r'<td class="inactive" title="([^"]*)">—</td>', row)
    assert inactive == ["not used by this trial: only when kernel is rbf"] * 2
    used = re.search(r'<tr data-trial="2".*?</tr>', html, re.S).group(0)
    assert 'class="inactive"' not in used  # shrink = None is a value, not "unused"
    assert 'id="inactive-note"' in html


def test_trial_page_lists_an_unused_parameter_with_why(client, conditional):
    html = client.get(f"/studies/{conditional}/trials/1").get_data(as_text=True)
    row = re.search(r'<tr data-param="gamma">(.*?)</tr>', html, re.S).group(1)
    assert "—" in row and "not used: only when kernel is rbf" in row
    assert re.search(r'<tr data-param="C"><td>C</td><td>10</td>', html)


def test_parallel_coordinates_put_unused_on_their_own_tick(store, conditional):
    axes = parallel_axes(plots.parallel_coordinates(store, conditional))
    gamma = axes["gamma (log)"]
    at = gamma["tickvals"][gamma["ticktext"].index("—")]
    values = [gamma["values"][n] for n in sorted(gamma["values"])]
    assert values[1] == pytest.approx(at) and at < min(values[0], values[2])  # below every value
    shrink = axes["shrink"]
    labels = [shrink["ticktext"][round(shrink["values"][n])] for n in sorted(shrink["values"])]
    assert labels == ["auto", "—", "None"]


def test_slice_plot_names_unused_and_keeps_them_off_the_values(store, conditional):
    fig = plots.slice_plot(store, conditional)
    titles = [a.text for a in fig.layout.annotations]
    assert "gamma (1 trials do not use it)" in titles and "C" in titles
    shrink = next(tr for tr in fig.data if tr.name == "shrink")
    assert list(shrink.x) == ["auto", "—", "None"]
