"""A searcher written only against the documented contract (searchers._base.ResumableSearcher).

It does not derive from BaseSearcher and keeps its own fields under names the driver
has never seen (``_waiting``, ``_told``...), so any code that reached into a searcher's
private fields (``pending``, ``seen``, ``n_suggested``) would fail on it.

It walks a seeded sequence of x values and, once it has results, proposes points near
its best one: enough learning for its state to matter after a resume.
"""
from __future__ import annotations

import math
import random
import sys
from types import MappingProxyType
from typing import Mapping

from ray.tune.search import Searcher

from searchers._base import Progress, ResumableSearcher

NAME = "contract"


class ContractSearcher(ResumableSearcher):
    def __init__(self, space, metric: str, mode: str = "max", seed: int = 0,
                 max_trials: int | None = None, **options):
        super().__init__(metric=metric, mode=mode)
        self.space = space
        self._seed, self._cap = int(seed), max_trials
        self._made = 0                      # suggestions made
        self._waiting: dict[str, dict] = {}
        self._told: list[list] = []         # [config, value]
        self._used: list[list] = []         # configs suggested or observed, as sorted items

    # -- Ray Tune ----------------------------------------------------------------------
    def suggest(self, trial_id: str):
        if self._cap is not None and self._made >= self._cap:
            return Searcher.FINISHED
        rng = random.Random(self._seed * 1000 + self._made)
        p = self.space.params[0]
        if self._told and self._made % 2:
            best = (max if self.mode == "max" else min)(self._told, key=lambda cv: cv[1])[0]
            x = min(p.high, max(p.low, best[p.name] + rng.uniform(-0.5, 0.5)))
        else:
            x = rng.uniform(p.low, p.high)
        config = {p.name: float(x)}
        self._made += 1
        self._waiting[trial_id] = config
        self._used.append(sorted(config.items()))
        return config

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        config = self._waiting.pop(trial_id, None)
        value = (result or {}).get(self.metric)
        if config is not None and not error and isinstance(value, (int, float)) \
                and math.isfinite(value):
            self._told.append([config, float(value)])

    # -- the contract ------------------------------------------------------------------
    def get_state(self) -> dict:
        return {"version": 1, "searcher": NAME, "made": self._made, "waiting": dict(self._waiting),
                "told": list(self._told), "used": list(self._used)}

    def set_state(self, state: dict) -> None:
        if state.get("searcher") != NAME or state.get("version") != 1:
            raise ValueError(f"not a {NAME} state: {state.get('searcher')!r}")
        self._made = int(state["made"])
        self._waiting = dict(state["waiting"])
        self._told = [list(cv) for cv in state["told"]]
        self._used = [list(u) for u in state["used"]]

    def progress(self) -> Progress:
        return Progress(self._made, len(self._told), len(self._waiting))

    def observe(self, config: dict, value: float) -> bool:
        if not self.space.contains(config) or not math.isfinite(value):
            return False
        self._told.append([dict(config), float(value)])
        self._used.append(sorted(config.items()))
        return True

    def pending_points(self) -> Mapping[str, dict]:
        return MappingProxyType(self._waiting)

    def has_suggested(self, config: dict) -> bool:
        key = sorted(config.items())
        return any(sorted(map(tuple, u)) == key for u in self._used)

    def adopt(self, trial_id: str, config: dict) -> None:
        self._waiting[trial_id] = dict(config)
        self._used.append(sorted(config.items()))
        self._made += 1

    def rename_pending(self, old_id: str | None, new_id: str, config: dict) -> None:
        self._waiting.pop(old_id, None)
        self._waiting[new_id] = dict(config)

    def drop_pending(self, trial_id: str) -> None:
        self._waiting.pop(trial_id, None)

    def set_max_trials(self, max_trials: int | None) -> None:
        self._cap = max_trials


def register() -> None:
    """Add this searcher to the registry of the process that runs a driver."""
    import searchers
    from searchers._options import REGISTRY, Entry, Random

    REGISTRY[NAME] = Entry(f"{__name__}:ContractSearcher", Random)  # no options
    searchers.SEARCHERS[NAME] = REGISTRY[NAME].target


def main(argv: list[str]) -> int:
    """``python -m tests.reliability.contract_searcher <hpsearch CLI args>``: the CLI, with
    this searcher registered (a driver process of the contract test)."""
    register()
    from hpsearch.cli import main as cli

    return cli(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
