"""Model families that hpsearch can tune, found by name.

A trainable is a function ``fn(config: dict) -> None`` run by Ray Tune. It reads
its hyperparameters from ``config``, reports metrics with ``ray.tune.report``
every epoch (with a checkpoint), and resumes from ``ray.tune.get_checkpoint()``.
Besides the searched and fixed hyperparameters, ``config`` carries two reserved
keys the orchestrator fills in: ``dataset`` and ``seed``.

Built-in families live one per module and are imported lazily, so that the CLI
and the web UI start without importing torch::

    >>> from trainables import get_trainable
    >>> info = get_trainable("cnn")        # imports trainables.cnn now
    >>> info.default_metric, info.default_mode
    ('val_accuracy', 'max')

Users register their own with :func:`register` (``@hpsearch.trainable("name")``
in a notebook) or name ``module:function`` in a local spec. From the network (the
web UI, the API, a dispatcher) a ``module:function`` may name only a function that
an allow-listed module defines itself and marks with ``@hpsearch.trainable``, or an
exact pair the admin lists (see :func:`get_trainable`).
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Callable

from hpsearch.exceptions import SpecError
from hpsearch.settings import settings
from trainables._options import FOOTPRINT_METRICS, REGISTRY, Family

# Filled in by the orchestrator, never searched: the data, the seed, and cold start's source.
RESERVED_KEYS = ("dataset", "seed", "init_checkpoint", "reset_head", "freeze")

# name -> module that defines ``RECIPE`` (read from trainables/_options.py). Lazy: see get_trainable.
BUILTIN = {name: family.module for name, family in REGISTRY.items()}


@dataclass(frozen=True)
class TrainableInfo:
    """What the core needs to know about a trainable.

    ``metrics`` lists every metric the trainable reports (empty: unknown, for
    user functions), so a spec naming a metric it never reports is refused.
    ``options`` is the schema of its hyperparameters (None: unknown, for user
    functions); ``fn`` is None in what :func:`describe` returns (nothing imported).
    """

    name: str
    fn: Callable[[dict], None] | None
    metrics: tuple[str, ...] = ()
    default_metric: str | None = None
    default_mode: str | None = None
    default_dataset: str | None = None
    datasets: tuple[str, ...] = ()
    options: type | None = None
    description: str = ""
    template: dict = field(default_factory=dict)

    @property
    def hyperparameters(self) -> tuple[str, ...]:
        """The config keys it reads (empty: unknown), without the reserved ones."""
        if self.options is None:
            return ()
        return tuple(n for n in self.options.model_fields if n not in RESERVED_KEYS)


_registered: dict[str, TrainableInfo] = {}
_loaded: dict[str, TrainableInfo] = {}


def names() -> list[str]:
    """Every trainable name that a spec may use (built-in and registered)."""
    return sorted(set(BUILTIN) | set(_registered))


def register(name: str, fn: Callable[[dict], None], *, metrics: tuple[str, ...] = (),
             metric: str | None = None, mode: str | None = None) -> TrainableInfo:
    """Register a user function as trainable ``name`` for this process."""
    if name in BUILTIN:
        raise SpecError(f"{name!r} is a built-in family and cannot be replaced", "trainable")
    info = TrainableInfo(name=name, fn=fn, metrics=tuple(metrics), default_metric=metric,
                         default_mode=mode)
    _registered[name] = info
    return info


MARK = "__hpsearch_trainable__"


def trainable(name: str | Callable | None = None, *, metrics: tuple[str, ...] = (),
              metric: str | None = None, mode: str | None = None) -> Callable:
    """Mark a function as a trainable; with a name, also register it for this process.

        @hpsearch.trainable                 # may be named as module:function (allow-listed module)
        def train(config): ...

        @hpsearch.trainable("quadratic", metric="loss", mode="min")
        def quadratic(config):
            ray.tune.report({"loss": (config["x"] - 2) ** 2})
    """

    def decorate(fn: Callable) -> Callable:
        setattr(fn, MARK, True)
        if isinstance(name, str):
            register(name, fn, metrics=metrics, metric=metric, mode=mode)
        return fn

    if callable(name):  # bare @hpsearch.trainable
        fn, name = name, None
        return decorate(fn)
    return decorate


def allowed_modules() -> set[str]:
    """Modules whose own ``@hpsearch.trainable`` functions may be named from the network
    (``HPSEARCH_ALLOWED_MODULES``, comma-separated)."""
    return set(settings().allowed_modules)


def allowed_trainables() -> set[str]:
    """Exact ``module:function`` pairs an admin allows from the network
    (``HPSEARCH_ALLOWED_TRAINABLES``, comma-separated)."""
    return set(settings().allowed_trainables)


def _import_function(name: str, *, checked: bool) -> Callable:
    """``module:function`` imported; ``checked``: it must be a function the module itself
    defines and marks with ``@hpsearch.trainable`` (not something it imported)."""
    import inspect

    module_name, _, attr = name.partition(":")
    if not attr.isidentifier():
        raise SpecError(f"{name!r} must be module:function", "trainable")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError):
        raise SpecError(f"cannot import {name!r}: no such module or function", "trainable") \
            from None
    if not callable(fn):
        raise SpecError(f"{name!r} is not callable", "trainable")
    if checked and not (inspect.isfunction(fn) and fn.__module__ == module_name
                        and getattr(fn, MARK, False) is True):
        raise SpecError(f"{name!r} is not a trainable that {module_name!r} defines and marks with "
                        "@hpsearch.trainable; only those (or exact pairs in "
                        "HPSEARCH_ALLOWED_TRAINABLES) may be named", "trainable")
    return fn


def _builtin_info(name: str, family: Family) -> TrainableInfo:
    template = {
        "name": f"{name}-{family.datasets[0]}",
        "trainable": name,
        "dataset": family.datasets[0],
        "metric": family.metric,
        "mode": family.mode,
        "space": family.space,
        "fixed": family.fixed,
        "searcher": {"type": "random"},
        "budget": {"trials": family.trials, "max_concurrent": 2},
        "resources": {"cpu": 1, "gpu": 0},
        "seed": 0,
    }
    # Every family also reports its model's footprint (trainables/_compress.py).
    metrics = family.metrics + FOOTPRINT_METRICS
    return TrainableInfo(name=name, fn=None, metrics=metrics, default_metric=family.metric,
                         default_mode=family.mode, default_dataset=family.datasets[0],
                         datasets=family.datasets, options=family.options,
                         description=family.description, template=template)


def describe(name: str, *, allow_import: bool = False) -> TrainableInfo:
    """What the spec validator needs about trainable ``name``, importing no built-in family
    (so no torch). ``fn`` is None for built-ins; see :func:`get_trainable`."""
    if name in _registered:
        return _registered[name]
    if name in REGISTRY:
        return _builtin_info(name, REGISTRY[name])
    return _user_function(name, allow_import)


def get_trainable(name: str, *, allow_import: bool = False) -> TrainableInfo:
    """Look a trainable up by name, with its Ray Tune function ``fn``.

    ``module:function`` names import the function: any function with ``allow_import``
    (local runs: the user's own code); otherwise (from the network) only an exact pair in
    ``HPSEARCH_ALLOWED_TRAINABLES``, or a function that a module in
    ``HPSEARCH_ALLOWED_MODULES`` defines itself and marks with ``@hpsearch.trainable``.
    """
    if name in REGISTRY and name not in _registered:
        if name not in _loaded:
            recipe = importlib.import_module(REGISTRY[name].module).RECIPE
            fn = importlib.import_module("trainables._harness").tune_function(recipe)
            _loaded[name] = dataclasses.replace(describe(name), fn=fn)
        return _loaded[name]
    return describe(name, allow_import=allow_import)


def _user_function(name: str, allow_import: bool) -> TrainableInfo:
    if ":" in name:
        exact = name in allowed_trainables()
        if not (allow_import or exact or name.partition(":")[0] in allowed_modules()):
            raise SpecError(f"importing {name!r} is not allowed here; registered trainables: "
                            f"{', '.join(names())}", "trainable")
        return TrainableInfo(name=name, fn=_import_function(name, checked=not (allow_import
                                                                              or exact)))
    raise SpecError(f"unknown trainable {name!r}; valid: {', '.join(names())} "
                    "(or module:function for local runs)", "trainable")
