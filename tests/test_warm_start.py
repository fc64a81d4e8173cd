"""warm_start: an earlier study's finished trials are imported and told to the searcher."""
from __future__ import annotations

import pytest
import yaml

import hpsearch
import searchers
from hpsearch.cli import main as cli
from hpsearch.space import Space
from hpsearch.store import Store, TrialStatus
from tests.helpers import quad_spec

pytestmark = pytest.mark.usefixtures("ray_session")

NARROW = {"x": {"uniform": [0.0, 4.0]}}
BAYES = {"type": "bayesian", "n_initial_points": 2}


def test_warm_start_imports_fitting_trials_and_skips_the_random_phase(home, capsys):
    a = hpsearch.run(quad_spec("A", fixed={"epochs": 1}, budget={"trials": 10, "max_concurrent": 2}),
                     progress=False)
    fits = [t for t in a.trials if t.status == TrialStatus.COMPLETED and 0.0 <= t.params["x"] <= 4.0]
    assert 2 <= len(fits) < len(a.trials), "the seed should put some of A's trials outside B's space"

    b = hpsearch.run(quad_spec("B", space=NARROW, searcher=BAYES, warm_start=["A"], fixed={"epochs": 1},
                               budget={"trials": 2, "max_concurrent": 1}), progress=False)
    imported = [t for t in b.trials if t.status == TrialStatus.IMPORTED]
    ran = [t for t in b.trials if t.status != TrialStatus.IMPORTED]
    assert all(t.imported_from == "A" for t in imported)
    assert sorted(t.params["x"] for t in imported) == sorted(t.params["x"] for t in fits)
    assert sorted(t.value for t in imported) == sorted(t.value for t in fits)
    assert len(ran) == 2 and all(t.status == TrialStatus.COMPLETED for t in ran)
    assert all(t.imported_from is None for t in ran)
    assert len({t.number for t in b.trials}) == len(b.trials)  # imported and run trials numbered apart
    assert b.best_trial.status != TrialStatus.IMPORTED

    # The searcher counted them: its state holds them, and its random phase was skipped,
    # so B's first suggestion is not the seeded random draw a fresh searcher makes.
    state = Store().get_study("B").searcher_state
    assert state["core"]["n_warm"] == len(fits)
    assert len(state["observations"]) == len(fits) + 2
    fresh = searchers.create_searcher("bayesian", Space.from_spec(NARROW), metric="loss", mode="min",
                                      seed=0, max_trials=2, n_initial_points=2)
    random_first = fresh.suggest("t0")["x"]
    first = min(ran, key=lambda t: t.number)
    assert first.params["x"] != pytest.approx(random_first)

    assert cli(["show", "B"]) == 0
    out = capsys.readouterr().out
    assert out.count("IMPORTED") == len(fits)


def test_missing_warm_start_study_is_not_found_and_writes_nothing(home, tmp_path, capsys):
    with pytest.raises(hpsearch.NotFoundError, match="nope"):
        hpsearch.run(quad_spec("C", warm_start=["nope"]), progress=False)
    assert Store().list_studies() == []

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(quad_spec("C", warm_start=["nope"])))
    assert cli(["submit", str(path), "--no-progress"]) == 2
    assert "no study 'nope'" in capsys.readouterr().err
    assert Store().list_studies() == []
