"""Fronts, constraints and hypervolume on hand-made cases (hpsearch/pareto.py and the read model)."""
from __future__ import annotations

import random

import numpy as np
import pytest

from hpsearch import pareto as mo
from hpsearch.exceptions import SpecError
from hpsearch.store.fronts import view_of


def test_nondominated_and_ranks_by_hand():
    pts = [(1, 5), (2, 2), (5, 1), (3, 3), (2, 2), (6, 6), (4, 4)]
    assert mo.nondominated(pts) == [0, 1, 2, 4]  # the duplicate (2, 2) stays on the front
    assert mo.front_ranks(pts, max_fronts=None) == [0, 0, 0, 1, 0, 3, 2]
    assert mo.front_ranks(pts) == [0, 0, 0, 1, 0, None, 2]  # three fronts ranked by default


@pytest.mark.parametrize("points, ref, expected", [
    ([(1, 3), (2, 2), (3, 1)], (4, 4), 6.0),                  # three boxes, stairs
    ([(1, 3), (2, 2), (3, 1), (3, 3)], (4, 4), 6.0),          # a dominated point adds nothing
    ([(5, 5)], (4, 4), 0.0),                                  # outside the reference
    ([(1, 1, 1)], (2, 2, 2), 1.0),
    ([(1, 0, 0), (0, 1, 0)], (2, 2, 2), 6.0),                 # 4 + 4 - the 2 they share
    ([(0, 0, 1), (0, 1, 0), (1, 0, 0)], (2, 2, 2), 8 - 1),    # the cube less its far corner
])
def test_hypervolume_by_hand(points, ref, expected):
    assert mo.hypervolume(points, ref) == pytest.approx(expected)


@pytest.mark.parametrize("dim", [2, 3, 4])
def test_hypervolume_matches_optuna_on_random_fronts(dim):
    from optuna._hypervolume import compute_hypervolume

    rng = random.Random(dim)
    for _ in range(5):
        pts = [tuple(rng.random() for _ in range(dim)) for _ in range(30)]
        ref = (1.1,) * dim
        ours = mo.hypervolume(pts, ref)
        front = np.array([pts[i] for i in mo.nondominated(pts)])
        assert ours == pytest.approx(compute_hypervolume(front, np.array(ref)), rel=1e-9)


def test_constraints_parse_and_hold():
    c = mo.Constraint.parse("latency_ms <= 5")
    assert (c.metric, c.op, c.bound) == ("latency_ms", "<=", 5.0)
    assert c.holds({"latency_ms": 5}) and not c.holds({"latency_ms": 5.01})
    assert not c.holds({}) and not c.holds({"latency_ms": float("nan")})  # missing: infeasible
    assert mo.Constraint.parse("model_kb>1e2").holds({"model_kb": 101})
    for bad in ["latency_ms = 5", "5 <= latency_ms", "latency_ms <= five", ""]:
        with pytest.raises(SpecError) as refused:
            mo.Constraint.parse(bad, "constraints[0]")
        assert refused.value.problems[0][0] == "constraints[0]"


def test_view_marks_infeasible_ranks_by_the_stated_rule_and_measures_hypervolume():
    objectives = mo.Objectives.parse([{"metric": "acc", "mode": "max", "reference": 0.0},
                                      {"metric": "kb", "mode": "min", "reference": 100.0}])
    constraints = [mo.Constraint.parse("ms <= 5")]
    rows = [  # (number, values)
        (0, {"acc": 0.90, "kb": 50, "ms": 1}),
        (1, {"acc": 0.80, "kb": 10, "ms": 1}),
        (2, {"acc": 0.99, "kb": 5, "ms": 9}),     # dominates all, but breaks ms <= 5
        (3, {"acc": 0.70, "kb": 60, "ms": 1}),    # dominated by 0
        (4, {"acc": 0.95, "kb": 80, "ms": 2}),
        (5, {"acc": 0.85, "ms": 1}),              # kb missing: on no front
    ]
    view = view_of(objectives, constraints, rows)
    assert [p.number for p in view.front] == [4, 0, 1]  # by the primary objective (acc), best first
    assert [p.number for p in view.points] == [4, 0, 1, 3, 2, 5]
    assert {p.number for p in view.infeasible} == {2, 5}
    assert view.reference == (0.0, 100.0) and view.reference_from_spec
    # by hand, in (-acc, kb) against (0, 100): the union of three boxes
    boxes = 0.95 * 20 + 0.90 * (80 - 50) + 0.80 * (50 - 10)
    assert view.hypervolume[-1] == (5, pytest.approx(boxes))
    values = [hv for _, hv in view.hypervolume]
    assert values == sorted(values)  # never decreases
    assert values[2] == values[1]  # the infeasible trial 2 adds nothing
    assert values[0] == pytest.approx(0.9 * 50)


def test_computed_reference_when_the_spec_has_none():
    objectives = mo.Objectives.parse([{"metric": "a", "mode": "min"}, {"metric": "b", "mode": "min"}])
    view = view_of(objectives, [], [(0, {"a": 0, "b": 10}), (1, {"a": 10, "b": 0})])
    assert view.reference == (11.0, 11.0) and not view.reference_from_spec
    assert view.hypervolume[-1][1] == pytest.approx(11 * 1 + 1 * 10)
