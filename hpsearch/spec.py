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
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import searchers
import trainables
from hpsearch import schedulers
from hpsearch.data_roots import looks_like_path, resolve_dataset
from hpsearch.exceptions import SpecError
from hpsearch.limits import MAX_SPEC_BYTES, name_problem
from hpsearch.options import MAX_TRIALS, field_path, problems_of, unknown_name
from hpsearch.settings import settings
from hpsearch.space import Categorical, Float, Space

# Caps that keep one spec from exhausting the service (security and sanity).
MAX_GRID = 10_000
MAX_PARAMS = 64
MAX_OBJECTIVES = 8
MAX_CONSTRAINTS = 32
MAX_DEPTH = 16  # a spec is 4 levels deep; anything much deeper is an attack or a mistake
MAX_NODES = 20_000
MAX_INT = 2**63 - 1  # what the databases store; larger numbers are refused at parsing
MIN_PRIORITY, MAX_PRIORITY = -100, 100  # a study's claim priority in service mode
NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Budget(_Strict):
    trials: int = Field(gt=0, le=MAX_TRIALS)
    max_concurrent: int = Field(default=1, gt=0, le=1024)
    max_failures: int = Field(default=0, ge=0, le=100)
    time_limit_s: float | None = Field(default=None, gt=0, le=366 * 24 * 3600)

    @field_validator("time_limit_s", mode="before")
    @classmethod
    def _int_ok(cls, v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v


TRIAL_DRIVER_MEMORY = 64 * 2**20  # bytes: what a data-parallel trial's own process asks Ray for
MAX_WORKERS = 64  # data-parallel workers per trial (resources.workers)
GPU_MEMORY_RESOURCE = "gpu_memory_gb"  # the Ray custom resource nodes declare (docs/deployment.md)
RAY_BUILTIN_RESOURCES = frozenset({"CPU", "GPU", "TPU", "memory", "object_store_memory",
                                   "cpu", "gpu"})
CUSTOM_RESOURCE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]{0,63}$")
MAX_CUSTOM_RESOURCES = 16


