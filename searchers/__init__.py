"""Search algorithms, each a ``ray.tune.search.Searcher``, chosen by name.

One algorithm per private module; this registry imports them lazily so the CLI
and web UI start without importing Ray, scikit-optimize or DEAP::

    >>> from hpsearch.space import Space
    >>> s = create_searcher("random", Space.from_spec({"x": {"uniform": [0, 1]}}),
    ...                     metric="loss", mode="min", seed=0)
"""
from __future__ import annotations

import importlib
from typing import Any

from hpsearch.exceptions import SpecError
from hpsearch.options import check
from searchers._options import REGISTRY

# name -> "module:Class" (read from the registry in searchers/_options.py).
SEARCHERS = {name: entry.target for name, entry in REGISTRY.items()}

# name -> its variant for several objectives or constraints (searchers/_multiobjective.py):
# NSGA-II and ParEGO. random and grid learn nothing and run unchanged.
MULTI_OBJECTIVE = {
    "genetic": "searchers._multiobjective:NSGA2Searcher",
    "bayesian": "searchers._multiobjective:ParEGOSearcher",
}


def names() -> list[str]:
    return sorted(REGISTRY)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or name not in REGISTRY:
        raise SpecError(f"unknown searcher {name!r}; valid: {', '.join(names())}", "searcher.type")
    return name


def options_schema(name: str):
    """The pydantic schema of searcher ``name``'s options (see searchers/_options.py)."""
    return REGISTRY[check_name(name)].options


def searcher_class(name: str) -> type:
    module, _, cls = REGISTRY[check_name(name)].target.partition(":")
    return getattr(importlib.import_module(module), cls)


def check_options(name: str, options: dict) -> dict:
    """Return ``options`` checked and merged over the defaults; every problem raises at once."""
    checked, problems = check(options_schema(name), options, "searcher",
                              what=f"searcher {name!r}")
    if problems:
        raise SpecError(problems)
    return checked


def create_searcher(name: str, space, *, metric: str, mode: str, seed: int = 0,
                    max_trials: int | None = None, max_concurrent: int | None = None,
                    objectives: list | None = None, constraints: list | tuple = (), **options: Any):
    """Build searcher ``name`` over ``space``; bad options raise SpecError.

    ``max_trials`` (the budget) and ``max_concurrent`` size the defaults of some
    options (the genetic searcher's population). ``objectives`` (``[(metric, mode),
    ...]``, the first being ``metric``/``mode``) and ``constraints``
    (:class:`hpsearch.pareto.Constraint`) select the multi-objective variant when
    there are several objectives or any constraint."""
    options = check_options(name, options)
    several = bool(objectives) and (len(objectives) > 1 or bool(constraints))
    if several and name in MULTI_OBJECTIVE:
        module, _, cls_name = MULTI_OBJECTIVE[name].partition(":")
        searcher = getattr(importlib.import_module(module), cls_name)(
            space, metric=metric, mode=mode, seed=seed, max_trials=max_trials,
            max_concurrent=max_concurrent, **options)
        searcher.set_objectives(objectives, constraints)
        return searcher
    target = searcher_class(name)
    if not isinstance(target, type):  # a factory (auto): it passes the objectives on
        options = {**options, "objectives": objectives, "constraints": constraints}
    return target(space, metric=metric, mode=mode, seed=seed, max_trials=max_trials,
                  max_concurrent=max_concurrent, **options)


__all__ = ["REGISTRY", "SEARCHERS", "names", "check_name", "options_schema", "check_options",
           "searcher_class", "create_searcher"]
