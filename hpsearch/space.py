"""The search-space model: typed parameters with bounds, sampling and checks.

A spec's ``space`` section maps each parameter name to one distribution::

    lr:         {loguniform: [1.0e-4, 1.0e-1]}
    dropout:    {uniform: [0.0, 0.5]}
    channels:   {int: [8, 64]}
    hidden:     {logint: [16, 512]}
    optimizer:  {choice: [adam, adagrad, adadelta]}
    batch_size: {grid: [32, 64]}

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


@dataclass(frozen=True)
class Float:
    name: str
    low: float
    high: float
    log: bool = False

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
    """Build one parameter from its spec entry, raising :class:`SpecError`."""
    field = f"space.{name}"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise SpecError(f"must be a mapping with exactly one of {', '.join(KINDS)}; got {raw!r}", field)
    (kind, args), = raw.items()
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
        return Categorical(name, tuple(args), grid=kind == "grid")
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
        return Int(name, int(low), int(high), log)
    if low == high:
        raise SpecError(f"low must be below high, got [{low!r}, {high!r}]", field)
    return Float(name, float(low), float(high), log)


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
        if problems:
            raise SpecError(problems)
        return cls(params)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

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
        return {p.name: p.sample(rng) for p in self.params}

    def from_unit(self, u: Sequence[float]) -> dict:
        """The configuration at a point of the unit cube (one coordinate per parameter).

        Space-filling designs (Sobol, Latin hypercube) are drawn in the cube and
        mapped here: log parameters spread in log space, a categorical gets one
        equal slot per value.
        """
        return {p.name: p.from_unit(x) for p, x in zip(self.params, u)}

    def size(self) -> int | None:
        """How many distinct configurations there are; None when a Float makes it infinite."""
        if any(isinstance(p, Float) for p in self.params):
            return None
        return math.prod(_count(p) for p in self.params)

    def iter_configs(self) -> Iterator[dict]:
        """Every configuration of a finite space (see :meth:`size`), in a fixed order."""
        if self.size() is None:
            raise ValueError("a space with a Float parameter has no finite list of configurations")
        for combo in itertools.product(*(_values(p) for p in self.params)):
            yield dict(zip(self.names, combo))

    def contains(self, config: dict) -> bool:
        """True when ``config`` has exactly this space's names, each within bounds."""
        return set(config) == set(self.by_name) and all(
            self.by_name[k].contains(v) for k, v in config.items())

    def key(self, config: dict) -> tuple:
        """A hashable identity for a configuration (used to refuse duplicates)."""
        return tuple(json_key(config.get(n)) for n in self.names)