class Resources(_Strict):
    """Ray resource requests per trial. ``gpu_memory_gb``: the GPU memory a trial needs,
    requested as the ``gpu_memory_gb`` custom resource (so trials pack by declared
    memory) and the cap the trial sets on its own CUDA allocator.

    ``workers``: with N > 1 each trial trains data-parallel on N Ray Train workers
    (hpsearch/ddp.py), and ``cpu``, ``gpu``, ``gpu_memory_gb`` and ``custom`` are what
    *each worker* gets; the trial's own process then asks Ray for nothing.
    """

    workers: int = Field(default=1, ge=1, le=MAX_WORKERS)
    cpu: float = Field(default=1.0, gt=0, le=1024)
    gpu: float = Field(default=0.0, ge=0, le=64)
    gpu_memory_gb: float = Field(default=0.0, ge=0, le=8192)
    custom: dict[str, float] = Field(default_factory=dict)

    @field_validator("cpu", "gpu", "gpu_memory_gb", mode="before")
    @classmethod
    def _int_ok(cls, v: Any) -> Any:
        return float(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("custom")
    @classmethod
    def _custom(cls, v: dict) -> dict:
        """Custom resources a trial needs on its node (a GPU model, ``A100: 1``): names a node
        can declare with ``ray start --resources``, amounts as Ray takes them (whole numbers,
        or a fraction of one). Every problem named at once."""
        problems = []
        if len(v) > MAX_CUSTOM_RESOURCES:
            problems.append(f"at most {MAX_CUSTOM_RESOURCES} custom resources, got {len(v)}")
        for name, amount in v.items():
            if name == GPU_MEMORY_RESOURCE:
                problems.append(f"declare GPU memory as resources.{GPU_MEMORY_RESOURCE}, not in custom")
            elif name in RAY_BUILTIN_RESOURCES or name.startswith(("node:", "accelerator_type:")):
                problems.append(f"{name!r} is one of Ray's own resources (use resources.cpu / "
                                "gpu, or a name of your own)")
            elif not CUSTOM_RESOURCE_RE.match(name):
                problems.append(f"{name!r} is not a resource name (letters, digits, _ . - / "
                                "up to 64, starting with a letter or _)")
            if not (amount > 0) or amount > 10_000 or (amount > 1 and amount != int(amount)):
                problems.append(f"{name}: {amount!r} is not an amount Ray can give (more than 0: "
                                "a whole number up to 10000, or a fraction of 1)")
        if problems:
            raise ValueError("; ".join(problems))
        return v

    def ray_request(self) -> dict[str, float]:
        """What Ray Tune is asked for per trial (``gpu_memory_gb`` only when declared).
        A data-parallel trial's process only waits for its workers: it asks for no CPU
        or GPU (a token of memory: Ray refuses an empty request), and its workers ask
        for :meth:`per_worker` each (through Ray Train)."""
        if self.workers > 1:
            return {"cpu": 0, "gpu": 0, "memory": TRIAL_DRIVER_MEMORY}
        return self.per_worker()

    def per_worker(self) -> dict[str, float]:
        """One worker's (or a one-process trial's) resources, in Ray Tune's spelling."""
        out = {"cpu": self.cpu, "gpu": self.gpu, **self.custom}
        if self.gpu_memory_gb:
            out[GPU_MEMORY_RESOURCE] = self.gpu_memory_gb
        return out


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


class OnOOM(_Strict):
    """``on_oom``: run a trial that runs out of GPU memory again with ``halve`` halved
    (an integer hyperparameter, ``batch_size`` by default), at most ``retries`` times."""

    halve: str = Field(default="batch_size", min_length=1, max_length=100)
    retries: int = Field(default=2, ge=1, le=8)


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
    space: Any  # checked by Space.from_spec, which names each parameter's problem
    fixed: dict[str, Any] = Field(default_factory=dict)
    searcher: Plugin = Field(default_factory=lambda: Plugin(type="random"))
    scheduler: Plugin = Field(default_factory=lambda: Plugin(type="fifo"))
    budget: Budget
    resources: Resources = Field(default_factory=Resources)
    # Service mode: dispatchers claim higher priorities first (hpsearch/dispatcher.py, the
    # claim order); equal priorities share by owner, then first come first served.
    priority: int = Field(default=0, ge=MIN_PRIORITY, le=MAX_PRIORITY)
    seed: int = Field(0, ge=0, le=2**32 - 1)
    # Earlier studies whose trials the searcher is told first, or "auto" (hpsearch/warm_start.py).
    warm_start: list[Annotated[str, Field(min_length=1, max_length=200)]] | Literal["auto"] = Field(
        default_factory=list, max_length=100)
    init_from: InitFrom | None = None
    on_oom: OnOOM | None = None  # hpsearch/oom.py; "fail" (None) lets the error fail the trial
    description: str = Field(default="", max_length=10_000)

    @field_validator("on_oom", mode="before")
    @classmethod
    def _oom_fail(cls, v: Any) -> Any:
        if v == "fail":
            return None
        if not isinstance(v, dict):
            raise ValueError(f"must be 'fail' or {{halve: NAME, retries: N}}, got {v!r}")
        return v

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
    def warm_start_names(self) -> list[str]:
        """The studies named in ``warm_start`` (none for ``auto``: those are picked at start)."""
        return [] if self.warm_start == "auto" else list(self.warm_start)

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
        if not d["resources"]["gpu_memory_gb"]:  # undeclared: a spec reads (and hashes) as before
            del d["resources"]["gpu_memory_gb"]
        if d["resources"]["workers"] == 1:  # likewise a one-process trial
            del d["resources"]["workers"]
        if d["on_oom"] is None:  # "fail", the default: a spec without it reads (and hashes) as before
            del d["on_oom"]
        if not d["priority"]:  # the default: a spec without it reads (and hashes) as before
            del d["priority"]
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
        d.pop("priority", None)  # the claim order, not the search: a resume may change it
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


class _Loader(yaml.SafeLoader):
    """The safe loader (no Python tags) that also refuses anchors and aliases (a few
    bytes of ``&a [*a, *a, ...]`` expand to gigabytes) and nesting deeper than
    :data:`MAX_DEPTH`, before any node is built."""

    _depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (&name, *name) are not allowed in a spec",
                event.start_mark)
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


