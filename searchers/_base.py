"""Shared machinery of every hpsearch searcher.

:class:`BaseSearcher` adapts an ask/tell core to Ray Tune's ``Searcher``:

* it keeps the ``trial_id -> config`` map of pending trials;
* it works internally on a *loss* (the metric negated for ``mode: max``);
* it drops NaN/inf and failed results (documented: a failed trial is simply not
  told to the core; its point stays "used" so it is not suggested again);
* it returns plain Python values and ``Searcher.FINISHED`` when exhausted: at
  ``max_trials``, and on a finite space once every configuration has been
  suggested (each configuration once; a study's trial count is then
  ``min(budget.trials, space size)``);
* its state is a versioned, JSON-safe dict (``get_state``/``set_state``), which
  ``save``/``restore`` write as JSON, never a pickle.

A subclass implements ``_ask() -> dict`` and, if it learns, ``_tell(config, loss)``
and the ``_core_state``/``_set_core_state`` pair.

:class:`ResumableSearcher` is the contract between a searcher and the driver:
what recovery (``hpsearch/recovery.py``), the budget wrapper and the store
callback (``hpsearch/tune_callback.py``) call, and all they call. A searcher
written from scratch against it (without :class:`BaseSearcher`) survives a
driver kill and ``hpsearch resume`` (tests/reliability/test_searcher_contract.py).
"""
from __future__ import annotations

import json
import math
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

import numpy as np
from ray.tune.search import Searcher

from hpsearch.space import Space

STATE_VERSION = 1
# A finite space up to this many configurations is listed to find the unseen
# ones when random draws keep hitting used points.
ENUMERATE_MAX = 200_000


class Progress(NamedTuple):
    """How far a searcher has gone; it changes whenever its state does."""

    suggested: int   # suggestions made (a re-run under a new trial id is not a new one)
    told: int        # results it learned from (warm start included)
    pending: int     # suggestions waiting for their result


class ResumableSearcher(Searcher):
    """What the driver needs from a searcher, beyond Ray Tune's ``suggest`` and
    ``on_trial_complete``. The driver never reads or writes a searcher's fields.

    Constructed as ``cls(space, metric=, mode=, seed=, max_trials=, max_concurrent=, **options)``
    (``searchers.create_searcher``). ``suggest`` returns ``Searcher.FINISHED`` once
    ``max_trials`` suggestions were made.
    """

    space: Space

    # -- state (saved in SQL as the study runs; restored by a resume) ----------------
    def get_state(self) -> dict:
        """A JSON-safe, versioned dict of everything the searcher knows."""
        raise NotImplementedError

    def set_state(self, state: dict) -> None:
        """Restore :meth:`get_state`'s dict; ValueError/KeyError/TypeError when it is
        not this searcher's (the driver then rebuilds the state from the trials)."""
        raise NotImplementedError

    def progress(self) -> Progress:
        """Counts that change whenever the state does (the callback saves it then)."""
        raise NotImplementedError

    # -- results from elsewhere ---------------------------------------------------------
    def observe(self, config: dict, value: float) -> bool:
        """Learn a result measured outside this run (warm start, or a resume rebuilding
        its state); False, and nothing learned, when it does not fit or is not finite."""
        raise NotImplementedError

    # -- pending suggestions --------------------------------------------------------------
    def pending_points(self) -> Mapping[str, dict]:
        """Suggestions still waiting for a result: trial id -> config (read-only)."""
        raise NotImplementedError

    def has_suggested(self, config: dict) -> bool:
        """Whether ``config`` was suggested (or observed) before."""
        raise NotImplementedError

    def adopt(self, trial_id: str, config: dict) -> None:
        """Count a trial it suggested but whose suggestion its saved state missed (the
        driver died between the two): pending under ``trial_id``, one more suggestion."""
        raise NotImplementedError

    def rename_pending(self, old_id: str | None, new_id: str, config: dict) -> None:
        """A pending suggestion runs again (after a crash) as trial ``new_id``."""
        raise NotImplementedError

    def drop_pending(self, trial_id: str) -> None:
        """Forget a pending suggestion that will never run (the budget is spent)."""
        raise NotImplementedError

    def set_max_trials(self, max_trials: int | None) -> None:
        """Change the suggestion cap (None: none; a resume's budget wrapper counts)."""
        raise NotImplementedError


