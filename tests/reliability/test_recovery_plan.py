"""What a resume runs, decided from SQL (hpsearch.recovery), without Ray."""
from __future__ import annotations

import json
from types import SimpleNamespace as Row

import searchers
from hpsearch.recovery import BudgetSearcher, reconcile
from hpsearch.space import Space

SPACE = Space.from_spec({"x": {"uniform": [-5.0, 5.0]}})


def _searcher(kind: str = "bayesian"):
    opts = {"n_initial_points": 3} if kind == "bayesian" else {}
    return searchers.create_searcher(kind, SPACE, metric="loss", mode="min", seed=0,
                                     max_trials=10, **opts)


def _snapshot(s) -> dict:
    """What the driver stores: a copy, as JSON (get_state shares live dicts)."""
    return json.loads(json.dumps(s.get_state()))


def _run(s, n: int) -> list:
    """n suggestions; the first n-1 finish, the last one is still running."""
    rows = []
    for i in range(n):
        cfg = s.suggest(f"r{i}")
        status = "COMPLETED" if i < n - 1 else "INTERRUPTED"
        if status == "COMPLETED":
            s.on_trial_complete(f"r{i}", {"loss": cfg["x"] ** 2})
        rows.append(Row(number=i, ray_trial_id=f"r{i}", status=status, params=cfg,
                        value=cfg["x"] ** 2 if status == "COMPLETED" else None))
    return rows


def test_a_lagging_state_is_caught_up_from_sql():
    live = _searcher()
    rows = _run(live, 3)
    saved = _snapshot(live)  # the last snapshot; then two more trials start and one ends
    for i in (3, 4):
        cfg = live.suggest(f"r{i}")
        rows.append(Row(number=i, ray_trial_id=f"r{i}", status="COMPLETED" if i == 3 else
                        "INTERRUPTED", params=cfg, value=1.0 if i == 3 else None))
    fresh = _searcher()
    plan = reconcile(fresh, saved, rows, budget=10)
    assert fresh.n_suggested == 5  # every trial SQL holds counts: no second random phase
    assert len(fresh.observations) == 3  # trials 0, 1 and 3 finished
    assert [(n, old) for n, _, old in plan.reruns] == [(2, "r2"), (4, "r4")]
    assert plan.new == 5 and plan.total == 7  # 10 - 5 trials in SQL, plus the two re-runs


def test_no_saved_state_is_rebuilt_and_unrecorded_suggestions_are_offered_first():
    live = _searcher("random")
    rows = _run(live, 2)
    live.suggest("ghost")  # suggested, never reached SQL
    saved = _snapshot(live)
    fresh = _searcher("random")
    plan = reconcile(fresh, saved, rows, budget=4)
    assert [n for n, _, _ in plan.reruns] == [1, None]  # the interrupted one, then the ghost
    assert plan.new == 1  # 4 - 2 in SQL - 1 ghost
    rebuilt = _searcher("random")
    plan = reconcile(rebuilt, None, rows, budget=4)
    assert rebuilt.n_suggested == 2 and len(rebuilt.observations) == 1
    assert plan.new == 2 and [n for n, _, _ in plan.reruns] == [1]


def test_the_budget_searcher_reruns_then_stops_at_the_budget():
    live = _searcher("random")
    rows = _run(live, 2)
    fresh = _searcher("random")
    plan = reconcile(fresh, _snapshot(live), rows, budget=3)
    b = BudgetSearcher(fresh, plan)
    first = b.suggest("new-a")
    assert first == rows[1].params and b.numbers == {"new-a": 1}  # same params, same row
    assert isinstance(b.suggest("new-b"), dict)
    assert b.suggest("new-c") == "FINISHED"
    done = [Row(number=i, ray_trial_id=f"r{i}", status="COMPLETED", params={"x": 0.1 * i},
                value=1.0) for i in range(3)]
    assert reconcile(_searcher("random"), None, done, budget=3).total == 0  # nothing left
