"""The search-space model: typed parameters with bounds, sampling and checks.

A spec's ``space`` section maps each parameter name to one distribution::

    lr:         {loguniform: [1.0e-4, 1.0e-1]}
    dropout:    {uniform: [0.0, 0.5]}
    channels:   {int: [8, 64]}
    hidden:     {logint: [16, 512]}
    optimizer:  {choice: [adam, adagrad, adadelta]}
    batch_size: {grid: [32, 64]}

A parameter may exist only under a condition on parameters declared above it
(a *conditional* space)::

    optimizer:  {choice: [adam, sgd]}
    beta1:      {uniform: [0.8, 0.999], when: {optimizer: adam}}
    momentum:   {uniform: [0.0, 0.99],  when: {optimizer: [sgd]}}   # one of a list
    layers:     {int: [1, 3]}
    units_2:    {logint: [16, 256], when: {layers: {min: 2}}}      # a numeric range
    units_3:    {logint: [16, 256], when: {layers: {min: 3}}}

``when`` maps each parent to a value, a list of values, or ``{min, max}``
(inclusive, either may be left out); all must hold, and the parents must be
active themselves. An inactive parameter is absent from the trial's config.

Searchers work on these objects only; they never read the raw spec.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from hpsearch.exceptions import SpecError

KINDS = ("uniform", "loguniform", "int", "logint", "choice", "grid")
Scalar = Any  # a JSON scalar: int, float, str, bool or None


def condition_text(p: "Param") -> str:
    """When ``p`` exists, in words (``"only when kernel is rbf or poly"``); "" if always."""
    return "only when " + " and ".join(c.describe() for c in p.when) if p.when else ""


def _word(value: Any) -> str:
    """A value as a spec would write it (YAML's true/false/null)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(value)


@dataclass(frozen=True)
class Clause:
    """One condition of ``when``: ``parent`` equals one of ``values``, or lies in [low, high]."""

    parent: str
    values: tuple | None = None
    low: float | None = None
    high: float | None = None

    def holds(self, value: Any) -> bool:
        if self.values is not None:
            return any(_same(value, v) for v in self.values)
        return ((self.low is None or value >= self.low)
                and (self.high is None or value <= self.high))

    def describe(self) -> str:
        """The condition in words: ``kernel is rbf or poly``, ``layers >= 2``."""
        if self.values is not None:
            return f"{self.parent} is " + " or ".join(_word(v) for v in self.values)
        if self.low is not None and self.high is not None:
            return f"{_word(self.low)} <= {self.parent} <= {_word(self.high)}"
        return f"{self.parent} >= {_word(self.low)}" if self.low is not None else f"{self.parent} <= {_word(self.high)}"

    def to_spec(self) -> Any:
        if self.values is not None:
            return self.values[0] if len(self.values) == 1 else list(self.values)
        return {k: v for k, v in (("min", self.low), ("max", self.high)) if v is not None}


@dataclass(frozen=True)
class Float:
    name: str
    low: float
    high: float
    log: bool = False
    when: tuple[Clause, ...] = ()

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def contains(self, value: Any) -> bool:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and self.low <= float(value) <= self.high)

    def to_unit(self, value: float) -> float:
        """Map ``value`` into [0, 1] (in log space for log params)."""
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low) if self.high > self.low else 0.0

    def from_unit(self, u: float) -> float:
        u = min(1.0, max(0.0, float(u)))
        if self.log:
            x = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low)
        return float(min(self.high, max(self.low, x)))  # exp/log rounding can step past a bound


@dataclass(frozen=True)
class Int:
    name: str
    low: int
    high: int
    log: bool = False
    when: tuple[Clause, ...] = ()

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            x = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return int(min(self.high, max(self.low, math.floor(x))))
        return int(rng.integers(self.low, self.high + 1))

    def contains(self, value: Any) -> bool:
        return (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
                and self.low <= int(value) <= self.high)

    def to_unit(self, value: int) -> float:
        if self.log:  # the middle of value's bin [value, value + 1) in log space
            mid = (math.log(value) + math.log(value + 1)) / 2
            return (mid - math.log(self.low)) / (math.log(self.high + 1) - math.log(self.low))
        return (value - self.low + 0.5) / (self.high - self.low + 1)

    def from_unit(self, u: float) -> int:
        u = min(1.0, max(0.0, float(u)))
        if self.log:
            x = math.exp(math.log(self.low) + u * (math.log(self.high + 1) - math.log(self.low)))
            return int(min(self.high, max(self.low, math.floor(x))))
        return int(min(self.high, self.low + math.floor(u * (self.high - self.low + 1))))