# YAML 1.2's (and JSON's) floats: PyYAML follows YAML 1.1, where a float needs a dot, so
# ``1e-4`` (a learning rate as most people write it, and as JSON writes it) would be read
# as the text '1e-4' and refused. The 1.1 forms (``1.5``, ``.inf``, ``1_000.0``) still read.
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"""^(?:
     [-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+
    |[-+]?\.[0-9_]+[eE][-+]?[0-9]+)$""", re.X), list("-+0123456789."))


TWICE = "a spec names each field once"


def parse_text(text: str) -> dict:
    """YAML (a superset of JSON) through the safe loader only: no Python tags, no aliases,
    and no field given twice (a parser would silently keep the last)."""
    if len(text.encode("utf-8", errors="replace")) > MAX_SPEC_BYTES:
        raise SpecError(f"larger than {MAX_SPEC_BYTES} bytes", "spec")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        twice = _repeated_keys(node)
        data = None if node is None or twice else loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"not valid YAML/JSON{where}: {problem}", "spec") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. a 5,000-digit number
        raise SpecError(f"not valid YAML/JSON: {str(exc).splitlines()[0][:200]}", "spec") from None
    finally:
        loader.dispose()
    if twice:
        raise SpecError(twice)
    if not isinstance(data, dict):
        raise SpecError(f"must be a mapping of fields, got {type(data).__name__}", "spec")
    return data


def _repeated_keys(node, path: str = "") -> list[tuple[str, str]]:
    """Each key of a mapping that appears in it again, with both lines (the composed nodes
    still know them). ``1`` and ``'1'`` differ: their tags do."""
    out: list[tuple[str, str]] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "?"
            here = f"{path}.{name}" if path else name
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if (key.tag, key.value) in first:
                    out.append((here, f"given twice (lines {first[key.tag, key.value]} and "
                                      f"{line}); {TWICE}"))
                first.setdefault((key.tag, key.value), line)
            out += _repeated_keys(value, here)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += _repeated_keys(item, f"{path}[{i}]")
    return out


def parse_json(text: str) -> Any:
    """JSON as ``json.loads`` reads it, except that a field given twice in an object is a
    problem (``SpecError``, every one at once) instead of the last one silently kept.
    Raises ValueError (or RecursionError) for text that is not JSON, as ``json.loads``."""
    twice: list[tuple[str, str]] = []
    data = _objects(json.loads(text, object_pairs_hook=_Pairs), "", twice)
    if twice:
        raise SpecError(twice)
    return data


class _Pairs(list):
    """A JSON object as read: its (key, value) pairs in their order, repeats kept."""


def _objects(value: Any, path: str, twice: list[tuple[str, str]]) -> Any:
    if isinstance(value, _Pairs):
        out: dict = {}
        for key, item in value:
            here = f"{path}.{key}" if path else key
            if key in out:
                twice.append((here, f"given twice; {TWICE}"))
            out[key] = _objects(item, here, twice)
        return out
    if isinstance(value, list):
        return [_objects(item, f"{path}[{i}]", twice) for i, item in enumerate(value)]
    return value


