"""hpsearch.report: results coalesced into few Tune results, each still stored as its own row."""
from __future__ import annotations

import pytest

import hpsearch
from hpsearch import reporting
from hpsearch.store import StudyStatus, TrialStatus
from tests.helpers import quad_spec

pytestmark = pytest.mark.usefixtures("ray_session")


def _tune_results(window: float, steps: int, tmp_path) -> list[dict]:
    """Run one trial reporting ``steps`` results through a Reporter; what Tune received."""
    from ray import tune

    seen: list[dict] = []

    class Count(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            seen.append({k: result.get(k) for k in ("loss", reporting.BATCH_KEY)})

    def trainable(config):
        from hpsearch import reporting as r

        r.start_trial(config["window"])
        try:
            for step in range(1, config["steps"] + 1):
                r.report({"loss": float(step)})
        finally:
            r.end_trial()

    tune.Tuner(trainable, param_space={"window": window, "steps": steps},
               run_config=tune.RunConfig(storage_path=str(tmp_path), callbacks=[Count()],
                                         verbose=0)).fit()
    return seen


def test_a_window_sends_many_results_as_few(tmp_path):
    # A window far longer than the trial: the first result goes at once, the rest at the end.
    seen = _tune_results(window=60.0, steps=200, tmp_path=tmp_path)
    assert len(seen) == 2
    batches = [r[reporting.BATCH_KEY] for r in seen]
    assert [it for b in batches for it, _ in b] == list(range(1, 201))
    assert seen[-1]["loss"] == 200.0  # the last result's metrics ride on top


def test_no_window_sends_each_result_alone(tmp_path):
    seen = _tune_results(window=0.0, steps=30, tmp_path=tmp_path)
    assert len(seen) == 30 and all(r[reporting.BATCH_KEY] is None for r in seen)


def _chatty_spec(name: str, steps: int, **over) -> dict:
    return quad_spec(name, trainable="tests.helpers:chatty", fixed={"steps": steps},
                     space={"x": {"uniform": [0.0, 1.0]}},
                     budget={"trials": 2, "max_concurrent": 2}, **over)


# ASHA: each result goes to Tune alone (its rungs would never be reached here).
@pytest.mark.parametrize("scheduler", [None, {"type": "asha", "grace_period": 600, "max_t": 1000}])
def test_every_result_is_stored_with_its_step(home, scheduler):
    steps = 500
    over = {"scheduler": scheduler} if scheduler else {}
    study = hpsearch.run(_chatty_spec(f"chatty-{bool(scheduler)}", steps, **over), progress=False)
    assert study.status == StudyStatus.COMPLETED
    for t in study.trials:
        assert t.status == TrialStatus.COMPLETED
        rows = study.results(t.number)
        assert [r["iteration"] for r in rows] == list(range(1, steps + 1))
        assert [r["step"] for r in rows] == list(range(1, steps + 1))
        x = t.params["x"]
        assert rows[0]["loss"] == pytest.approx((1 - steps // 2) ** 2 + x)
        assert t.value == pytest.approx((steps - steps // 2) ** 2 + x)  # the last result
        assert t.best_value == pytest.approx(x)                         # the best one
        assert t.iterations == steps


def test_the_driver_coalesces_only_when_nothing_decides_on_single_results():
    from hpsearch.orchestration import coalesce_window
    from hpsearch.spec import validate

    base = _chatty_spec("w", 10)
    assert coalesce_window(validate(base)) == reporting.COALESCE_S
    assert coalesce_window(validate({**base, "scheduler": {"type": "median"}})) == 0
    assert coalesce_window(validate({**base, "budget": {"trials": 2, "max_failures": 1}})) == 0


def test_the_window_is_a_setting(monkeypatch):
    from hpsearch.orchestration import coalesce_window
    from hpsearch.spec import validate

    monkeypatch.setenv("HPSEARCH_REPORT_WINDOW_S", "1")
    assert coalesce_window(validate(_chatty_spec("w", 10))) == 1.0
