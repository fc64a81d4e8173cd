"""Several objectives: dominance, Pareto fronts, constraints and hypervolume (pure Python).

Everything here works on *minimisation* vectors: :meth:`Objectives.to_min` flips
the sign of each ``mode: max`` objective, so one rule serves every study. The
read model (:mod:`hpsearch.store.fronts`), the searchers, the CLI and the
benchmarks all use these functions, so a front is the same wherever it is read.

    >>> objectives = Objectives.parse([{"metric": "acc", "mode": "max"},
    ...                                {"metric": "kb", "mode": "min"}])
    >>> points = [objectives.to_min({"acc": a, "kb": k}) for a, k in [(0.9, 50), (0.8, 10), (0.7, 60)]]
    >>> nondominated(points)
    [0, 1]
    >>> hypervolume([(0.0, 1.0), (1.0, 0.0)], (2.0, 2.0))
    3.0
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from hpsearch.exceptions import SpecError

Vector = Sequence[float]


@dataclass(frozen=True)
class Objective:
    """One objective: a reported metric, its direction, and optionally the hypervolume
    reference value (the worst value that still counts, in the metric's own units)."""

    metric: str
    mode: str
    reference: float | None = None

    def to_min(self, value: float) -> float:
        return -value if self.mode == "max" else value


@dataclass(frozen=True)
class Objectives:
    """The study's objectives in order; the first is the *primary* one (the study's
    ``metric``/``mode``: the trial's ``value`` column, early-stopping schedulers)."""

    items: tuple[Objective, ...]

    @classmethod
    def parse(cls, raw: Iterable[Mapping]) -> "Objectives":
        return cls(tuple(Objective(o["metric"], o["mode"], o.get("reference")) for o in raw))

    @classmethod
    def of_spec(cls, spec: Mapping) -> "Objectives":
        """From a stored spec dict (old studies have only ``metric``/``mode``)."""
        raw = spec.get("objectives") or [{"metric": spec.get("metric"), "mode": spec.get("mode")}]
        return cls.parse(raw)

    @property
    def metrics(self) -> list[str]:
        return [o.metric for o in self.items]

    @property
    def modes(self) -> list[str]:
        return [o.mode for o in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def to_min(self, values: Mapping[str, float]) -> tuple[float, ...] | None:
        """The minimisation vector of ``values`` (metric -> value); None if one is missing
        or not finite (such a trial is on no front)."""
        out = []
        for o in self.items:
            v = values.get(o.metric)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                return None
            out.append(o.to_min(float(v)))
        return tuple(out)

    def reference_min(self) -> tuple[float, ...] | None:
        """The spec's reference point as a minimisation vector, if every objective has one."""
        if any(o.reference is None for o in self.items):
            return None
        return tuple(o.to_min(float(o.reference)) for o in self.items)


# -- constraints ---------------------------------------------------------------------

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_./-]*)\s*(<=|>=|<|>)\s*"
                         r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``, e.g. ``latency_ms <= 5``: a trial that breaks it is infeasible."""

    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str, field: str = "constraints") -> "Constraint":
        m = _CONSTRAINT.match(text) if isinstance(text, str) else None
        if m is None:
            raise SpecError(f"must read 'METRIC OP NUMBER' with OP one of <=, <, >=, >, "
                            f"got {text!r}", field)
        bound = float(m.group(3))
        if not math.isfinite(bound):
            raise SpecError(f"the bound must be a finite number, got {text!r}", field)
        return cls(m.group(1), m.group(2), bound)

    def holds(self, values: Mapping[str, float]) -> bool:
        """False when broken, or when the metric is missing or not finite."""
        v = values.get(self.metric)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            return False
        return _OPS[self.op](float(v), self.bound)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.bound:g}"


def feasible(constraints: Sequence[Constraint], values: Mapping[str, float]) -> bool:
    return all(c.holds(values) for c in constraints)


# -- dominance and fronts --------------------------------------------------------------

def dominates(a: Vector, b: Vector) -> bool:
    """``a`` is no worse than ``b`` everywhere and better somewhere (minimisation)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def nondominated(points: Sequence[Vector]) -> list[int]:
    """Indices of the points no other point dominates (duplicates all stay), in order."""
    return sorted(_front(range(len(points)), points))