class BaseSearcher(ResumableSearcher):
    #: Finish once every configuration of a finite space has been suggested.
    #: Grid sets it False: it walks its own list, with repeats.
    finishes_when_exhausted = True

    def __init__(self, space: Space, metric: str, mode: str = "max", seed: int = 0,
                 max_trials: int | None = None, max_concurrent: int | None = None, **options: Any):
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self.seed = int(seed)
        self.max_trials = max_trials
        self.max_concurrent = max_concurrent  # trials run at once; sizes some defaults
        self._design: np.ndarray | None = None  # the Sobol design, rebuilt from the seed
        self.rng = np.random.default_rng(self.seed)
        self.pending: dict[str, dict] = {}
        self.observations: list[tuple[dict, float]] = []  # (config, loss)
        self.n_suggested = 0
        self.seen: set[tuple] = set()
        self.opts = options  # already checked and defaulted by searchers.check_options
        self.auto_choice: dict | None = None  # set when ``searcher: auto`` chose this searcher

    # -- Ray Tune interface -------------------------------------------------
    def suggest(self, trial_id: str) -> dict | str | None:
        if self.max_trials is not None and self.n_suggested >= self.max_trials:
            return Searcher.FINISHED
        if self.finishes_when_exhausted and self.exhausted():
            return Searcher.FINISHED
        config = self._ask()
        if config is None or config == Searcher.FINISHED:
            return config
        config = {k: _plain(v) for k, v in config.items()}
        self.pending[trial_id] = config
        self.seen.add(self.space.key(config))
        self.n_suggested += 1
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        """Intermediate results are not used by the built-in searchers."""

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        config = self.pending.pop(trial_id, None)
        if config is None or error or not result:
            return
        loss = self.loss(result.get(self.metric))
        if loss is not None:
            self.observations.append((config, loss))
            self._tell(config, loss)

    # -- warm start ----------------------------------------------------------
    def observe(self, config: dict, value: float) -> bool:
        """Tell a finished result from an earlier study (warm start).

        Returns False, and tells nothing, when the config does not fit this
        space or the value is not finite.
        """
        # A result of a study whose space had no conditions carries the parameters
        # that are inactive here: they are dropped, not a reason to refuse it.
        config = self.space.prune({k: _plain(v) for k, v in config.items()})
        if not self.space.contains(config):
            return False
        loss = self.loss(value)
        if loss is None:
            return False
        self.observations.append((config, loss))
        self.seen.add(self.space.key(config))
        self._tell(config, loss)
        return True

    def loss(self, value: Any) -> float | None:
        """The metric as a loss to minimise, or None when it is not a finite number."""
        try:
            value = float(value)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(value):
            return None
        return -value if self.mode == "max" else value

    # -- subclass hooks -------------------------------------------------------
    def _ask(self) -> dict | str | None:
        raise NotImplementedError

    def _tell(self, config: dict, loss: float) -> None:
        """Learn from one finished configuration (default: nothing to learn)."""

    def _core_state(self) -> dict:
        return {}

    def _set_core_state(self, state: dict) -> None:
        pass

    # -- state ----------------------------------------------------------------
    def get_state(self) -> dict:
        return {
            "version": STATE_VERSION,
            "searcher": type(self).__name__,
            "seed": self.seed,
            "n_suggested": self.n_suggested,
            "pending": self.pending,
            "observations": [[c, l] for c, l in self.observations],
            # Failed trials' points are in neither list above but must stay "used".
            "seen": sorted(list(k) for k in self.seen),
            "rng": _rng_state(self.rng),
            "core": self._core_state(),
            "auto": self.auto_choice,
        }

    def set_state(self, state: dict) -> None:
        if state.get("version") != STATE_VERSION or state.get("searcher") != type(self).__name__:
            raise ValueError(f"searcher state of {state.get('searcher')!r} v{state.get('version')} "
                             f"cannot restore {type(self).__name__} v{STATE_VERSION}")
        self.n_suggested = state["n_suggested"]
        self.pending = dict(state["pending"])
        self.observations = [(c, float(l)) for c, l in state["observations"]]
        self.seen = {self.space.key(c) for c in self.pending.values()}
        self.seen |= {self.space.key(c) for c, _ in self.observations}
        self.seen |= {tuple(k) for k in state.get("seen", [])}
        self.rng.bit_generator.state = state["rng"]
        self.auto_choice = state.get("auto", self.auto_choice)
        self._set_core_state(state["core"])

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "w") as f:
            json.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path) as f:
            self.set_state(json.load(f))

    # -- the driver's contract (ResumableSearcher) ------------------------------------
    def progress(self) -> Progress:
        return Progress(self.n_suggested, len(self.observations), len(self.pending))

    def pending_points(self) -> Mapping[str, dict]:
        return MappingProxyType(self.pending)

    def has_suggested(self, config: dict) -> bool:
        return self.space.contains(config) and self.space.key(config) in self.seen

    def adopt(self, trial_id: str, config: dict) -> None:
        self.pending[trial_id] = dict(config)
        if self.space.contains(config):
            self.seen.add(self.space.key(config))
        self.n_suggested += 1

    def rename_pending(self, old_id: str | None, new_id: str, config: dict) -> None:
        self.pending.pop(old_id, None)
        self.pending[new_id] = dict(config)
        if self.space.contains(config):
            self.seen.add(self.space.key(config))

    def drop_pending(self, trial_id: str) -> None:
        self.pending.pop(trial_id, None)

    def set_max_trials(self, max_trials: int | None) -> None:
        self.max_trials = max_trials

    # -- helpers ----------------------------------------------------------------
    def exhausted(self) -> bool:
        """True when the space is finite and every configuration has been suggested."""
        size = self.space.size()
        return size is not None and len(self.seen) >= size

    def unseen_configs(self, limit: int = ENUMERATE_MAX) -> list[dict] | None:
        """Every configuration not suggested yet, or None when the space is
        infinite or larger than ``limit``."""
        size = self.space.size()
        if size is None or size > limit:
            return None
        return [c for c in self.space.iter_configs() if self.space.key(c) not in self.seen]

    def design_point(self, i: int) -> dict:
        """Point ``i`` of a scrambled Sobol design of the space (a fresh sample once used).

        The design covers the space instead of clumping as random draws do. It is
        a function of the seed alone, so a restored searcher continues it exactly.
        """
        if self._design is None or i >= len(self._design):
            from scipy.stats import qmc

            m = max(4, math.ceil(math.log2(i + 1)))
            self._design = qmc.Sobol(len(self.space.params), scramble=True,
                                     seed=self.seed).random_base2(m)
        config = self.space.from_unit(self._design[i])
        if self.space.key(config) in self.seen:
            return self.fresh_sample()
        return config

    def fresh_sample(self, tries: int = 100) -> dict:
        """A random configuration not suggested before.

        Random draws first; when they keep hitting used points of a finite
        space, a uniform pick among the unseen ones (so a nearly exhausted
        space still gets each configuration once).
        """
        config = self.space.sample(self.rng)
        for _ in range(tries):
            if self.space.key(config) not in self.seen:
                return config
            config = self.space.sample(self.rng)
        unseen = self.unseen_configs()
        if unseen:
            return unseen[int(self.rng.integers(len(unseen)))]
        return config


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars (Ray configs, JSON and SQL want plain values)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _rng_state(rng: np.random.Generator) -> dict:
    state = rng.bit_generator.state
    return json.loads(json.dumps(state, default=int))