def validate(raw: dict, *, allow_import: bool = True, check_data: bool = True) -> Spec:
    """Validate a spec dict in one pass; fill defaults from the trainable. See :func:`load`.

    Every section is checked even when another is broken (the top-level fields,
    the space, the trainable and its hyperparameters, the searcher's and the
    scheduler's options, resources, warm start), and every problem is raised
    together in one :class:`SpecError`. Nothing here imports torch, Ray,
    scikit-optimize or DEAP: the options live in light schema modules.
    """
    if not isinstance(raw, dict):
        raise SpecError(f"must be a mapping of fields, got {type(raw).__name__}", "spec")
    shape = _shape_problem(raw)
    if shape:  # too deep or too large to look at field by field
        raise SpecError([shape])
    text = _bad_text(raw)
    if text:  # nothing past here (pydantic, the store, a terminal) can take such a string
        raise SpecError(text)
    problems: list[tuple[str, str]] = [
        (field, f"must be a finite number, got {value!r}") for field, value in _non_finite(raw)]
    try:
        spec: Spec | None = Spec.model_validate(raw)
    except ValidationError as exc:
        spec = None
        problems.extend(problems_of(exc, model=Spec))

    def check(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SpecError as exc:
            problems.extend(exc.problems)
            return None

    # The space, and what the fixed section may hold.
    space = check(Space.from_spec, raw["space"]) if "space" in raw else None
    if space is not None:
        if len(space.params) > MAX_PARAMS:
            problems.append(("space", f"at most {MAX_PARAMS} parameters, got {len(space.params)}"))
        if space.grid_size() > MAX_GRID:
            problems.append(("space", f"the grid has {space.grid_size()} points; the cap is {MAX_GRID}"))
    fixed = raw.get("fixed") if isinstance(raw.get("fixed"), dict) else {}
    clash = sorted(set(space.names if space else ()) & (set(fixed) | set(trainables.RESERVED_KEYS)))
    for key in clash:
        problems.append((field_path(("space", key)), "also set in fixed or reserved"))
    for key in sorted(set(fixed) & set(trainables.RESERVED_KEYS), key=str):
        where = "under init_from" if key in ("init_checkpoint", "reset_head", "freeze") else "at the top level"
        problems.append((field_path(("fixed", key)), f"{key!r} is reserved; set it {where}"))
    for key, value in fixed.items():
        if key == "distill_from" and isinstance(value, dict):
            continue  # {study, trial}: checked against the store by hpsearch.teachers
        if not _json_scalar_or_list(value):
            problems.append((field_path(("fixed", str(key))),
                             f"must be a number, string, boolean or list, got {value!r}"))

    # Objectives (the first is the primary: metric and mode follow it) and constraints.
    dataset, metric, mode = raw.get("dataset"), raw.get("metric"), raw.get("mode")
    constraints = []
    if spec is not None:
        if spec.objectives:
            first = spec.objectives[0]
            if metric is not None and metric != first.metric:
                problems.append(("metric", f"with objectives, metric is the first objective's "
                                           f"({first.metric!r}) or left out, got {metric!r}"))
            if mode is not None and metric == first.metric and mode != first.mode:
                problems.append(("mode", f"objectives[0] says {first.mode!r}, got {mode!r}"))
            metric, mode = first.metric, first.mode
            seen: set[str] = set()
            for i, o in enumerate(spec.objectives):
                if o.metric in seen:
                    problems.append((f"objectives[{i}].metric", f"{o.metric!r} is already an objective"))
                seen.add(o.metric)
        for i, text in enumerate(spec.constraints):
            parsed = check(_parse_constraint, text, f"constraints[{i}]")
            if parsed is not None:
                constraints.append((i, parsed))

    # The trainable: its metrics, its dataset, and its hyperparameters' schema.
    data_ok = isinstance(dataset, str) or dataset is None
    if data_ok and not allow_import and dataset is not None and looks_like_path(dataset):
        # A spec from the network: a file it names must lie inside the data roots.
        resolved = check(resolve_dataset, dataset)
        data_ok = resolved is not None
        dataset = resolved or dataset
    name = raw.get("trainable")
    info = check(trainables.describe, name, allow_import=allow_import) \
        if isinstance(name, str) and name else None
    if info is not None and info.metrics and spec is not None:
        for i, o in enumerate(spec.objectives or []):
            if i and o.metric not in info.metrics:  # the first is checked as metric below
                problems.append((f"objectives[{i}].metric",
                                 f"{name!r} never reports {o.metric!r}; "
                                 f"it reports: {', '.join(info.metrics)}"))
        for i, c in constraints:
            if c.metric not in info.metrics:
                problems.append((f"constraints[{i}]", f"{name!r} never reports "
                                                      f"{c.metric!r}; it reports: {', '.join(info.metrics)}"))
    if info is not None:
        if metric is None:
            if info.default_metric is None:
                problems.append(("metric", "required field is missing"))
            metric = info.default_metric
        elif isinstance(metric, str) and info.metrics and metric not in info.metrics:
            problems.append(("metric", f"{name!r} never reports {metric!r}; "
                                       f"it reports: {', '.join(info.metrics)}"))
        if mode is None and metric == info.default_metric:
            mode = info.default_mode
        if dataset is None:
            dataset = info.default_dataset
        problems.extend(_family_problems(info, space, raw.get("space"), fixed))
        on_oom = raw.get("on_oom")
        if isinstance(on_oom, dict) and isinstance(on_oom.get("halve", "batch_size"), str):
            problems.extend(_oom_problems(info, on_oom.get("halve", "batch_size")))
        if check_data and data_ok and dataset is not None and info.datasets:
            check(_check_dataset, info, dataset, fixed)
    if mode is None and isinstance(metric, str):
        problems.append(("mode", "required field is missing (min or max)"))

    # The searcher's and the scheduler's options, each against its schema.
    plugin = raw.get("searcher", {"type": "random"})
    if isinstance(plugin, dict) and isinstance(plugin.get("type"), str):
        if check(searchers.check_name, plugin["type"]):
            check(searchers.check_options, plugin["type"], _options(plugin))
            if plugin["type"] == "grid" and space is not None and not space.grid_params:
                problems.append(("space", "the grid searcher needs at least one {grid: [...]} parameter"))
    plugin = raw.get("scheduler", {"type": "fifo"})
    if isinstance(plugin, dict) and isinstance(plugin.get("type"), str):
        opts = check(schedulers.check, plugin["type"], _options(plugin))
        if opts is not None:  # and that it can act on trials of fixed.epochs
            problems.extend(schedulers.fit_problems(plugin["type"], opts, fixed.get("epochs")))
    if spec is not None and spec.init_from is not None and info is not None and space is not None:
        from hpsearch.cold_start import check_spec

        problems.extend(check_spec(spec, space.names))

    # The service's share policy: no study runs more trials at once than the cap.
    cap = settings().study_max_concurrent
    asked = raw.get("budget", {}).get("max_concurrent") if isinstance(raw.get("budget"), dict) else None
    if cap and isinstance(asked, int) and not isinstance(asked, bool) and asked > cap:
        problems.append(("budget.max_concurrent",
                         f"{asked} is above this service's cap of {cap} trials at once per "
                         "study (HPSEARCH_STUDY_MAX_CONCURRENT)"))

    if problems:
        raise SpecError(_unique(problems))
    assert spec is not None  # every structural problem above was reported by pydantic
    spec.metric, spec.mode, spec.dataset = metric, mode, dataset
    size = len(json.dumps(spec.to_dict(), separators=(",", ":")).encode())
    if size > MAX_SPEC_BYTES:  # as the store measures it (hpsearch.store.store.check_study_caps)
        raise SpecError(f"is {size} bytes once parsed; the cap is {MAX_SPEC_BYTES}", "spec")
    return spec


def _parse_constraint(text: str, field: str):
    from hpsearch.pareto import Constraint

    return Constraint.parse(text, field)


def _options(plugin: dict) -> dict:
    return {k: v for k, v in plugin.items() if k != "type"}


def _unique(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each problem once; a non-finite number is reported once, not also as out of range."""
    non_finite = {f for f, m in problems if m.startswith("must be a finite number")}
    out: list[tuple[str, str]] = []
    for field, message in problems:
        if (field, message) in out:
            continue
        if field in non_finite and not message.startswith("must be a finite number"):
            continue
        out.append((field, message))
    return out


def _family_problems(info, space: Space | None, raw_space: Any, fixed: dict) -> list[tuple[str, str]]:
    """The fixed values and each searched range, against the family's hyperparameter schema.

    A name the family does not read is an error (a typo would otherwise be
    ignored); a range or a choice is refused when any value in it is one the
    family would refuse at training time.
    """
    schema = info.options
    if schema is None:  # a user function: its hyperparameters are unknown
        return []
    valid = list(info.hyperparameters)
    unknown = f"{info.name!r} has no hyperparameter {{key}}"
    usable = {k: v for k, v in fixed.items() if k not in trainables.RESERVED_KEYS}
    out: list[tuple[str, str]] = []
    try:
        schema.model_validate(usable)
    except ValidationError as exc:
        out.extend(problems_of(exc, "fixed", unknown=unknown, valid=valid))
    for p in space.params if space is not None else ():
        if p.name in trainables.RESERVED_KEYS:
            continue
        if p.name not in schema.model_fields:
            out.append((field_path(("space", p.name)),
                        unknown_name(unknown.replace("{key}", repr(p.name)), p.name, valid)))
            continue
        kind = next(iter(raw_space[p.name]))  # parsed, so one distribution key
        field = field_path(("space", p.name, kind))
        if isinstance(p, Float) and _is_integer(schema, p.name):
            out.append((field, f"{p.name!r} is an integer for {info.name!r}: use int or logint, "
                               f"got {kind}"))
            continue
        values = list(p.values) if isinstance(p, Categorical) else [p.low, p.high]
        refused = []
        for value in values:
            try:
                schema.model_validate({p.name: value})
            except ValidationError as exc:
                refused.append(f"{exc.errors()[0]['msg'].removeprefix('Value error, ')}, got {value!r}")
        if refused:
            out.append((field, f"outside what {info.name!r} accepts for {p.name!r}: "
                               + "; ".join(refused)))
    return out


def _oom_problems(info, key: str) -> list[tuple[str, str]]:
    """``on_oom.halve`` names an integer hyperparameter of the family (unknown for user functions)."""
    schema = info.options
    if schema is None:
        return []
    if key not in schema.model_fields or key in trainables.RESERVED_KEYS:
        return [("on_oom.halve", unknown_name(f"{info.name!r} has no hyperparameter {key!r}",
                                              key, info.hyperparameters))]
    if not _is_integer(schema, key):
        return [("on_oom.halve", f"{key!r} is not an integer hyperparameter of {info.name!r}")]
    return []


def _is_integer(schema, name: str) -> bool:
    annotation = schema.model_fields[name].annotation
    kinds = set(get_args(annotation)) or {annotation}
    return int in kinds and float not in kinds


def _shape_problem(raw: Any) -> tuple[str, str] | None:
    """A spec nested deeper than :data:`MAX_DEPTH` or holding more than :data:`MAX_NODES`
    values is refused before anything walks it (iteratively: no recursion to overflow)."""
    stack, nodes = [(raw, 1)], 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            return "spec", f"nested deeper than {MAX_DEPTH} levels"
        if nodes > MAX_NODES:
            return "spec", f"more than {MAX_NODES} values"
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            nodes += len(value)
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            return "spec", f"holds an integer with more than {len(str(MAX_INT))} digits"
        elif isinstance(value, str) and len(value) > MAX_SPEC_BYTES:
            return "spec", f"holds a string longer than {MAX_SPEC_BYTES} characters"
    return None


def _check_dataset(info, dataset: str, fixed: dict) -> None:
    if info.name in trainables.BUILTIN:  # trainables._data: numpy only, no torch
        from trainables._data import check_dataset

        check_dataset(info.name, dataset, dict(fixed))


def _non_finite(value: Any, path: str = "") -> list[tuple[str, float]]:
    """(field, value) of every NaN or infinite float in a raw spec."""
    if isinstance(value, float) and not math.isfinite(value):
        return [(path or "spec", value)]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{path}[{i}]")]
    return []


def _bad_text(value: Any, path: str = "") -> list[tuple[str, str]]:
    """(field, problem) for every key or string that is not valid Unicode text (a lone
    surrogate, which JSON's ``\\ud800`` escape can carry): nothing can store or print it."""
    def bad(text: str) -> bool:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False

    if isinstance(value, str):
        return [(path or "spec", f"must be valid Unicode text, got {ascii(value)}")] if bad(value) else []
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            key = str(k)
            if bad(key):
                out.append((path or "spec", f"has a field name that is not valid Unicode text: {ascii(key)}"))
                continue
            out.extend(_bad_text(v, f"{path}.{key}" if path else key))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_bad_text(v, f"{path}[{i}]"))
    return out


def _json_scalar_or_list(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, list):
        return all(_json_scalar_or_list(v) for v in value)
    return False


def dump_yaml(spec: Spec | dict) -> str:
    data = spec.to_dict() if isinstance(spec, Spec) else spec
    return yaml.safe_dump(data, sort_keys=False)