def _front(indices, points: Sequence[Vector]) -> list[int]:
    """The non-dominated ones among ``indices``. In lexicographic order a point's
    dominators all come before it, and (dominance being transitive) one of them is
    already on the front: each point is checked against the front found so far only,
    O(n log n + n * front size) instead of O(n^2)."""
    front: list[int] = []
    for i in sorted(indices, key=lambda k: tuple(points[k])):
        p = points[i]
        if not any(dominates(points[j], p) for j in front):
            front.append(i)
    return front


MAX_RANKED_FRONTS = 3


def front_ranks(points: Sequence[Vector], max_fronts: int | None = MAX_RANKED_FRONTS) -> list[int | None]:
    """Non-dominated sorting: 0 for the front, 1 for the front once it is removed, ...;
    beyond ``max_fronts`` fronts None (a 10,000-trial study has hundreds of fronts; each
    costs a pass over the trials, and nothing shown needs their order: they are listed
    after the ranked ones, by the primary objective)."""
    ranks: list[int | None] = [None] * len(points)
    left = set(range(len(points)))
    rank = 0
    while left and (max_fronts is None or rank < max_fronts):
        front = _front(left, points)
        for i in front:
            ranks[i] = rank
        left.difference_update(front)
        rank += 1
    return ranks


# -- hypervolume ----------------------------------------------------------------------

def hypervolume(points: Sequence[Vector], reference: Vector) -> float:
    """The volume dominated by ``points`` and bounded by ``reference`` (minimisation).

    Exact: a sweep in 2-D, slicing along the last objective above that (fine for the
    few hundred points and 2-4 objectives a study has). Points not strictly better
    than the reference in every objective add nothing.
    """
    ref = tuple(float(r) for r in reference)
    pts = [tuple(float(x) for x in p) for p in points if all(x < r for x, r in zip(p, ref))]
    if not pts:
        return 0.0
    pts = [pts[i] for i in nondominated(pts)]
    return _hv(pts, ref)


def _hv(pts: list[tuple[float, ...]], ref: tuple[float, ...]) -> float:
    d = len(ref)
    if d == 1:
        return ref[0] - min(p[0] for p in pts)
    if d == 2:
        total, best_y = 0.0, ref[1]
        for x, y in sorted(set(pts)):
            if y < best_y:
                total += (ref[0] - x) * (best_y - y)
                best_y = y
        return total
    # Slice along the last objective: between consecutive values z_i < z_{i+1}, the
    # cross-section is the (d-1)-volume of the points with last coordinate <= z_i.
    pts = sorted(pts, key=lambda p: p[-1])
    total = 0.0
    for i, p in enumerate(pts):
        upper = pts[i + 1][-1] if i + 1 < len(pts) else ref[-1]
        if upper > p[-1]:
            section = [q[:-1] for q in pts[:i + 1]]
            section = [section[j] for j in nondominated(section)]
            total += _hv(section, ref[:-1]) * (upper - p[-1])
    return total


def computed_reference(points: Sequence[Vector], margin: float = 0.1) -> tuple[float, ...] | None:
    """A reference point when the spec gives none: the worst value of each objective
    over ``points``, pushed out by ``margin`` of its range (1 when the range is 0), so
    that every front point adds volume. None when there are no points."""
    if not points:
        return None
    ref = []
    for k in range(len(points[0])):
        column = [p[k] for p in points]
        lo, hi = min(column), max(column)
        ref.append(hi + margin * ((hi - lo) or max(abs(hi), 1.0)))
    return tuple(ref)


def hypervolume_history(points: Sequence[Vector | None], reference: Vector) -> list[float]:
    """The hypervolume after each point in order (None: an infeasible or unscored trial,
    which adds nothing)."""
    out, front = [], []
    current = 0.0
    for p in points:
        if p is not None and all(x < r for x, r in zip(p, reference)) \
                and not any(dominates(q, p) or tuple(q) == tuple(p) for q in front):
            front = [q for q in front if not dominates(p, q)] + [tuple(p)]
            current = hypervolume(front, reference)
        out.append(current)
    return out


def crowding(points: Sequence[Vector]) -> list[float]:
    """NSGA-II crowding distance within one front (inf at each objective's extremes)."""
    n = len(points)
    if n == 0:
        return []
    dist = [0.0] * n
    for k in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][k])
        lo, hi = points[order[0]][k], points[order[-1]][k]
        dist[order[0]] = dist[order[-1]] = math.inf
        if hi == lo:
            continue
        for a, i, b in zip(order, order[1:], order[2:]):
            dist[i] += (points[b][k] - points[a][k]) / (hi - lo)
    return dist
