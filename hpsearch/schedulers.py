"""Early-stopping schedulers, chosen by name in the spec.

``scheduler: {type: asha, grace_period: 1, reduction_factor: 3}``. Options are
checked here without importing Ray; :func:`build` makes the Ray Tune object.
Time is counted in ``training_iteration`` (one per reported epoch).
"""
from __future__ import annotations

from typing import Any

from hpsearch.exceptions import SpecError

# name -> {option: (type, default)}; None default = derived from the spec.
OPTIONS: dict[str, dict[str, tuple[type | tuple, Any]]] = {
    "fifo": {},
    "asha": {"max_t": (int, None), "grace_period": (int, 1), "reduction_factor": ((int, float), 3),
             "brackets": (int, 1)},
    "hyperband": {"max_t": (int, None), "reduction_factor": ((int, float), 3)},
    "median": {"grace_period": (int, 1), "min_samples_required": (int, 3)},
    "pbt": {"perturbation_interval": (int, 2), "quantile_fraction": (float, 0.25),
            "resample_probability": (float, 0.25)},
}


def names() -> list[str]:
    return sorted(OPTIONS)


def check(name: str, options: dict) -> dict:
    """Validate ``options`` for scheduler ``name``; return them with defaults."""
    if name not in OPTIONS:
        raise SpecError(f"unknown scheduler {name!r}; valid: {', '.join(names())}", "scheduler.type")
    known = OPTIONS[name]
    problems = []
    for key, value in options.items():
        if key not in known:
            valid = ", ".join(sorted(known)) or "none"
            problems.append((f"scheduler.{key}", f"unknown option for {name!r}; valid: {valid}"))
            continue
        typ, _ = known[key]
        if isinstance(value, bool) or not isinstance(value, typ) or value <= 0:
            problems.append((f"scheduler.{key}", f"must be a positive {_tname(typ)}, got {value!r}"))
        elif key in ("quantile_fraction", "resample_probability") and value > (0.5 if key == "quantile_fraction" else 1):
            problems.append((f"scheduler.{key}", f"out of range, got {value!r}"))
    if problems:
        raise SpecError(problems)
    return {k: options.get(k, d) for k, (_, d) in known.items()}


def _tname(typ) -> str:
    return "integer" if typ is int else "number"


def build(name: str, options: dict, *, metric: str, mode: str, max_t: int, space=None, seed: int = 0):
    """The Ray Tune scheduler for a validated spec (``None`` means FIFO)."""
    from ray.tune import schedulers as s

    opts = check(name, options)
    if name == "fifo":
        return None
    if name == "asha":
        return s.ASHAScheduler(metric=metric, mode=mode, time_attr="training_iteration",
                               max_t=opts["max_t"] or max_t, grace_period=opts["grace_period"],
                               reduction_factor=opts["reduction_factor"], brackets=opts["brackets"])
    if name == "hyperband":
        return s.HyperBandScheduler(metric=metric, mode=mode, time_attr="training_iteration",
                                    max_t=opts["max_t"] or max_t,
                                    reduction_factor=opts["reduction_factor"])
    if name == "median":
        return s.MedianStoppingRule(metric=metric, mode=mode, time_attr="training_iteration",
                                    grace_period=opts["grace_period"],
                                    min_samples_required=opts["min_samples_required"])
    if name == "pbt":
        return _pbt_class()(
            metric=metric, mode=mode, time_attr="training_iteration",
            perturbation_interval=opts["perturbation_interval"],
            quantile_fraction=opts["quantile_fraction"],
            resample_probability=opts["resample_probability"],
            hyperparam_mutations=_mutations(space), synch=False,
            custom_explore_fn=_Clip(space) if space is not None else None)
    raise AssertionError(name)  # unreachable: check() refused unknown names


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
