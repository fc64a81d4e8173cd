"""Search specs: parse YAML/JSON or a dict, validate, and normalise.

The same schema serves the CLI, the web API and the Python API. Validation
collects every problem as ``(field, message)`` and raises one
:class:`~hpsearch.exceptions.SpecError`; nothing is written before a spec is
valid. Example::

    name: cnn-digits
    trainable: cnn
    dataset: digits
    metric: val_accuracy
    mode: max
    space:
      lr: {loguniform: [1.0e-4, 1.0e-1]}
      optimizer: {choice: [adam, adagrad, adadelta]}
      batch_size: {grid: [32, 64]}
    fixed: {epochs: 5}
    searcher: {type: random}
    scheduler: {type: asha, grace_period: 1}
    budget: {trials: 12, max_concurrent: 2}
    resources: {cpu: 1, gpu: 0}
    seed: 0
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import searchers
import trainables
from hpsearch import schedulers
from hpsearch.data_roots import looks_like_path, resolve_dataset
from hpsearch.exceptions import SpecError
from hpsearch.limits import MAX_SPEC_BYTES, name_problem
from hpsearch.space import Space

# Caps that keep one spec from exhausting the service (security and sanity).
MAX_TRIALS = 100_000
MAX_GRID = 10_000
MAX_PARAMS = 64
MAX_OBJECTIVES = 8
MAX_CONSTRAINTS = 32
NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Budget(_Strict):
    trials: int = Field(gt=0, le=MAX_TRIALS)
    max_concurrent: int = Field(default=1, gt=0, le=1024)
    max_failures: int = Field(default=0, ge=0, le=100)
    time_limit_s: float | None = Field(default=None, gt=0)

    @field_validator("time_limit_s", mode="before")
    @classmethod
    def _int_ok(cls, v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


class Resources(_Strict):
    cpu: float = Field(default=1.0, gt=0, le=1024)
    gpu: float = Field(default=0.0, ge=0, le=64)
    custom: dict[str, float] = Field(default_factory=dict)

    @field_validator("cpu", "gpu", mode="before")
    @classmethod
    def _int_ok(cls, v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


class Plugin(BaseModel):
    """``{type: NAME, option: value, ...}``; options are checked by the plug-in."""

    model_config = ConfigDict(extra="allow", strict=True)
    type: str

    def options(self) -> dict:
        return dict(self.model_extra or {})


class ObjectiveSpec(_Strict):
    """One of several objectives; ``reference`` is its hypervolume reference value."""

    metric: str = Field(min_length=1, max_length=100)
    mode: Literal["min", "max"]
    reference: float | None = None

    @field_validator("reference", mode="before")
    @classmethod
    def _int_ok(cls, v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


class InitFrom(_Strict):
    """``init_from``: start every trial from a finished trial's weights (cold start).

    ``trial``: ``best`` or a number. ``reset_head``: a fresh output layer (new classes).
    ``freeze``: layer groups kept fixed while fine-tuning (per family: docs/models.md).
    """

    study: str | int
    trial: int | Literal["best"] = "best"
    reset_head: bool = False
    freeze: list[str] = Field(default_factory=list, max_length=16)


class Spec(_Strict):
    name: str
    trainable: str
    dataset: str | None = None
    metric: str | None = None
    mode: Literal["min", "max"] | None = None
    # Several objectives (the first is the primary: metric/mode follow it) and
    # constraints such as "latency_ms <= 5"; see hpsearch/pareto.py.
    objectives: list[ObjectiveSpec] | None = Field(default=None, min_length=1, max_length=MAX_OBJECTIVES)
    constraints: list[str] = Field(default_factory=list, max_length=MAX_CONSTRAINTS)
    space: dict[str, Any]
    fixed: dict[str, Any] = Field(default_factory=dict)
    searcher: Plugin = Field(default_factory=lambda: Plugin(type="random"))
    scheduler: Plugin = Field(default_factory=lambda: Plugin(type="fifo"))
    budget: Budget
    resources: Resources = Field(default_factory=Resources)
    seed: int = 0
    warm_start: list[str] = Field(default_factory=list)
    init_from: InitFrom | None = None
    description: str = Field(default="", max_length=10_000)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v) or not v.strip():
            raise ValueError("must be 1-200 printable characters")
        problem = name_problem(v)  # bidi controls, zero-width characters: look-alike names
        if problem:
            raise ValueError(problem)
        return v

    # -- derived views -------------------------------------------------------
    @property
    def search_space(self) -> Space:
        return Space.from_spec(self.space)

    def to_dict(self) -> dict:
        """The normalised spec as plain JSON-safe data (defaults filled in)."""
        d = self.model_dump(mode="json")
        d["searcher"] = {"type": self.searcher.type, **self.searcher.options()}
        d["scheduler"] = {"type": self.scheduler.type, **self.scheduler.options()}
        if d["objectives"] is None:  # a single-objective spec reads (and hashes) as before
            del d["objectives"]
        if not d["constraints"]:
            del d["constraints"]
        if d["init_from"] is None:  # likewise a spec without cold start
            del d["init_from"]
        return d

    @property
    def is_multiobjective(self) -> bool:
        return bool(self.objectives) and len(self.objectives) > 1

    def objective_list(self):
        """Every objective as :class:`hpsearch.pareto.Objectives` (one for a metric/mode spec)."""
        from hpsearch.pareto import Objectives

        return Objectives.of_spec(self.to_dict())

    def constraint_list(self):
        from hpsearch.pareto import Constraint

        return [Constraint.parse(c) for c in self.constraints]

    def fingerprint(self) -> str:
        """A hash of everything that defines the search (used to refuse a changed resume)."""
        d = self.to_dict()
        d.pop("description", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def load(source: str | Path | dict, *, allow_import: bool = True,
         check_data: bool = True) -> Spec:
    """Parse and validate a spec from a dict, a YAML/JSON file path, or YAML/JSON text.

    ``allow_import`` permits ``module:function`` trainables (local runs only).
    Raises :class:`SpecError` listing every problem found.
    """
    raw = _read(source)
    return validate(raw, allow_import=allow_import, check_data=check_data)


def _read(source: str | Path | dict) -> dict:
    if isinstance(source, dict):
        return source
    text: str
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                    and source.strip().endswith((".yaml", ".yml", ".json"))):
        path = Path(source)
        if not path.is_file():
            raise SpecError(f"file not found: {str(path)!r}", "spec")
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise SpecError(f"larger than {MAX_SPEC_BYTES} bytes", "spec")
        text = path.read_text(encoding="utf-8", errors="replace")
    else:
        text = str(source)
    return parse_text(text)


def parse_text(text: str) -> dict:
    """YAML (a superset of JSON) through the safe loader only: no Python tags."""
    if len(text.encode("utf-8", errors="replace")) > MAX_SPEC_BYTES:
        raise SpecError(f"larger than {MAX_SPEC_BYTES} bytes", "spec")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"not valid YAML/JSON{where}: {problem}", "spec") from None
    if not isinstance(data, dict):
        raise SpecError(f"must be a mapping of fields, got {type(data).__name__}", "spec")
    return data


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _loc(loc: tuple) -> str:
    """A field's path as users write it (``budget.trials``, ``space.lr``); a key that is
    blank or holds dots, spaces or other odd characters is quoted (``space.['a b']``)."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(str(part)):
            out += f".[{str(part)!r}]" if out else f"[{str(part)!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "spec"


