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

# name -> "module:Class"
SEARCHERS = {
    "random": "searchers._random:RandomSearcher",
    "grid": "searchers._grid:GridSearcher",
    "bayesian": "searchers._bayesian:BayesianSearcher",
    "genetic": "searchers._genetic:GeneticSearcher",
}

# name -> the options a spec may set, with their defaults. Kept here, not on the
# classes, so a spec can be validated without importing Ray or the backends.
OPTIONS: dict[str, dict[str, Any]] = {
    "random": {},
    "grid": {"repeats": 1},
    "bayesian": {"surrogate": "GP", "acquisition": "EI", "n_initial_points": None, "xi": 0.01,
                 "kappa": 1.96, "liar": "min", "on_failure": "penalize", "max_model_points": 100,
                 "n_candidates": 2000},
    "genetic": {"population_size": 20, "generations": None, "tournament_size": 3,
                "crossover_prob": 0.7, "mutation_prob": 0.3, "mutation_sigma": 0.1, "elitism": 5},
}


def names() -> list[str]:
    return sorted(SEARCHERS)


def check_name(name: Any) -> str:
    if name not in SEARCHERS:
        raise SpecError(f"unknown searcher {name!r}; valid: {', '.join(names())}", "searcher.type")
    return name


def searcher_class(name: str) -> type:
    module, _, cls = SEARCHERS[check_name(name)].partition(":")
    return getattr(importlib.import_module(module), cls)


def check_options(name: str, options: dict) -> dict:
    """Return ``options`` merged over the defaults; unknown names raise SpecError."""
    known = OPTIONS[check_name(name)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        valid = ", ".join(sorted(known)) or "none"
        raise SpecError(f"unknown option {unknown[0]!r} for searcher {name!r}; valid: {valid}",
                        f"searcher.{unknown[0]}")
    return {**known, **options}


def create_searcher(name: str, space, *, metric: str, mode: str, seed: int = 0,
                    max_trials: int | None = None, **options: Any):
    """Build searcher ``name`` over ``space``; bad options raise SpecError."""
    options = check_options(name, options)
    return searcher_class(name)(space, metric=metric, mode=mode, seed=seed,
                                max_trials=max_trials, **options)


__all__ = ["SEARCHERS", "names", "check_name", "searcher_class", "create_searcher"]
