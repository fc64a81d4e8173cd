"""Early-stopping schedulers, chosen by name in the spec.

``scheduler: {type: asha, grace_period: 1, reduction_factor: 3}``. Options are
checked here without importing Ray; :func:`build` makes the Ray Tune object.
Time is counted in ``training_iteration`` (one per reported epoch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pydantic import Field

from hpsearch.exceptions import SpecError
from hpsearch.options import MAX_TRIALS, Float, Int, Options
from hpsearch.options import check as check_options

# Each scheduler's options, declared once (an option is one line). Times count
# reported epochs; ``max_t: None`` means the spec's ``fixed.epochs``.


class Fifo(Options):
    """No early stopping: every trial runs to its end."""


class Asha(Options):
    max_t: Int | None = Field(None, ge=1, le=100_000)
    grace_period: Int = Field(1, ge=1, le=100_000)
    reduction_factor: Float = Field(3, gt=1, le=100)
    brackets: Int = Field(1, ge=1, le=10)


class Hyperband(Options):
    max_t: Int | None = Field(None, ge=1, le=100_000)
    reduction_factor: Float = Field(3, gt=1, le=100)


class Median(Options):
    grace_period: Int = Field(1, ge=1, le=100_000)
    min_samples_required: Int = Field(3, ge=1, le=MAX_TRIALS)


class Pbt(Options):
    perturbation_interval: Int = Field(2, ge=1, le=100_000)
    quantile_fraction: Float = Field(0.25, gt=0, le=0.5)
    resample_probability: Float = Field(0.25, ge=0, le=1)


@dataclass(frozen=True)
class Entry:
    """A scheduler: its options and the function that builds the Ray object (lazily)."""

    options: type[Options]
    build: Callable[..., Any]


def names() -> list[str]:
    return sorted(REGISTRY)


def check(name: str, options: dict) -> dict:
    """Validate ``options`` for scheduler ``name``; return them with defaults."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise SpecError(f"unknown scheduler {name!r}; valid: {', '.join(names())}", "scheduler.type")
    checked, problems = check_options(REGISTRY[name].options, options, "scheduler",
                                      what=f"scheduler {name!r}")
    if problems:
        raise SpecError(problems)
    return checked


def fit_problems(name: str, opts: dict, epochs: Any) -> list[tuple[str, str]]:
    """What would keep scheduler ``name`` (checked ``opts``) from acting on trials of
    ``epochs`` (the spec's ``fixed.epochs``; any other value: not known here). Ray's ASHA
    asserts ``grace_period <= max_t`` once the study runs; the others run, but a first
    decision later than a trial's last epoch turns early stopping (or PBT) off unsaid."""
    epochs = epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None
    out = []
    if name == "asha":
        max_t, where = (opts["max_t"], "") if opts.get("max_t") else (epochs, ", fixed.epochs")
        grace = opts["grace_period"]
        if max_t is not None and grace > max_t:
            out.append(("scheduler.grace_period", f"{grace} is more than max_t ({max_t}{where}); "
                                                  "ASHA needs grace_period <= max_t"))
        elif epochs is not None and grace > epochs:
            out.append(("scheduler.grace_period", f"{grace} is more than the {epochs} epochs a "
                        "trial runs (fixed.epochs): ASHA would stop no trial"))
    if name == "median" and epochs is not None and opts["grace_period"] > epochs:
        out.append(("scheduler.grace_period", f"{opts['grace_period']} is more than the {epochs} "
                    "epochs a trial runs (fixed.epochs): the median rule would stop no trial"))
    if name == "pbt" and epochs is not None and opts["perturbation_interval"] >= epochs:
        out.append(("scheduler.perturbation_interval",
                    f"{opts['perturbation_interval']} is not less than the {epochs} epochs a "
                    "trial runs (fixed.epochs): PBT would never exploit or explore"))
    return out


