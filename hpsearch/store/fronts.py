"""The read model for several objectives: a study's Pareto front and hypervolume history.

Beside :mod:`hpsearch.store.queries` (one-objective questions); the CLI leaderboard,
the Python API (``study.pareto_front``), the charts and the JSON API all ask here.

* The points are the SCORED trials (finished, not imported) with a finite value for
  every objective; their values are the last reported ones (``trials.values``).
* A trial that breaks a constraint, or lacks a constrained metric, is *infeasible*:
  kept and listed, marked, never on the front and adding no hypervolume.
* **The leaderboard rule**: feasible before infeasible; then by non-dominated rank
  (0 = the front; ranks 0-2 are computed, deeper trials come after them); then by the
  primary (first) objective, best first; then by number.
* Hypervolume is measured against the spec's reference point (each objective's
  ``reference``) when every objective has one, else against the worst feasible value of
  each objective pushed out by 10 % of its range (:func:`hpsearch.pareto.computed_reference`);
  the history is the hypervolume after each trial, in trial-number order.

    >>> view = pareto(store, study)                      # doctest: +SKIP
    >>> [p.number for p in view.front], view.hypervolume[-1]   # doctest: +SKIP
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import select

from hpsearch import pareto as mo
from hpsearch.status import TrialStatus
from hpsearch.store.models import Study, Trial


@dataclass(frozen=True)
class Point:
    """One scored trial seen with every objective."""

    number: int
    values: dict[str, float]          # objective and constrained metrics, in their units
    vector: tuple[float, ...] | None  # objectives as minimisation (None: one is missing)
    feasible: bool
    rank: int | None = None           # non-dominated rank among feasible points; 0 = front;
                                      # None: infeasible, or deeper than the 3rd front
    crowding: float = 0.0             # NSGA-II crowding distance within its rank

    @property
    def on_front(self) -> bool:
        return self.feasible and self.rank == 0


@dataclass(frozen=True)
class ParetoView:
    objectives: mo.Objectives
    constraints: list[mo.Constraint]
    points: list[Point]                        # in leaderboard order (see the module doc)
    reference: tuple[float, ...] | None        # in the objectives' own units
    reference_from_spec: bool
    hypervolume: list[tuple[int, float]] = field(default_factory=list)  # (number, after it)

    @property
    def front(self) -> list[Point]:
        return [p for p in self.points if p.on_front]

    @property
    def infeasible(self) -> list[Point]:
        return [p for p in self.points if not p.feasible]


def objective_values(trial_values: dict | None, value: float | None, primary: str) -> dict[str, float]:
    """A trial's metric -> value map; older rows have only ``value`` (the primary)."""
    values = dict(trial_values or {})
    if primary not in values and value is not None:
        values[primary] = value
    return {k: float(v) for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def view_of(objectives: mo.Objectives, constraints: list[mo.Constraint],
            rows: list[tuple[int, dict[str, float]]]) -> ParetoView:
    """The front, ranks and hypervolume history of ``rows`` ((number, values) by number)."""
    points = [Point(n, v, objectives.to_min(v),
                    mo.feasible(constraints, v) and objectives.to_min(v) is not None)
              for n, v in rows]
    good = [p for p in points if p.feasible]
    ranks = mo.front_ranks([p.vector for p in good])
    by_rank: dict[int, list[int]] = {}
    for i, r in enumerate(ranks):
        if r is not None:
            by_rank.setdefault(r, []).append(i)
    crowd = [0.0] * len(good)
    for members in by_rank.values():
        for i, d in zip(members, mo.crowding([good[i].vector for i in members])):
            crowd[i] = d
    ranked = {p.number: Point(p.number, p.values, p.vector, True, r, c)
              for p, r, c in zip(good, ranks, crowd)}
    points = [ranked.get(p.number, p) for p in points]

    spec_ref = objectives.reference_min()
    ref_min = spec_ref or mo.computed_reference([p.vector for p in good])
    history = []
    if ref_min is not None:
        vectors = [p.vector if p.feasible else None for p in points]
        history = list(zip([p.number for p in points], mo.hypervolume_history(vectors, ref_min)))
    reference = None if ref_min is None else tuple(
        o.to_min(r) for o, r in zip(objectives.items, ref_min))  # to_min is its own inverse

    def order(p: Point):
        primary = p.vector[0] if p.vector is not None else math.inf
        return (not p.feasible, p.rank if p.rank is not None else math.inf, primary, p.number)

    return ParetoView(objectives, constraints, sorted(points, key=order), reference,
                      spec_ref is not None, history)


def pareto(store, study: Study) -> ParetoView:
    """The study's Pareto view (works for one objective too: its front is the best trial)."""
    objectives = mo.Objectives.of_spec(study.spec)
    constraints = [mo.Constraint.parse(c) for c in study.spec.get("constraints") or []]
    with store.session() as s:
        rows = s.execute(select(Trial.number, Trial.values, Trial.value)
                         .where(Trial.study_id == study.id, Trial.status.in_(TrialStatus.SCORED))
                         .order_by(Trial.number)).all()
    return view_of(objectives, constraints,
                   [(n, objective_values(vals, value, objectives.metrics[0])) for n, vals, value in rows])


def finished_with_values(store, study_names: list[str]) -> list[tuple[str, dict, float, dict]]:
    """(study name, params, value, values) of the COMPLETED trials of the named studies,
    for a warm start (``values``: every objective of a multi-objective study, else {})."""
    with store.session() as s:
        rows = s.execute(select(Study.name, Trial.params, Trial.value, Trial.values).join(Trial)
                         .where(Study.name.in_(study_names), Trial.status == TrialStatus.COMPLETED,
                                Trial.value.is_not(None)).order_by(Study.id, Trial.number))
        return [(n, p, v, dict(vals or {})) for n, p, v, vals in rows]
