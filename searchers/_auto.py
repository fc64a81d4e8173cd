"""``searcher: {type: auto}``: a searcher chosen for the space, the budget and the concurrency.

Measured (``benchmarks/results/bayesmark.md``): bayesian (GP, gp_hedge) has the best
regret on Branin, Hartmann-6 and Rosenbrock-4 at 50 evaluations with 2 in parallel (10 seeds)
and the best mean rank on the scikit-learn problems at 16 rounds x 8 (1.94, TPE 2.19; 3 seeds)
and at 16 evaluations one at a time (2.41, plain scikit-optimize 2.90, TPE 3.12; 10 seeds).
The GP is kept for every kind of
space (continuous, integer, categorical, mixed, conditional): it has the best mean rank
of the surrogates over the problems, a tree surrogate (RF, ET, GBRT) led only on single
problems and fell below random on others, so ``auto`` never picks one. The thresholds for genetic (budget,
concurrency) come from the suggestion-latency benchmark, not from a quality measurement.

Conditional spaces stay with bayesian. On the benchmark's conditional problem (SVC-breast:
kernel linear / rbf / poly, gamma under rbf and poly, degree under poly; 3-fold CV on 200
rows, losses in steps of 0.005) genetic found better configurations at 16 evaluations one
at a time (mean best loss over 20 seeds: genetic 0.0350, bayesian 0.0390, Optuna's TPE
0.0385, random 0.0395; at 16 rounds x 8 all reach 0.0300), but on the test suite's
conditional space (optimizer branches, per-layer sizes: tests/searchers/searcher_helpers.py,
a smooth loss) bayesian was far ahead at every budget measured (10 seeds, mean best loss:
16 evaluations -0.81 against genetic's -0.32 and random's -0.49; 40: -1.32 / -1.12 / -0.91;
16 rounds x 4: -1.43 / -1.12 / -1.02). One problem each way is no rule for genetic, and
genetic's SVC-breast lead is the space's, not the search's: rbf scores its best (0.0300) along
gamma = 0.01 (C >= 56), the middle of gamma's log range, which is the placeholder a linear individual
carries for its inactive gamma; a mutation of the kernel gene makes it an rbf there (4 of its
5 runs at 0.0300 end at gamma 0.0096-0.0100; bayesmark.md, "auto on the conditional").
Since 2026-12-03 bayesian fits its GP with a prior on the length scales on a conditional
space (``length_scale_prior``'s default there), and the suite has three conditional
problems (SVC-breast, MLP-digits: an optimizer's parameters and per-layer sizes,
CASH-digits: a model choice and each model's parameters): at 16 evaluations one at a time,
seeds 0-19, bayesian's mean rank among bayesian, TPE, skopt, genetic and random is 2.38
over the three (genetic 2.79, SVC-breast alone 2.50 against 2.52; bayesmark.md, "Three
conditional problems").
:func:`choose` returns the name and the reason, which is logged and kept in the
searcher's saved state (``auto``), so the study records what ran.
"""
from __future__ import annotations

import logging
from typing import Any

from hpsearch.space import Categorical, Int, Space

log = logging.getLogger("hpsearch.searchers")

# Above this many trials the GP's cost per suggestion (capped model, ~50 ms) no longer
# buys much over a population: the genetic searcher is cheaper and keeps improving.
MODEL_BUDGET_MAX = 2000
# With more trials pending at once than this, constant-liar batches crowd; a population
# breeds a diverse batch.
MODEL_CONCURRENCY_MAX = 32


def choose(space: Space, max_trials: int | None, max_concurrent: int | None) -> tuple[str, str]:
    """(searcher name, why) for this space, budget and concurrency."""
    size = space.size()
    if space.grid_params and len(space.grid_params) == len(space.params) and (
            max_trials is None or size <= max_trials):
        return "grid", f"every parameter is a grid and the budget covers all {size} points"
    if size is not None and max_trials is not None and size <= max_trials:
        return ("bayesian", f"the space has {size} configurations, within the budget of {max_trials}: "
                "the model orders them and each is tried once")
    if max_trials is not None and max_trials > MODEL_BUDGET_MAX:
        return "genetic", f"a budget of {max_trials} trials (> {MODEL_BUDGET_MAX}) outgrows the model's cost"
    if (max_concurrent or 1) > MODEL_CONCURRENCY_MAX:
        return "genetic", f"{max_concurrent} trials at once (> {MODEL_CONCURRENCY_MAX}) crowd a model's batch"
    return ("bayesian", f"a {space_kind(space)} space of {len(space.params)} parameters with a budget of "
            f"{max_trials or 'no limit'} and {max_concurrent or 1} at once: the GP surrogate "
            "(the best surrogate over the benchmark's problems; tree models were not reliable)")


def space_kind(space: Space) -> str:
    """conditional | continuous | integer | categorical | mixed (benchmarks/bayesmark.py's classes)."""
    if space.conditional:
        return "conditional"
    kinds = {"categorical" if isinstance(p, Categorical) else "integer" if isinstance(p, Int) else "continuous"
             for p in space.params}
    if kinds == {"categorical", "continuous"} and sum(isinstance(p, Categorical) for p in space.params) > 1:
        return "categorical"  # several choices and a real or two (LR-breast's kind)
    return kinds.pop() if len(kinds) == 1 else "mixed"


def create(space: Space, *, metric: str, mode: str, seed: int = 0, max_trials: int | None = None,
           max_concurrent: int | None = None, objectives: list | None = None,
           constraints: list | tuple = (), **options: Any):
    """Build the chosen searcher with its defaults (``auto`` takes no options); with
    several objectives, the chosen searcher's multi-objective variant."""
    from searchers import create_searcher

    name, why = choose(space, max_trials, max_concurrent)
    log.info("searcher auto chose %s: %s", name, why)
    searcher = create_searcher(name, space, metric=metric, mode=mode, seed=seed, max_trials=max_trials,
                               max_concurrent=max_concurrent, objectives=objectives,
                               constraints=constraints)
    searcher.auto_choice = {"searcher": name, "why": why}
    return searcher
