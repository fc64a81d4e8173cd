"""Shared helpers of the searcher tests: spaces, a factory, a driver."""
from __future__ import annotations

import math

import pytest

import searchers
from hpsearch.space import Categorical, Float, Int, Space
from searchers import create_searcher

# The registry: a new searcher joins the suite by itself. "auto" only picks one of the
# others (tests/searchers/test_auto_searcher.py), so the suite does not run it again.
ALL_SEARCHERS = [name for name in searchers.names() if name != "auto"]
LEARNING_SEARCHERS = ["bayesian", "genetic"]
# Registered names that build another searcher (tested in test_auto_searcher.py).
FACTORIES = ["auto"]

# Small settings so that the learning searchers leave their random phase quickly
# and the suite stays fast; grid needs repeats to make many suggestions. The tests that
# judge how well a searcher learns give bayesian LEARNING_OPTIONS on top.
FAST_OPTIONS = {
    "grid": {"repeats": 1000},
    "random": {},
    "bayesian": {"n_initial_points": 5, "max_model_points": 40, "n_candidates": 200},
    "genetic": {"population_size": 6, "elitism": 2},
}
LEARNING_OPTIONS = {"bayesian": {"n_candidates": 500}}


# Options that change how a searcher models the space run the whole suite again:
# variant name -> (searcher, options).
VARIANTS = {"bayesian-logit": ("bayesian", {"warping": "logit"}),
            "bayesian-shaped": ("bayesian", {"y_transform": "yeo-johnson", "local_share": 0.5}),
            "bayesian-thompson": ("bayesian", {"batch_explore": "thompson"}),
            "bayesian-gamma": ("bayesian", {"length_scale_prior": "gamma"}),
            "bayesian-noprior": ("bayesian", {"length_scale_prior": "none"}),
            "bayesian-final": ("bayesian", {"final_exploit": 0.5}),
            "bayesian-final-global": ("bayesian", {"final_exploit": 0.5, "final_model": "global"}),
            "bayesian-outside": ("bayesian", {"inactive": "outside"}),
            "bayesian-spread": ("bayesian", {"batch_spread": 0.5})}
CONFORMANCE = ALL_SEARCHERS + list(VARIANTS)


def kind(name: str) -> str:
    """The searcher a suite name runs ("bayesian-logit" -> "bayesian")."""
    return VARIANTS.get(name, (name, {}))[0]


def parametrize_searcher(names=CONFORMANCE):
    """Optuna's ``parametrize_sampler``: one test per searcher name (and option variant)."""
    return pytest.mark.parametrize("name", names)


def mixed_space() -> Space:
    return Space([
        Float("lr", 1e-5, 1e-1, log=True),
        Float("dropout", 0.0, 0.5),
        Int("layers", 1, 6),
        Int("hidden", 8, 512, log=True),
        Categorical("optimizer", ("adam", "sgd", 1, None)),
        Categorical("bn", (False, True)),
        Categorical("batch", (32, 64), grid=True),
    ])


def discrete_space() -> Space:
    """Eight points in all; grid walks them as its grid."""
    return Space([Categorical("a", (0, 1, 2, 3), grid=True), Categorical("b", (False, True), grid=True)])


def conditional_space() -> Space:
    """Branches on a choice and per-layer sizes up to ``layers`` (a grid, so grid walks it)."""
    return Space.from_spec({
        "optimizer": {"choice": ["adam", "sgd"]},
        "lr": {"loguniform": [1e-4, 1e-1]},
        "beta1": {"uniform": [0.8, 0.999], "when": {"optimizer": "adam"}},
        "momentum": {"uniform": [0.0, 0.99], "when": {"optimizer": ["sgd"]}},
        "layers": {"grid": [1, 2, 3]},
        "units_2": {"logint": [16, 256], "when": {"layers": {"min": 2}}},
        "units_3": {"logint": [16, 256], "when": {"layers": {"min": 3}, "optimizer": "sgd"}},
    })


def conditional_objective(config: dict) -> float:
    """Best on the sgd branch with three layers; reads only the active parameters."""
    loss = (math.log10(config["lr"]) + 2) ** 2
    if config["optimizer"] == "adam":
        loss += 1 + (config["beta1"] - 0.9) ** 2
    else:
        loss += (config["momentum"] - 0.9) ** 2
    if config["layers"] >= 2:
        loss += abs(math.log2(config["units_2"]) - 6) / 4
    if "units_3" in config:
        loss += abs(math.log2(config["units_3"]) - 5) / 4 - 1.5
    return loss


def make(name: str, space: Space | None = None, seed: int = 0, mode: str = "min", **options):
    name, variant = VARIANTS.get(name, (name, {}))
    options = {**FAST_OPTIONS.get(name, {}), **variant, **options}
    if space is not None and not space.grid_params:
        options.pop("repeats", None)
    return create_searcher(name, space or mixed_space(), metric="loss", mode=mode, seed=seed, **options)


def objective(config: dict) -> float:
    """A smooth loss on the mixed space (min near lr=1e-3, dropout=0.1, layers=3)."""
    return ((math.log10(config["lr"]) + 3) ** 2 + (config["dropout"] - 0.1) ** 2 * 10
            + (config["layers"] - 3) ** 2 / 4 + (config["optimizer"] != "adam"))


def run(searcher, n: int, f=objective, start: int = 0) -> list[dict]:
    """Suggest and complete ``n`` trials sequentially; return the configs."""
    configs = []
    for i in range(start, start + n):
        config = searcher.suggest(str(i))
        configs.append(config)
        searcher.on_trial_complete(str(i), {"loss": f(config)})
    return configs
