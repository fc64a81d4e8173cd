"""Each searcher's options, declared once, and the registry entry that names its class.

Light on purpose (pydantic only): the spec validator, the CLI, the web form and
the API read this without importing Ray, scikit-optimize or DEAP. A searcher's
class receives its options already checked and defaulted from here.

Adding a searcher: write ``searchers/_NAME.py`` and add its options class and one
:class:`Entry` to :data:`REGISTRY` below. Adding an option: one line in its class.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from hpsearch.options import MAX_TRIALS, Float, Int, Options


class Random(Options):
    """Seeded uniform samples of the space (log-uniform on log-scaled parameters)."""


class Grid(Options):
    """Every combination of the ``{grid: [...]}`` parameters, in order."""

    repeats: Int = Field(1, ge=1, le=1000, description="times each grid point is run")


class Bayesian(Options):
    """scikit-optimize surrogate model and acquisition function (see searchers/_bayesian.py)."""

    surrogate: Literal["GP", "RF", "ET", "GBRT"] = "GP"
    acquisition: Literal["EI", "PI", "LCB", "gp_hedge"] = Field("gp_hedge", description=(
        "gp_hedge: scikit-optimize's portfolio of EI, PI and LCB (see searchers/_bayesian.py)"))
    n_initial_points: Int | None = Field(None, ge=1, le=MAX_TRIALS, description=(
        "initial-design suggestions first (None: the model's dimension + 2, within [4, 10]; "
        "a choice of k > 2 values counts k)"))
    xi: Float = Field(0.01, ge=0, description="EI/PI exploration")
    kappa: Float = Field(1.96, ge=0, description="LCB exploration")
    liar: Literal["min", "mean", "max"] = Field("min", description="value told for pending trials")
    on_failure: Literal["penalize", "ignore"] = "penalize"
    max_model_points: Int = Field(100, ge=10, le=10_000, description="results the model fits on")
    n_candidates: Int = Field(2000, ge=10, le=1_000_000, description="acquisition samples")
    warping: Literal["none", "logit"] = Field("none", description=(
        "how the model sees each real parameter: none (its range, or log range, as is) or "
        "logit (the unit coordinate, squeezed into [0.005, 0.995], through a logit: the regions "
        "by both bounds stretched, the bounds still reachable; see searchers/_bayesian.py)"))
    y_transform: Literal["none", "yeo-johnson"] = Field("none", description=(
        "how the model sees the losses: none (as they are) or yeo-johnson (a power transform "
        "fitted to the results, then standardised: a few deep wells in a flat loss look less "
        "like outliers; see searchers/_bayesian.py)"))
    local_share: Float | None = Field(None, ge=0, le=1, description=(
        "share of the acquisition's candidates drawn around the 5 best results (None: 0.5 "
        "where the acquisition is sampled, 0 where L-BFGS refines the best candidates)"))
    length_scale_prior: Literal["none", "gamma"] | None = Field(None, description=(
        "prior on the GP's length scales: none (maximum likelihood, each within [0.01, 100] unit "
        "ranges) or gamma (Gamma(3, 6) in unit ranges, fitted by MAP: a column the first results "
        "do not explain is not dropped); None: gamma on a conditional space, none otherwise "
        "(see searchers/_bayesian.py)"))
    final_exploit: Float = Field(0.2, ge=0, lt=1, description=(
        "share of a known budget (max_trials), at its end, in which the acquisition's suggestions "
        "are the model's predicted minimum near the 5 best results (0: none; the thompson draws "
        "of batch_explore go on; see searchers/_bayesian.py)"))
    final_model: Literal["local", "global"] = Field("local", description=(
        "how the final phase finds the model's predicted minimum on a numeric space: local (a GP "
        "fitted afresh on the results nearest the best, its mean minimised in a box around the "
        "best that shrinks over the phase) or global (the study's GP, over the whole space from "
        "neighbours of the 5 best results); see searchers/_bayesian.py"))
    inactive: Literal["placeholder", "outside"] = Field("placeholder", description=(
        "how the GP sees a conditional parameter where it is inactive: placeholder (the middle "
        "of its range, the value Space.fill gives) or outside (a constant outside the model's "
        "unit box: a linear kernel's gamma tells the model nothing about an rbf's); see "
        "searchers/_bayesian.py"))
    batch_explore: Literal["none", "thompson"] = Field("none", description=(
        "how a suggestion made while other trials are pending is chosen: none (the acquisition, "
        "pending trials told the liar value) or thompson, for every second of them (the best of "
        "1,000 neighbours of the best results under one draw from the model's posterior)"))
    batch_spread: Float | None = Field(None, ge=0, description=(
        "while other trials are pending, the acquisition's candidates within this many of the "
        "GP's length scales of a pending point are dropped, so a batch does not crowd its own "
        "lies (None: 0.25 where the acquisition is sampled (a categorical parameter or "
        "conditions), 0 where L-BFGS refines it; see searchers/_bayesian.py)"))


class Genetic(Options):
    """DEAP generate/update loop: tournament selection, crossover, Gaussian mutation."""

    population_size: Int | None = Field(None, ge=2, le=10_000, description=(
        "None: 1.5 x sqrt(budget) within [max(4, max_concurrent), 20]; 20 without a budget"))
    generations: Int | None = Field(None, ge=0, le=MAX_TRIALS)
    tournament_size: Int = Field(3, ge=1, le=10_000)
    crossover_prob: Float = Field(0.7, ge=0, le=1)
    mutation_prob: Float = Field(0.3, ge=0, le=1)
    mutation_sigma: Float = Field(0.1, ge=0, description="in units of each parameter's range")
    elitism: Int | None = Field(None, ge=0, le=10_000, description=(
        "best results always in the population (None: a quarter of it)"))

    @field_validator("elitism")
    @classmethod
    def _elitism_fits(cls, value: int | None, info: ValidationInfo) -> int | None:
        # A default (budget-sized) population is checked when the searcher is built.
        size = info.data.get("population_size")
        if value is not None and size is not None and value > size:
            raise ValueError(f"must not exceed population_size ({size})")
        return value


class Auto(Options):
    """A searcher chosen by space, budget and concurrency (see searchers/_auto.py); no options."""


@dataclass(frozen=True)
class Entry:
    """A searcher: where its class lives (imported only to run) and its options."""

    target: str  # "module:Class"
    options: type[Options]


REGISTRY: dict[str, Entry] = {
    "random": Entry("searchers._random:RandomSearcher", Random),
    "grid": Entry("searchers._grid:GridSearcher", Grid),
    "bayesian": Entry("searchers._bayesian:BayesianSearcher", Bayesian),
    "genetic": Entry("searchers._genetic:GeneticSearcher", Genetic),
    # A factory, not a class: it builds the searcher it chooses.
    "auto": Entry("searchers._auto:create", Auto),
}