def build(name: str, options: dict, *, metric: str, mode: str, max_t: int, space=None, seed: int = 0):
    """The Ray Tune scheduler for a validated spec (``None`` means FIFO)."""
    opts = check(name, options)
    return REGISTRY[name].build(opts, metric=metric, mode=mode, max_t=opts.get("max_t") or max_t,
                                space=space)


def _fifo(opts: dict, **_: Any):
    return None


def _asha(opts: dict, *, metric: str, mode: str, max_t: int, **_: Any):
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(metric=metric, mode=mode, time_attr="training_iteration", max_t=max_t,
                         grace_period=opts["grace_period"],
                         reduction_factor=opts["reduction_factor"], brackets=opts["brackets"])


def _hyperband(opts: dict, *, metric: str, mode: str, max_t: int, **_: Any):
    from ray.tune.schedulers import HyperBandScheduler

    return HyperBandScheduler(metric=metric, mode=mode, time_attr="training_iteration",
                              max_t=max_t, reduction_factor=opts["reduction_factor"])


def _median(opts: dict, *, metric: str, mode: str, **_: Any):
    from ray.tune.schedulers import MedianStoppingRule

    return MedianStoppingRule(metric=metric, mode=mode, time_attr="training_iteration",
                              grace_period=opts["grace_period"],
                              min_samples_required=opts["min_samples_required"])


def _pbt(opts: dict, *, metric: str, mode: str, space=None, **_: Any):
    return _pbt_class()(
        metric=metric, mode=mode, time_attr="training_iteration",
        perturbation_interval=opts["perturbation_interval"],
        quantile_fraction=opts["quantile_fraction"],
        resample_probability=opts["resample_probability"],
        hyperparam_mutations=_mutations(space), synch=False,
        custom_explore_fn=_Clip(space) if space is not None else None)


REGISTRY: dict[str, Entry] = {
    "fifo": Entry(Fifo, _fifo),
    "asha": Entry(Asha, _asha),
    "hyperband": Entry(Hyperband, _hyperband),
    "median": Entry(Median, _median),
    "pbt": Entry(Pbt, _pbt),
}


def _pbt_class():
    """PopulationBasedTraining that accepts our searcher as the source of new trials.

    Ray's PBT refuses any search algorithm (it exploits by rewriting a trial's
    config, which a model-based searcher would not know about). Here the searcher
    only proposes each trial's starting point; PBT then owns its config, and the
    store records the config each trial restarts with. Without this, every pbt
    study fails at its first trial with "Search algorithms cannot be used with
    PopulationBasedTraining schedulers".
    """
    from ray.tune.schedulers import PopulationBasedTraining

    class _PBT(PopulationBasedTraining):
        def on_trial_add(self, tune_controller, trial):
            super().on_trial_add(_NoSearchAlg(tune_controller), trial)

    return _PBT


class _NoSearchAlg:
    """The Tune controller, seen without its search algorithm (for PBT's guard only)."""

    search_alg = None

    def __init__(self, controller):
        self._controller = controller

    def __getattr__(self, name):
        return getattr(self._controller, name)


def _mutations(space) -> dict:
    """PBT resamples from the search space itself, so mutated values stay in bounds."""
    from ray import tune

    out = {}
    for p in space.params:
        if hasattr(p, "values"):
            out[p.name] = list(p.values)
        elif isinstance(p.low, int):
            out[p.name] = (tune.lograndint if p.log else tune.randint)(p.low, p.high + 1)
        else:
            out[p.name] = (tune.loguniform if p.log else tune.uniform)(p.low, p.high)
    return out


class _Clip:
    """PBT perturbs numbers by x0.8/x1.2; keep them inside the space's bounds and types."""

    def __init__(self, space):
        self.space = space

    def __call__(self, config: dict) -> dict:
        for p in self.space.params:
            if p.name in config and hasattr(p, "low"):
                v = min(p.high, max(p.low, config[p.name]))
                config[p.name] = int(round(v)) if isinstance(p.low, int) else float(v)
        return config
