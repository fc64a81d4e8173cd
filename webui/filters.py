"""Trial filters on parameter and metric values, parsed from the query string and applied in SQL.

    ?param.lr.min=0.001&param.lr.max=0.1      a range (numeric parameters)
    ?param.optimizer=adam&param.optimizer=sgd  one of these values (choice/grid parameters)
    ?metric.model_kb.max=200                   a range on any objective or reported metric
    ?where=model_kb<=200,val_accuracy>0.9      the same as conditions (<=, <, >=, >; repeat
                                               or comma-separate), as constraints are written

A metric's value is the trial's final value of it: ``trials.values`` (objectives and
constrained metrics) when it holds one, else the metric of the trial's last result. A
trial without the metric matches no condition on it.

Params are a JSON column: SQLAlchemy's JSON index operators render
``JSON_EXTRACT(params, '$."lr"')`` on SQLite and ``params ->> 'lr'`` on
PostgreSQL, so the same filter runs in the database on both.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from hpsearch.exceptions import SpecError
from hpsearch.pareto import Constraint, Objectives
from hpsearch.space import Categorical, Space, condition_text
from hpsearch.store.models import Result, Study, Trial
from webui.errors import BadParam

PREFIX = "param."
METRIC = "metric."
WHERE = "where"


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


# -- metrics ---------------------------------------------------------------------------------
def wants_metrics(args) -> bool:
    """Whether the query filters on a metric (so the known metrics must be read)."""
    return any(k.startswith(METRIC) or k == WHERE for k in args)


def spec_metrics(study: Study) -> list[str]:
    """The objectives and constrained metrics the study's spec names."""
    spec = study.spec or {}
    try:
        names = Objectives.of_spec(spec).metrics
    except SpecError:
        names = [study.metric]
    for text in spec.get("constraints") or []:
        try:
            names.append(Constraint.parse(text).metric)
        except SpecError:
            pass
    return list(dict.fromkeys(names))


def parse_metrics(study: Study, args, known: list[str]) -> dict[str, dict]:
    """``{metric: {"min": x, "max": y, "gt": x, "lt": y}}`` from ``metric.NAME.min|max`` and
    ``where=NAME OP NUMBER`` (each bound inclusive unless written with < or >). ``known``:
    the metrics a filter may name (objectives and every reported metric). BadParam names the
    argument and its value."""
    known_set = set(known)
    out: dict[str, dict] = {}

    def unknown(arg: str, name: str) -> BadParam:
        return BadParam(f"{arg}: unknown metric {name!r}; metrics: {', '.join(known) or 'none'}")

    def put(arg: str, name: str, bound: str, value: float) -> None:
        entry = out.setdefault(name, {})
        if bound in entry:
            raise BadParam(f"{arg}: {name!r} already has a {_WORDS[bound]} bound; give it once")
        entry[bound] = value

    for key in args:
        if not key.startswith(METRIC):
            continue
        values = [v for v in args.getlist(key) if v != ""]
        if not values:
            continue
        name, _, bound = key[len(METRIC):].rpartition(".")
        if bound not in ("min", "max") or not name:
            raise BadParam(f"{key}: filter a metric with {METRIC}NAME.min or {METRIC}NAME.max")
        if name not in known_set:
            raise unknown(key, name)
        if len(values) > 1:
            raise BadParam(f"{key} is given {len(values)} times; give it once")
        put(key, name, bound, _number(key, values[0]))
    for raw in args.getlist(WHERE):
        for text in (t.strip() for t in raw.split(",")):
            if not text:
                continue
            try:
                c = Constraint.parse(text, WHERE)
            except SpecError as exc:
                raise BadParam(f"{WHERE}: {exc.problems[0][1]}") from None
            if c.metric not in known_set:
                raise unknown(f"{WHERE}={text}", c.metric)
            put(f"{WHERE}={text}", c.metric, _BOUND[c.op], c.bound)
    for name, e in out.items():
        lows = [(e[k], k) for k in ("min", "gt") if k in e]
        highs = [(e[k], k) for k in ("max", "lt") if k in e]
        if lows and highs:
            # On a tie the strict bound is the binding one.
            lo, lk = max(lows, key=lambda b: (b[0], b[1] == "gt"))
            hi, hk = min(highs, key=lambda b: (b[0], b[1] != "lt"))
            if lo > hi or (lo == hi and (lk, hk) != ("min", "max")):
                raise BadParam(f"{name}: no value is {_WORDS[lk]} {lo:g} and {_WORDS[hk]} {hi:g}")
    return out


_BOUND = {"<=": "max", "<": "lt", ">=": "min", ">": "gt"}
_WORDS = {"min": ">=", "max": "<=", "gt": ">", "lt": "<"}


def metric_value(name: str):
    """SQL for a trial's final value of metric ``name`` (None when it has none)."""
    last = (select(Result.metrics[name].as_float()).where(Result.trial_id == Trial.id)
            .order_by(Result.iteration.desc()).limit(1).correlate(Trial).scalar_subquery())
    return func.coalesce(Trial.values[name].as_float(), last)


def metric_clauses(filters: dict[str, dict]) -> list:
    out = []
    for name, entry in filters.items():
        col = metric_value(name)
        for bound, value in entry.items():
            out.append({"min": col >= value, "max": col <= value, "gt": col > value,
                        "lt": col < value}[bound])
    return out
