"""Trial filters on parameter values, parsed from the query string and applied in SQL.

    ?param.lr.min=0.001&param.lr.max=0.1      a range (numeric parameters)
    ?param.optimizer=adam&param.optimizer=sgd  one of these values (choice/grid parameters)

Params are a JSON column: SQLAlchemy's JSON index operators render
``JSON_EXTRACT(params, '$."lr"')`` on SQLite and ``params ->> 'lr'`` on
PostgreSQL, so the same filter runs in the database on both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hpsearch.exceptions import SpecError
from hpsearch.space import Categorical, Space, condition_text
from hpsearch.store.models import Study, Trial
from webui.errors import BadParam

PREFIX = "param."


@dataclass
class ParamInfo:
    """What the filter form needs to know about one parameter."""

    name: str
    kind: str                 # "range" (float/int) or "choice"
    log: bool = False
    low: float | None = None
    high: float | None = None
    choices: list[Any] = field(default_factory=list)
    when: str = ""            # a conditional parameter: "only when kernel is rbf" (else "")

    @property
    def numeric(self) -> bool:
        return self.kind == "range" or (bool(self.choices) and all(_is_number(c) for c in self.choices))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def params_of(study: Study) -> dict[str, ParamInfo]:
    """The study's parameters from its spec's space (empty if the spec no longer parses)."""
    try:
        space = Space.from_spec((study.spec or {}).get("space") or {})
    except SpecError:
        return {}
    out = {}
    for p in space.params:
        if isinstance(p, Categorical):
            out[p.name] = ParamInfo(p.name, "choice", choices=list(p.values), when=condition_text(p))
        else:
            out[p.name] = ParamInfo(p.name, "range", log=p.log, low=p.low, high=p.high,
                                    when=condition_text(p))
    return out


def _number(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadParam(f"{key} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise BadParam(f"{key} must be a finite number, got {raw!r}")
    return value


def _split(key: str, names: dict[str, ParamInfo]) -> tuple[str, str | None]:
    rest = key[len(PREFIX):]
    if rest in names:
        return rest, None
    base, _, bound = rest.rpartition(".")
    if bound in ("min", "max") and base in names:
        return base, bound
    known = ", ".join(names) or "none"
    raise BadParam(f"{key}: unknown parameter {(base if bound in ('min', 'max') else rest)!r}; "
                   f"parameters: {known}")


def parse(study: Study, args) -> dict[str, dict]:
    """``{name: {"min": x, "max": y, "in": [values]}}`` from the ``param.*`` arguments.

    Raises BadParam naming the argument for an unknown parameter, a value that is
    not a number, a bound above the other, or a choice the parameter lacks.
    """
    names = params_of(study)
    out: dict[str, dict] = {}
    for key in args:
        if not key.startswith(PREFIX):
            continue
        values = [v for v in args.getlist(key) if v != ""]
        if not values:
            continue
        name, bound = _split(key, names)
        info = names[name]
        entry = out.setdefault(name, {})
        if bound is not None:
            if not info.numeric:
                raise BadParam(f"{key}: {name!r} is a choice of {_fmt(info.choices)}; "
                               f"filter it with {PREFIX}{name}=VALUE")
            if len(values) > 1:
                raise BadParam(f"{key} is given {len(values)} times; give it once")
            entry[bound] = _number(key, values[0])
            continue
        if info.kind == "range":
            raise BadParam(f"{key}: {name!r} is a range parameter; filter it with "
                           f"{PREFIX}{name}.min and {PREFIX}{name}.max")
        kinds = {type(c) for c in info.choices if c is not None}
        if len(kinds - {int, float}) > 0 and len(kinds) > 1:
            raise BadParam(f"{key}: {name!r} mixes value types ({_fmt(info.choices)}); "
                           "it cannot be filtered")
        by_text = {str(c): c for c in info.choices}
        by_text.update({str(c).lower(): c for c in info.choices if isinstance(c, bool)})
        picked = []
        for v in values:
            if v not in by_text:
                raise BadParam(f"{key} must be one of {_fmt(info.choices)}, got {v!r}")
            picked.append(by_text[v])
        entry["in"] = picked
    for name, entry in out.items():
        if "min" in entry and "max" in entry and entry["min"] > entry["max"]:
            raise BadParam(f"{PREFIX}{name}.min ({entry['min']:g}) is above "
                           f"{PREFIX}{name}.max ({entry['max']:g})")
    return out


def _fmt(values) -> str:
    return ", ".join(str(v) for v in values)


def clauses(filters: dict[str, dict]) -> list:
    """SQL conditions on Trial.params for parsed filters (both SQLite and PostgreSQL)."""
    out = []
    for name, entry in filters.items():
        col = Trial.params[name]
        if "min" in entry:
            out.append(col.as_float() >= entry["min"])
        if "max" in entry:
            out.append(col.as_float() <= entry["max"])
        if "in" in entry:
            values = [v for v in entry["in"] if v is not None]
            if all(isinstance(v, bool) for v in values):
                out.append(col.as_boolean().in_(values))
            elif all(_is_number(v) for v in values):
                out.append(col.as_float().in_([float(v) for v in values]))
            else:
                out.append(col.as_string().in_([str(v) for v in values]))
    return out
