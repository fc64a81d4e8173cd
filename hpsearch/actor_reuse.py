"""Actor reuse that lets every node of a cluster take trials (Ray Tune, pinned version).

Ray Tune reuses a finished trial's actor (its process) for the next trial. When one is
free, Tune (2.60, ``TuneController._maybe_reuse_cached_actor``) hands it to a PENDING
trial even if that trial's own actor is still starting, and kills the starting actor. A
node whose workers start later than the first trials end (a second node, a loaded
machine, a trainable that imports torch) then never runs a trial: with trials shorter
than an actor's start, every actor starting there is killed for one of the first node's
(#21: 160 trials of 0.5 s, 8 slots over two nodes, all ran on the head's 4 slots).

:func:`install` changes one thing, on a cluster of several nodes: an actor that is
starting on a node (its resources held there) keeps its trial, and a free actor takes a
trial that has none (the next one the searcher gives: a finished trial frees its place
under ``max_concurrent``). A trial still waiting for resources (say for a node to join)
is given a free actor as before. The cost: a study's last trials may wait for their
actors to start while a free one idles (at most one actor start, a few seconds, once per
study); the gain: every node that holds a trial's resources runs trials.

On one node (a laptop's local Ray) Tune's rule stands: every actor is on that node, so
a warm free actor is the sooner start and nothing is lost by ending one still starting.
The node count is Ray's list of alive nodes, read at most every few seconds, so a node
that joins a running study changes the rule for its next trials.

It also lets a scheduler keep processes Tune would end. Once the searcher has no trial
left to create and none is staged, Tune ends each finishing trial's actor
(``TuneController._maybe_cache_trial_actor``), and at each step's end it ends the cached
actors no staged trial needs (``_cleanup_cached_actors``). A scheduler with a
``hold_actor(controller, resources)`` method is asked first, for each such actor; when it
says yes, the actor stays in Tune's cache (its slot held, the cache's count raised) for a
trial the scheduler stages later, which then starts in it at once
(``schedulers.FillingASHA`` resumes a paused trial there when the study's horizon
allows). The scheduler gives the hold back with the cache's ``decrease_max``.
"""
from __future__ import annotations

import logging
import time

log = logging.getLogger("hpsearch")

_MARK = "_hpsearch_keeps_starting_actors"
_NODES_TTL_S = 5.0
_nodes = {"count": 1, "read_at": float("-inf")}


def several_nodes() -> bool:
    """Whether the driver's Ray cluster has more than one alive node (cached a few s)."""
    now = time.monotonic()
    if now - _nodes["read_at"] > _NODES_TTL_S:
        import ray

        try:
            _nodes["count"] = sum(1 for node in ray.nodes() if node.get("Alive"))
        except Exception:  # noqa: BLE001 - no answer: keep the last count
            pass
        _nodes["read_at"] = now
    return _nodes["count"] > 1


def install() -> bool:
    """Patch Tune's controller once per process; False (and Tune's own rule) if this Ray
    has no such method to wrap."""
    from ray.tune.execution.tune_controller import TuneController

    _install_hold(TuneController)
    original = getattr(TuneController, "_maybe_reuse_cached_actor", None)
    if original is None:
        log.warning("Ray Tune has no _maybe_reuse_cached_actor: actor reuse left as Tune's")
        return False
    if getattr(original, _MARK, False):
        return True

    def _maybe_reuse_cached_actor(self, trial) -> bool:
        if not several_nodes():
            return original(self, trial)
        own = self._trial_to_actor.get(trial)
        # Its own actor holds its resources on a node and its process is starting (an actor
        # still waiting for resources is not: a free actor takes that trial, as before).
        starting = (own is not None and trial not in self._resetting_trials
                    and self._actor_manager.is_actor_started(own))
        if starting:
            return False  # keep it; the free actor takes the searcher's next trial
        return original(self, trial)

    setattr(_maybe_reuse_cached_actor, _MARK, True)
    _maybe_reuse_cached_actor.__wrapped__ = original
    TuneController._maybe_reuse_cached_actor = _maybe_reuse_cached_actor
    return True


def _install_hold(TuneController) -> None:
    """Wrap ``_maybe_cache_trial_actor`` and ``_cleanup_cached_actors``: an actor Tune would
    end is kept when the scheduler's ``hold_actor`` asks for it (the module's docstring)."""
    cache_actor = getattr(TuneController, "_maybe_cache_trial_actor", None)
    cleanup = getattr(TuneController, "_cleanup_cached_actors", None)
    if cache_actor is None or cleanup is None:
        log.warning("Ray Tune's actor cache is not as expected: no scheduler holds an actor")
        return
    if getattr(cache_actor, _MARK, False):
        return

    def _maybe_cache_trial_actor(self, trial) -> bool:
        if cache_actor(self, trial):
            return True
        hold = getattr(self._scheduler_alg, "hold_actor", None)
        tracked = self._trial_to_actor.get(trial)
        resources = trial.placement_group_factory
        if (hold is None or not self._reuse_actors or tracked is None
                or not self._actor_manager.is_actor_started(tracked)
                or self._actor_manager.is_actor_failed(tracked)
                or tracked not in self._started_actors
                or not hold(self._wrapped(), resources)):
            return False
        # the scheduler gives it back (decrease_max), also where the actor is not kept
        self._actor_cache.increase_max(resources)
        if not self._actor_cache.cache_object(resources, tracked):
            return False
        # as Tune does for an actor it caches
        self._actor_to_trial.pop(self._trial_to_actor.pop(trial))
        trial.set_ray_actor(None)
        return True

    def _cleanup_cached_actors(self, force_all: bool = False):
        hold = getattr(self._scheduler_alg, "hold_actor", None)
        cache = self._actor_cache
        if hold is not None and not force_all and cache.num_cached_objects:
            for resources, kept in list(cache._cached_objects.items()):
                # each one the cache's count does not cover would be ended now
                while (len(kept) > cache._max_num_objects[resources]
                       and hold(self._wrapped(), resources)):
                    cache.increase_max(resources)
        return cleanup(self, force_all)

    for wrapper, original in ((_maybe_cache_trial_actor, cache_actor),
                              (_cleanup_cached_actors, cleanup)):
        setattr(wrapper, _MARK, True)
        wrapper.__wrapped__ = original
        setattr(TuneController, original.__name__, wrapper)
