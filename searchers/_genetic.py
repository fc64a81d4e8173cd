"""Genetic search: a steady-state genetic algorithm built from DEAP operators.

Results from Ray Tune arrive asynchronously and out of order, so there are no
generations to wait for: each suggestion breeds one child from the individuals
evaluated so far, and each result joins the pool the moment it arrives.

* **Genome.** One gene per parameter: Float and Int genes live in the unit
  interval (``to_unit``/``from_unit``, so log parameters mutate in log space and
  ints decode to ints within bounds); a Categorical gene is the value's index.
* **Population size.** ``population_size`` (default: 1.5 x sqrt(budget),
  within [max(4, concurrency), 20]; 20 without a budget) and ``elitism``
  (default: a quarter of it).
* **Initial population.** The first ``population_size`` suggestions are a
  scrambled Sobol design (warm-start observations count toward it); breeding
  starts once half of them have results, so pending batches do not stretch
  the random phase.
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
* **Diverse batches.** While trials are pending, four children are bred and
  the one farthest from the pending configurations is suggested, so the
  children of one batch are not near-clones.
* **Several objectives.** A multi-objective variant (NSGA-II) subclasses this
  searcher and replaces ``_population`` (rank by non-domination and crowding)
  and the toolbox's ``select``; breeding, genomes, batches and state are shared.
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
import math
import random
from typing import Any, Iterator

from ray.tune.search import Searcher

from hpsearch.exceptions import SpecError
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
        self.population_size = (o["population_size"] if o["population_size"] is not None
                                else population_size(self.max_trials, self.max_concurrent))
        self.elitism = o["elitism"] if o["elitism"] is not None else max(1, self.population_size // 4)
        if self.elitism > self.population_size:
            raise SpecError(f"must not exceed population_size ({self.population_size}), "
                            f"got {o['elitism']!r}", "searcher.elitism")

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
        self.n_warm = 0  # warm-start observations, counted toward the first population

    # -- base hooks -----------------------------------------------------------------
    def _tell(self, config: dict, loss: float) -> None:
        self.genomes.append(self._encode(config))

    def _ask(self) -> dict | str:
        o, n = self.opts, self.population_size
        if o["generations"] is not None and self.n_suggested >= n * (1 + o["generations"]):
            return Searcher.FINISHED
        # The first population is a space-filling design (warm-start results count
        # toward it); breeding starts as soon as half of it has results, so a
        # batch of pending trials does not stretch the random phase.
        if self.n_suggested + self.n_warm < n or len(self.observations) < max(2, n // 2):
            return self.design_point(self.n_suggested)
        population = self._population()
        with _seeded_global_random(int(self.rng.integers(2**63 - 1))):
            # Children of one batch are bred from the same population and came out
            # near-clones: breed a few and keep the one farthest from the pending.
            children = [c for c in (self._child(population) for _ in range(_BROOD if self.pending else 1))
                        if c is not None]
        if not children:
            return self.fresh_sample()
        return max(children, key=self._distance_to_pending)

    def _child(self, population: list[_Individual]) -> dict | None:
        """One new configuration bred from ``population``, or None if only repeats came out."""
        child = self._breed(population)
        if child in population:  # a clone: decoding would only add float round-off
            child = self._mutate(child, force=True)
        for _ in range(10):
            config = self._decode(child)
            if self.space.key(config) not in self.seen:
                return config
            child = self._mutate(child, force=True)
        return None

    def _distance_to_pending(self, config: dict) -> float:
        """The L1 distance in genome units to the nearest pending configuration."""
        if not self.pending:
            return 0.0
        g = self._unit_genome(config)
        return min(sum(abs(a - b) for a, b in zip(g, self._unit_genome(c))) for c in self.pending.values())

    def _unit_genome(self, config: dict) -> list[float]:
        config = self.space.fill(config)
        return [p.to_unit(config[p.name]) for p in self.space.params]

    # -- the algorithm ----------------------------------------------------------------
    def _population(self) -> list[_Individual]:
        n, k = self.population_size, self.elitism
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
        # An inactive parameter keeps a placeholder gene: it comes back to life,
        # with a sensible value, in a child whose parent parameter switches it on.
        config = self.space.fill(config)
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
        return self.space.prune(config)

    # -- warm start / state ----------------------------------------------------------------
    def observe(self, config: dict, value: float) -> bool:
        told = super().observe(config, value)
        self.n_warm += told
        return told

    def _core_state(self) -> dict:
        return {"n_warm": self.n_warm}

    def _set_core_state(self, state: dict) -> None:
        self.n_warm = int(state.get("n_warm", 0))  # absent in states saved before it existed
        # The genomes are a cache of the observations the base class restored.
        self.genomes = [self._encode(c) for c, _ in self.observations]


# Children bred per suggestion while trials are pending (the farthest is kept).
_BROOD = 4


def population_size(budget: int | None, concurrency: int | None) -> int:
    """The default population: 1.5 x sqrt(budget) within [max(4, concurrency), 20].

    A population of 20 made the first 24 of 30 evaluations random with batches
    of 8 (issue #20); a population the size of a batch still lets the first
    batch be all-new points. Without a budget, 20.
    """
    if budget is None:
        return 20
    low = max(4, concurrency or 1)
    return max(low, min(20, round(1.5 * math.sqrt(budget))))


@contextlib.contextmanager
def _seeded_global_random(seed: int) -> Iterator[None]:
    """Run DEAP's operators (which use the ``random`` module) on a seeded state."""
    saved = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(saved)
