"""Genetic search: a steady-state genetic algorithm built from DEAP operators.

Results from Ray Tune arrive asynchronously and out of order, so there are no
generations to wait for: each suggestion breeds one child from the individuals
evaluated so far, and each result joins the pool the moment it arrives.

* **Genome.** One gene per parameter: Float and Int genes live in the unit
  interval (``to_unit``/``from_unit``, so log parameters mutate in log space and
  ints decode to ints within bounds); a Categorical gene is the value's index.
* **Initial population.** Seeded random samples until ``population_size``
  results are in (warm-start observations count).
* **Population.** The ``elitism`` best results ever seen plus the most recent
  others, ``population_size`` in all: elites keep the best genes, recency lets
  the population move.
* **Breeding.** Tournament selection (``tournament_size``); with probability
  ``crossover_prob`` simulated-binary crossover on numeric genes and uniform
  crossover on categorical ones; with probability ``mutation_prob`` Gaussian
  mutation (``mutation_sigma`` in unit space, clipped) of each numeric gene and
  uniform resampling of each categorical gene, each gene with probability
  1/len(genome). A child equal to a pending or evaluated configuration is
  mutated again, then replaced by a random sample.
* **Failed trials** (errors, NaN/inf) never join the population.
* **generations** (optional) caps the search at ``population_size x (1 +
  generations)`` suggestions, after which it returns ``Searcher.FINISHED``.

DEAP's operators draw from the global ``random`` module; each suggestion runs
them on a ``random`` state seeded from this searcher's own generator and puts
the global state back afterwards, so the searcher is reproducible and leaves
other users of ``random`` alone.
"""
from __future__ import annotations

import contextlib
import heapq
import random
from typing import Any, Iterator

from ray.tune.search import Searcher

from hpsearch.space import Categorical
from searchers._base import BaseSearcher


class _Individual(list):
    """A genome with a DEAP-style ``fitness`` attribute (higher is better).

    A plain subclass instead of ``deap.creator.create``: the creator registers
    classes globally, and two searchers in one process must not share state.
    """

    fitness: float


