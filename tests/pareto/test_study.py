"""Several objectives end to end: spec -> Ray Tune -> SQL -> read model -> CLI, API and charts."""
from __future__ import annotations

import pytest

import hpsearch
from hpsearch import pareto as mo
from hpsearch.cli import main as cli
from tests.helpers import mo_spec

pytestmark = pytest.mark.usefixtures("ray_session")


def test_random_search_front_constraint_cli_api_and_charts(home, capsys):
    study = hpsearch.run(mo_spec("mo-random"), progress=False)
    assert study.status == "COMPLETED"
    trials = study.trials
    assert len(trials) == 8 and all(set(t.values) == {"f1", "f2", "cost"} for t in trials)
    assert study.metric == "f1" and study.mode == "min"  # the primary objective
    # The front, recomputed here from what the trials reported, is the read model's.
    feasible = [t for t in trials if t.values["cost"] <= 1.2]
    vectors = [(t.values["f1"], t.values["f2"]) for t in feasible]
    expected = sorted(feasible[i].number for i in mo.nondominated(vectors))
    front = study.pareto_front
    assert sorted(t.number for t in front) == expected and front
    assert [t.values["f1"] for t in front] == sorted(t.values["f1"] for t in front)
    view = study.pareto()
    assert {p.number for p in view.infeasible} == {t.number for t in trials if t.values["cost"] > 1.2}
    assert view.hypervolume[-1][1] == pytest.approx(mo.hypervolume(vectors, view.reference))

    assert cli(["show", "mo-random"]) == 0
    out = capsys.readouterr().out
    assert f"{len(front)} on the Pareto front" in out and "hypervolume" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("*")]
    assert len(lines) == len(front)
    assert any("(infeasible)" in ln for ln in out.splitlines()) == bool(view.infeasible)

    fig = study.plot_pareto()
    names = [t.name for t in fig.data]
    assert "Pareto front" in names
    drawn = fig.data[names.index("Pareto front")]
    assert sorted(drawn.customdata.tolist()) == expected
    hv = study.plot_hypervolume()
    assert hv.data[0].y[-1] == pytest.approx(view.hypervolume[-1][1])
