"""Grid search: the Cartesian product of ``grid`` params, others sampled."""
from __future__ import annotations

from ray.tune.search import Searcher

from searchers._base import BaseSearcher


class GridSearcher(BaseSearcher):
    """Walks the full Cartesian product of the space's ``grid`` parameters.

    Every other parameter is sampled (seeded) for each grid point. With
    ``repeats: k`` each grid point is visited k times with fresh samples of
    the others. When the grid is exhausted the searcher returns
    ``Searcher.FINISHED``, so a study's trial count is
    ``min(budget.trials, grid size x repeats)``.
    """

    finishes_when_exhausted = False  # it walks its grid, ``repeats`` times

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        repeats = self.opts["repeats"]  # checked against searchers/_options.py:Grid
        self.position = 0
        self.total = self.space.grid_size() * repeats

    def _ask(self):
        if self.position >= self.total:
            return Searcher.FINISHED
        grid = self.space.grid_params
        # Decode position -> one index per grid param (last param varies fastest).
        index, config = self.position % self.space.grid_size(), {}
        for p in reversed(grid):
            index, i = divmod(index, len(p.values))
            config[p.name] = p.values[i]
        for p in self.space.params:
            if p.name not in config:
                config[p.name] = p.sample(self.rng)
        self.position += 1
        return self.space.prune(config)

    def _core_state(self) -> dict:
        return {"position": self.position}

    def _set_core_state(self, state: dict) -> None:
        self.position = int(state["position"])