@dataclass(frozen=True)
class Categorical:
    """A choice among listed values; ``grid=True`` marks it for the grid searcher."""

    name: str
    values: tuple
    grid: bool = False
    when: tuple[Clause, ...] = ()

    def sample(self, rng: np.random.Generator) -> Scalar:
        return self.values[int(rng.integers(len(self.values)))]

    def contains(self, value: Any) -> bool:
        return any(_same(value, v) for v in self.values)

    def to_unit(self, value: Any) -> float:
        """The middle of the value's slot in [0, 1] (one equal slot per value)."""
        return (self.index(value) + 0.5) / len(self.values)

    def from_unit(self, u: float) -> Scalar:
        u = min(1.0, max(0.0, float(u)))
        return self.values[min(len(self.values) - 1, int(u * len(self.values)))]

    def index(self, value: Any) -> int:
        for i, v in enumerate(self.values):
            if _same(value, v):
                return i
        raise ValueError(f"{value!r} is not one of {list(self.values)}")


Param = Float | Int | Categorical


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python; a categorical of [1, true] must tell them apart.
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _number(field: str, value: Any, integer: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(float(value)):
        kind = "an integer" if integer else "a finite number"
        raise SpecError(f"must be {kind}, got {value!r}", field)
    return value


def parse_param(name: str, raw: Any) -> Param:
    """Build one parameter from its spec entry (its ``when`` unchecked), raising :class:`SpecError`."""
    field = f"space.{name}"
    dist = {k: v for k, v in raw.items() if k != "when"} if isinstance(raw, dict) else raw
    if not isinstance(dist, dict) or len(dist) != 1:
        raise SpecError(f"must be a mapping with exactly one of {', '.join(KINDS)} (and an optional "
                        f"when); got {raw!r}", field)
    when = _parse_when(name, raw["when"]) if "when" in raw else ()
    (kind, args), = dist.items()
    field = f"{field}.{kind}"
    if kind not in KINDS:
        raise SpecError(f"unknown distribution {kind!r}; valid: {', '.join(KINDS)}", f"space.{name}")
    if kind in ("choice", "grid"):
        if not isinstance(args, list) or not args:
            raise SpecError(f"must be a non-empty list of values, got {args!r}", field)
        for v in args:
            if not (v is None or isinstance(v, (str, int, float, bool))):
                raise SpecError(f"values must be numbers, strings, booleans or null, got {v!r}", field)
        if len({json_key(v) for v in args}) != len(args):
            raise SpecError(f"values must be distinct, got {args!r}", field)
        return Categorical(name, tuple(args), grid=kind == "grid", when=when)
    if not isinstance(args, list) or len(args) != 2:
        raise SpecError(f"must be a list [low, high], got {args!r}", field)
    integer = kind in ("int", "logint")
    low = _number(f"{field}[0]", args[0], integer)
    high = _number(f"{field}[1]", args[1], integer)
    if low > high:
        raise SpecError(f"low must not exceed high, got [{low!r}, {high!r}]", field)
    log = kind.startswith("log")
    if log and low <= 0:
        raise SpecError(f"log-scaled bounds must be > 0, got low={low!r}", field)
    if integer:
        return Int(name, int(low), int(high), log, when=when)
    if low == high:
        raise SpecError(f"low must be below high, got [{low!r}, {high!r}]", field)
    return Float(name, float(low), float(high), log, when=when)


def _parse_when(name: str, raw: Any) -> tuple[Clause, ...]:
    """The shape of a ``when`` mapping; what it refers to is checked by :func:`check_conditions`."""
    field = f"space.{name}.when"
    if not isinstance(raw, dict) or not raw:
        raise SpecError("must map parameter names to a value, a list of values or {min, max}; "
                        f"got {raw!r}", field)
    clauses = []
    for parent, cond in raw.items():
        f = f"{field}.{parent}"
        if isinstance(cond, dict):
            unknown = sorted(set(cond) - {"min", "max"})
            if unknown or not cond:
                raise SpecError(f"a range takes min and/or max, got {cond!r}", f)
            low, high = (_number(f"{f}.{k}", cond[k]) if k in cond else None for k in ("min", "max"))
            if low is not None and high is not None and low > high:
                raise SpecError(f"min must not exceed max, got {cond!r}", f)
            clauses.append(Clause(str(parent), low=low, high=high))
        else:
            values = cond if isinstance(cond, list) else [cond]
            if not values or not all(v is None or isinstance(v, (str, int, float, bool)) for v in values):
                raise SpecError(f"must be a value, a non-empty list of values or {{min, max}}, got {cond!r}", f)
            clauses.append(Clause(str(parent), values=tuple(values)))
    return tuple(clauses)


def check_conditions(params: Sequence[Param]) -> list[tuple[str, str]]:
    """Problems with the ``when`` of each parameter: each parent must be declared
    above it (so there are no cycles), and its values or range must be possible."""
    problems: list[tuple[str, str]] = []
    above: dict[str, Param] = {}
    for p in params:
        if p.when and isinstance(p, Categorical) and p.grid:
            problems.append((f"space.{p.name}.when", "a grid parameter cannot be conditional "
                             "(the grid is a full product); use choice"))
        for c in p.when:
            field = f"space.{p.name}.when.{c.parent}"
            parent = above.get(c.parent)
            if parent is None:
                where = "below it" if c.parent != p.name and any(q.name == c.parent for q in params) else None
                problems.append((field, f"{c.parent!r} must be a parameter declared above {p.name!r}"
                                 + (f" (it is declared {where})" if where else "")))
            elif c.values is not None:
                bad = [v for v in c.values if not parent.contains(v)]
                if bad:
                    problems.append((field, f"{bad[0]!r} is not a possible value of {c.parent!r}"))
            elif isinstance(parent, Categorical) and not all(_numeric(v) for v in parent.values):
                problems.append((field, f"a min/max range needs numeric values; {c.parent!r} "
                                        f"has {list(parent.values)!r}"))
            else:
                low, high = ((min(parent.values), max(parent.values)) if isinstance(parent, Categorical)
                             else (parent.low, parent.high))
                if (c.low is not None and c.low > high) or (c.high is not None and c.high < low):
                    problems.append((field, f"{c.to_spec()!r} is outside {c.parent!r}'s "
                                            f"[{low!r}, {high!r}]: never active"))
        above[p.name] = p
    return problems


# The key of an absent (inactive) parameter; json_key never returns it.
INACTIVE = "-"
# A conditional space is counted by listing it only up to this many raw combinations.
_COUNT_MAX = 1_000_000


def _numeric(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _count(p: Int | Categorical) -> int:
    return p.high - p.low + 1 if isinstance(p, Int) else len(p.values)


def _values(p: Int | Categorical) -> Sequence:
    return range(p.low, p.high + 1) if isinstance(p, Int) else p.values


def json_key(value: Any) -> str:
    """A hashable key that tells ``1``, ``1.0`` and ``True`` apart."""
    return f"{type(value).__name__}:{value!r}"


class Space:
    """An ordered collection of parameters.

    >>> s = Space.from_spec({"lr": {"loguniform": [1e-4, 1e-1]}, "bs": {"grid": [32, 64]}})
    >>> sorted(s.names)
    ['bs', 'lr']
    """

    def __init__(self, params: Sequence[Param]):
        self.params: tuple[Param, ...] = tuple(params)
        self.by_name = {p.name: p for p in self.params}
        self._names = tuple(p.name for p in self.params)
        problems = check_conditions(self.params)
        if problems:
            raise SpecError(problems)
        self.conditional = any(p.when for p in self.params)
        self._size: int | None | bool = False  # not computed yet

    @classmethod
    def from_spec(cls, raw: dict) -> "Space":
        if not isinstance(raw, dict) or not raw:
            raise SpecError("must define at least one parameter", "space")
        params, problems = [], []
        for k, v in raw.items():
            try:
                params.append(parse_param(str(k), v))
            except SpecError as exc:
                problems.extend(exc.problems)
        problems.extend(check_conditions(params))
        if problems:
            raise SpecError(problems)
        return cls(params)

    # -- conditions -----------------------------------------------------------
    def is_active(self, p: Param, config: dict, active: set[str] | None = None) -> bool:
        """Whether ``p`` exists in ``config``: its parents active and its clauses true."""
        for c in p.when:
            if (active is not None and c.parent not in active) or c.parent not in config:
                return False
            if not c.holds(config[c.parent]):
                return False
        return True

    def inactive_hint(self, name: str, config: dict) -> str | None:
        """Why parameter ``name`` has no value in ``config``: ``"only when kernel is rbf"``,
        or None when it is active there (or not a conditional parameter of this space)."""
        p = next((q for q in self.params if q.name == name), None)
        if p is None or not p.when or name in config:
            return None
        return condition_text(p)

    def active_names(self, config: dict) -> list[str]:
        """The parameters that exist in ``config`` (parents are declared first)."""
        active: set[str] = set()
        for p in self.params:
            if self.is_active(p, config, active):
                active.add(p.name)
        return [n for n in self._names if n in active]

    def prune(self, config: dict) -> dict:
        """``config`` without its inactive parameters (and without unknown keys)."""
        if not self.conditional:
            return {n: config[n] for n in self._names if n in config}
        return {n: config[n] for n in self.active_names(config) if n in config}

    def fill(self, config: dict) -> dict:
        """``config`` with every inactive parameter set to a placeholder (its middle),
        for searchers whose model or genome has one slot per parameter."""
        return {p.name: config[p.name] if p.name in config else p.from_unit(0.5) for p in self.params}

    @property
    def names(self) -> list[str]:
        return list(self._names)

    @property
    def grid_params(self) -> list[Categorical]:
        return [p for p in self.params if isinstance(p, Categorical) and p.grid]

    def grid_size(self) -> int:
        return math.prod(len(p.values) for p in self.grid_params)

    def iter_grid(self) -> Iterator[dict]:
        params = self.grid_params
        for combo in itertools.product(*(p.values for p in params)):
            yield dict(zip((p.name for p in params), combo))

    def sample(self, rng: np.random.Generator) -> dict:
        # Every parameter is drawn, active or not, so the stream of draws does not
        # depend on the branch taken.
        return self.prune({p.name: p.sample(rng) for p in self.params})

    def from_unit(self, u: Sequence[float]) -> dict:
        """The configuration at a point of the unit cube (one coordinate per parameter).

        Space-filling designs (Sobol, Latin hypercube) are drawn in the cube and
        mapped here: log parameters spread in log space, a categorical gets one
        equal slot per value.
        """
        return self.prune({p.name: p.from_unit(x) for p, x in zip(self.params, u)})

    def size(self) -> int | None:
        """How many distinct configurations there are; None when a Float makes it
        infinite (or, for a conditional space, when it is too large to count)."""
        if self._size is False:
            self._size = self._count()
        return self._size

    def _count(self) -> int | None:
        if any(isinstance(p, Float) for p in self.params):
            return None
        product = math.prod(_count(p) for p in self.params)
        if not self.conditional:
            return product
        if product > _COUNT_MAX:
            return None
        return sum(1 for _ in self.iter_configs())

    def iter_configs(self) -> Iterator[dict]:
        """Every configuration of a finite space (see :meth:`size`), once each, in a fixed order."""
        if any(isinstance(p, Float) for p in self.params):
            raise ValueError("a space with a Float parameter has no finite list of configurations")
        seen: set[tuple] = set()
        for combo in itertools.product(*(_values(p) for p in self.params)):
            config = self.prune(dict(zip(self.names, combo)))
            if self.conditional:
                key = self.key(config)
                if key in seen:
                    continue
                seen.add(key)
            yield config

    def contains(self, config: dict) -> bool:
        """True when ``config`` has exactly the parameters active in it, each within bounds."""
        if not set(config) <= set(self.by_name):
            return False
        if not all(self.by_name[k].contains(v) for k, v in config.items()):
            return False
        return set(config) == set(self.active_names(config))

    def key(self, config: dict) -> tuple:
        """A hashable identity for a configuration (used to refuse duplicates)."""
        return tuple(json_key(config[n]) if n in config else INACTIVE for n in self.names)