def _pydantic_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not str(p).startswith("function-"))
        field = _loc(loc)
        if err["type"] == "extra_forbidden":
            problems.append((field, "unknown field"))
        elif err["type"] == "missing":
            problems.append((field, "required field is missing"))
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problems.append((field, f"{msg}, got {err.get('input')!r}"))
    return problems


def validate(raw: dict, *, allow_import: bool = True, check_data: bool = True) -> Spec:
    """Validate a spec dict; fill defaults from the trainable. See :func:`load`."""
    if not isinstance(raw, dict):
        raise SpecError(f"must be a mapping of fields, got {type(raw).__name__}", "spec")
    bad = _non_finite(raw)
    if bad:  # NaN/Infinity are not JSON: PostgreSQL would refuse the study's row
        raise SpecError([(field, f"must be a finite number, got {value!r}") for field, value in bad])
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_pydantic_problems(exc)) from None
    problems: list[tuple[str, str]] = []

    def check(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SpecError as exc:
            problems.extend(exc.problems)
            return None

    data_ok = True
    if not allow_import and spec.dataset is not None and looks_like_path(spec.dataset):
        # A spec from the network: a file it names must lie inside the data roots.
        resolved = check(resolve_dataset, spec.dataset)
        data_ok = resolved is not None
        spec.dataset = resolved or spec.dataset
    space = check(Space.from_spec, spec.space)
    if space is not None:
        if len(space.params) > MAX_PARAMS:
            problems.append(("space", f"at most {MAX_PARAMS} parameters, got {len(space.params)}"))
        if space.grid_size() > MAX_GRID:
            problems.append(("space", f"the grid has {space.grid_size()} points; the cap is {MAX_GRID}"))
        clash = sorted(set(space.names) & (set(spec.fixed) | set(trainables.RESERVED_KEYS)))
        if clash:
            problems.append((f"space.{clash[0]}", "also set in fixed or reserved"))
    for key in sorted(set(spec.fixed) & set(trainables.RESERVED_KEYS)):
        where = "under init_from" if key in ("init_checkpoint", "reset_head", "freeze") else "at the top level"
        problems.append((f"fixed.{key}", f"{key!r} is reserved; set it {where}"))
    for key, value in spec.fixed.items():
        if key == "distill_from" and isinstance(value, dict):
            continue  # {study, trial}: checked against the store by hpsearch.teachers
        if not _json_scalar_or_list(value):
            problems.append((f"fixed.{key}", f"must be a number, string, boolean or list, got {value!r}"))

    if spec.objectives:
        first = spec.objectives[0]
        if spec.metric is not None and spec.metric != first.metric:
            problems.append(("metric", f"with objectives, metric is the first objective's "
                                       f"({first.metric!r}) or left out, got {spec.metric!r}"))
        if spec.mode is not None and spec.metric == first.metric and spec.mode != first.mode:
            problems.append(("mode", f"objectives[0] says {first.mode!r}, got {spec.mode!r}"))
        spec.metric, spec.mode = first.metric, first.mode
        seen: set[str] = set()
        for i, o in enumerate(spec.objectives):
            if o.metric in seen:
                problems.append((f"objectives[{i}].metric", f"{o.metric!r} is already an objective"))
            seen.add(o.metric)
    constraints = []
    for i, text in enumerate(spec.constraints):
        parsed = check(_parse_constraint, text, f"constraints[{i}]")
        if parsed is not None:
            constraints.append((i, parsed))

    info = check(trainables.get_trainable, spec.trainable, allow_import=allow_import) \
        if spec.trainable else None
    if info is not None and info.metrics:
        for i, o in enumerate(spec.objectives or []):
            if i and o.metric not in info.metrics:  # the first is checked as metric below
                problems.append((f"objectives[{i}].metric",
                                 f"{spec.trainable!r} never reports {o.metric!r}; "
                                 f"it reports: {', '.join(info.metrics)}"))
        for i, c in constraints:
            if c.metric not in info.metrics:
                problems.append((f"constraints[{i}]", f"{spec.trainable!r} never reports "
                                                      f"{c.metric!r}; it reports: {', '.join(info.metrics)}"))
    if info is not None:
        if spec.metric is None:
            if info.default_metric is None:
                problems.append(("metric", "required field is missing"))
            spec.metric = info.default_metric
        elif info.metrics and spec.metric not in info.metrics:
            problems.append(("metric", f"{spec.trainable!r} never reports {spec.metric!r}; "
                                       f"it reports: {', '.join(info.metrics)}"))
        if spec.mode is None:
            spec.mode = info.default_mode if spec.metric == info.default_metric else None
        if spec.dataset is None:
            spec.dataset = info.default_dataset
        if info.hyperparameters and space is not None:
            for key in list(space.names) + list(spec.fixed):
                if key not in info.hyperparameters:
                    problems.append((f"space.{key}" if key in space.by_name else f"fixed.{key}",
                                     f"{spec.trainable!r} has no hyperparameter {key!r}; "
                                     f"valid: {', '.join(info.hyperparameters)}"))
        if check_data and data_ok and spec.dataset is not None and info.datasets is not None:
            check(_check_dataset, info, spec)
    if spec.mode is None and spec.metric is not None:
        problems.append(("mode", "required field is missing (min or max)"))

    if check(searchers.check_name, spec.searcher.type):
        check(searchers.check_options, spec.searcher.type, spec.searcher.options())
        if spec.searcher.type == "grid" and space is not None and not space.grid_params:
            problems.append(("space", "the grid searcher needs at least one {grid: [...]} parameter"))
    check(schedulers.check, spec.scheduler.type, spec.scheduler.options())
    if spec.init_from is not None and info is not None and space is not None:
        from hpsearch.cold_start import check_spec

        problems.extend(check_spec(spec, space.names))
    if len(spec.warm_start) > 100:
        problems.append(("warm_start", f"at most 100 studies, got {len(spec.warm_start)}"))
    if problems:
        raise SpecError(problems)
    return spec


def _parse_constraint(text: str, field: str):
    from hpsearch.pareto import Constraint

    return Constraint.parse(text, field)


def _check_dataset(info, spec: Spec) -> None:
    checker = getattr(__import__("trainables._data", fromlist=["check_dataset"]), "check_dataset", None) \
        if info.name in trainables.BUILTIN else None
    if checker is not None:
        checker(info.name, spec.dataset, {**spec.fixed})


def _non_finite(value: Any, path: str = "") -> list[tuple[str, float]]:
    """(field, value) of every NaN or infinite float in a raw spec."""
    if isinstance(value, float) and not math.isfinite(value):
        return [(path or "spec", value)]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{path}[{i}]")]
    return []


def _json_scalar_or_list(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, list):
        return all(_json_scalar_or_list(v) for v in value)
    return False


def dump_yaml(spec: Spec | dict) -> str:
    data = spec.to_dict() if isinstance(spec, Spec) else spec
    return yaml.safe_dump(data, sort_keys=False)