class GeneticSearcher(BaseSearcher):
    """Steady-state GA over a mixed space.

    >>> from hpsearch.space import Space
    >>> from searchers import create_searcher
    >>> s = create_searcher("genetic", Space.from_spec({"x": {"uniform": [-1, 1]}}),
    ...                     metric="loss", mode="min", seed=0, population_size=4)
    >>> for i in range(8):
    ...     s.on_trial_complete(str(i), {"loss": s.suggest(str(i))["x"] ** 2})
    """

    def __init__(self, *args: Any, **kwargs: Any):
        from deap import base, tools

        super().__init__(*args, **kwargs)
        o = self.opts  # checked against searchers/_options.py:Genetic by create_searcher

        params = self.space.params
        self.numeric = [i for i, p in enumerate(params) if not isinstance(p, Categorical)]
        self.categorical = [i for i, p in enumerate(params) if isinstance(p, Categorical)]
        indpb = 1.0 / len(params)
        self.toolbox = base.Toolbox()
        self.toolbox.register("select", tools.selTournament, tournsize=o["tournament_size"])
        self.toolbox.register("mate_numeric", tools.cxSimulatedBinaryBounded, eta=15.0, low=0.0, up=1.0)
        self.toolbox.register("mate_categorical", tools.cxUniform, indpb=0.5)
        self.toolbox.register("mutate_numeric", tools.mutGaussian, mu=0.0,
                              sigma=o["mutation_sigma"], indpb=indpb)
        self.toolbox.register("mutate_categorical", tools.mutUniformInt,
                              low=[0] * len(self.categorical),
                              up=[len(params[i].values) - 1 for i in self.categorical], indpb=indpb)
        self.genomes: list[list] = []  # the genome of each observation, in order

    # -- base hooks -----------------------------------------------------------------
    def _tell(self, config: dict, loss: float) -> None:
        self.genomes.append(self._encode(config))

    def _ask(self) -> dict | str:
        o = self.opts
        if o["generations"] is not None and self.n_suggested >= o["population_size"] * (1 + o["generations"]):
            return Searcher.FINISHED
        if len(self.observations) < o["population_size"]:
            return self.fresh_sample()
        population = self._population()
        with _seeded_global_random(int(self.rng.integers(2**63 - 1))):
            child = self._breed(population)
            if child in population:  # a clone: decoding would only add float round-off
                child = self._mutate(child, force=True)
            for _ in range(10):
                config = self._decode(child)
                if self.space.key(config) not in self.seen:
                    return config
                child = self._mutate(child, force=True)
        return self.fresh_sample()

    # -- the algorithm ----------------------------------------------------------------
    def _population(self) -> list[_Individual]:
        n, k = self.opts["population_size"], self.opts["elitism"]
        losses = [loss for _, loss in self.observations]
        elite = heapq.nsmallest(k, range(len(losses)), key=losses.__getitem__) if k else []
        chosen = set(elite)
        recent: list[int] = []
        for i in range(len(losses) - 1, -1, -1):
            if len(recent) == n - len(elite):
                break
            if i not in chosen:
                recent.append(i)
        population = []
        for i in sorted(elite + recent):
            ind = _Individual(self.genomes[i])
            ind.fitness = -losses[i]
            population.append(ind)
        return population

    def _breed(self, population: list[_Individual]) -> _Individual:
        o = self.opts
        if random.random() < o["crossover_prob"]:
            a, b = (_Individual(p) for p in self.toolbox.select(population, 2))
            child = self._mate(a, b)
        else:
            child = _Individual(self.toolbox.select(population, 1)[0])
        if random.random() < o["mutation_prob"]:
            child = self._mutate(child)
        return child

    def _mate(self, a: _Individual, b: _Individual) -> _Individual:
        if self.numeric:
            na, nb = [a[i] for i in self.numeric], [b[i] for i in self.numeric]
            self.toolbox.mate_numeric(na, nb)
            for i, v in zip(self.numeric, na):
                a[i] = min(1.0, max(0.0, v))
        if self.categorical:
            ca, cb = [a[i] for i in self.categorical], [b[i] for i in self.categorical]
            self.toolbox.mate_categorical(ca, cb)
            for i, v in zip(self.categorical, ca):
                a[i] = v
        return a

    def _mutate(self, child: _Individual, force: bool = False) -> _Individual:
        """Mutate genes with probability 1/len(genome); ``force``: at least one."""
        child = _Individual(child)
        before = list(child)
        for _ in range(10):
            if self.numeric:
                genes = [child[i] for i in self.numeric]
                self.toolbox.mutate_numeric(genes)
                for i, v in zip(self.numeric, genes):
                    child[i] = min(1.0, max(0.0, v))
            if self.categorical:
                genes = [child[i] for i in self.categorical]
                self.toolbox.mutate_categorical(genes)
                for i, v in zip(self.categorical, genes):
                    child[i] = v
            if not force or child != before:
                break
        return child

    # -- genome <-> config -------------------------------------------------------------
    def _encode(self, config: dict) -> list:
        return [p.index(config[p.name]) if isinstance(p, Categorical) else p.to_unit(config[p.name])
                for p in self.space.params]

    def _decode(self, genome: list) -> dict:
        config = {}
        for p, g in zip(self.space.params, genome):
            if isinstance(p, Categorical):
                config[p.name] = p.values[int(g)]
            else:
                # Clamped: exp(log(low) + 1.0 * (log(high) - log(low))) can round past high.
                config[p.name] = min(p.high, max(p.low, p.from_unit(g)))
        return config

    # -- state ---------------------------------------------------------------------------
    def _set_core_state(self, state: dict) -> None:
        # The genomes are a cache of the observations the base class restored.
        self.genomes = [self._encode(c) for c, _ in self.observations]


@contextlib.contextmanager
def _seeded_global_random(seed: int) -> Iterator[None]:
    """Run DEAP's operators (which use the ``random`` module) on a seeded state."""
    saved = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(saved)
