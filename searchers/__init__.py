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
                    max_trials: int | None = None, **options: Any):
    """Build searcher ``name`` over ``space``; bad options raise SpecError."""
    options = check_options(name, options)
    return searcher_class(name)(space, metric=metric, mode=mode, seed=seed,
                                max_trials=max_trials, **options)


__all__ = ["REGISTRY", "SEARCHERS", "names", "check_name", "options_schema", "check_options",
           "searcher_class", "create_searcher"]
