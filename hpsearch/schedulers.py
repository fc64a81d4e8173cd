"""Early-stopping schedulers, chosen by name in the spec.

``scheduler: {type: asha, grace_period: 1, reduction_factor: 3}``. Options are
checked here without importing Ray; :func:`build` makes the Ray Tune object.
Time is counted in ``training_iteration`` (one per reported epoch).
"""
from __future__ import annotations

import collections
import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import Field

from hpsearch.exceptions import SpecError
from hpsearch.options import MAX_TRIALS, Bool, Float, Int, Options
from hpsearch.options import check as check_options

OTHERS_EVERY_S = 0.5  # FillingASHA asks Ray whether other work waits at most this often

# Each scheduler's options, declared once (an option is one line). Times count
# reported epochs; ``max_t: None`` means the spec's ``fixed.epochs``.


class Fifo(Options):
    """No early stopping: every trial runs to its end."""


class Asha(Options):
    max_t: Int | None = Field(None, ge=1, le=100_000)
    grace_period: Int = Field(1, ge=1, le=100_000)
    reduction_factor: Float = Field(3, gt=1, le=100)
    brackets: Int = Field(1, ge=1, le=10)
    # A trial ASHA stops when no trial is left to start goes on while it ends before the
    # study would anyway (FillingASHA): the slot would otherwise sit idle.
    fill_idle: Bool = True


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
    return _filling_asha_class()(metric=metric, mode=mode, time_attr="training_iteration",
                                 max_t=max_t, grace_period=opts["grace_period"],
                                 reduction_factor=opts["reduction_factor"],
                                 brackets=opts["brackets"], fill_idle=opts["fill_idle"])


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


@dataclass
class _Pace:
    """A trial's last result as the scheduler saw it: when, at which iteration, the trial's
    own time then, and its seconds per iteration between two results (None until it has
    two: a first result's time includes the trial's setup)."""

    at: float
    iteration: float
    total_s: float | None
    per_iter: float | None = None
    first: float | None = None  # a run's first result: seconds from its (re)start
    run_iters: float = 1  # iterations that first result covers
    restarted: bool = False  # paused: the next result is a new run's first

    def first_guess(self) -> float | None:
        """Seconds per iteration from the first result alone (setup included: too many)."""
        return self.total_s / self.iteration if self.total_s and self.iteration > 0 else None


def _filling_asha_class():
    """Ray's ASHA, except that a stop that would leave a slot idle waits (``fill_idle``).

    ASHA stops a trial to give its slot to a new one. Once the searcher has no trial left
    to start (the budget's last trials are running, none pending), a stop frees a slot
    that nothing takes: the study's survivors run their last rungs alone. Here such a
    trial goes on instead, one iteration at a time, while its next iteration ends before
    the time the study runs anyway: the latest next decision point (rung or ``max_t``) of
    the trials still running on ASHA's terms, each of which surely trains until then.
    Times come from each trial's pace between results (for a trial with one result, the
    study's median or its first result's time: the slower for the trial that would go on,
    the faster for those that set the horizon). Nothing else may wait for the cluster
    meanwhile (another study's trials, any job's tasks or placement groups): their claim
    on a freed slot comes first, and ASHA's stop stands.

    A slot can still go idle at the end: its trial reached ``max_t`` before the last
    survivor. So in the budget's last wave (no more trials left to create than are
    running), a trial ASHA stops that has just saved a checkpoint is paused, not ended:
    its slot goes to the next trial as before, and the searcher learns its result as for
    a stop. When a trial ends and nothing else would take its slot, the paused trial
    furthest along resumes there from that checkpoint, under the same rule. When none fits
    yet, the ended trial's process is held for them (:meth:`hold_actor`): the horizon grows
    as a survivor passes a rung, and the first paused trial that fits then resumes in it.
    Those still paused when the last trial ends are ended where ASHA stopped them.

    The study ends no later, its slots stay busy, and a late bloomer gets more epochs for
    free. The trial ends EARLY_STOPPED (or COMPLETED at its last epoch), its last event
    saying why (``stops``, read by the store's callback). Its later results are not
    recorded in ASHA's rungs: they move no cutoff.
    """
    from ray.tune.experiment import Trial
    from ray.tune.result import SHOULD_CHECKPOINT
    from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

    class FillingASHA(AsyncHyperBandScheduler):
        def __init__(self, *args, fill_idle: bool = True, **kwargs):
            super().__init__(*args, **kwargs)
            self._fill_idle = fill_idle
            self._filling: set[str] = set()  # trials going on past ASHA's stop
            # trial id -> (iteration, score: higher is better) of a trial paused where ASHA
            # stopped it
            self._parked: dict[str, tuple[float, float]] = {}
            # trial id -> (the epoch ASHA stopped it at, what came of it: "filled",
            # "paused", "resumed"), until the store's callback takes it at the trial's end
            self.stops: dict[str, tuple[float, str]] = {}
            # trials paused or resumed since the store's callback last looked
            self.news: list[tuple[str, str, float]] = []
            self._pace: dict[str, _Pace] = {}
            self._recent = collections.deque(maxlen=64)  # the last seconds per iteration seen
            self._setup = collections.deque(maxlen=64)  # a (re)start's seconds before training
            self._asked_at, self._others = -math.inf, True  # _others_wait's last answer
            # resources of ended trials' processes kept for paused trials (hold_actor)
            self._held: list = []

        def on_trial_result(self, tune_controller, trial, result):
            tid = trial.trial_id
            it = result.get(self._time_attr)
            if it is not None:
                self._note(tid, it, result.get("time_total_s"))
            action = self._decide(tune_controller, trial, result, it)
            if self._held:  # the horizon may have grown: a held process may take a trial
                self._resume_held(tune_controller, ended=tid if action != TrialScheduler.CONTINUE
                                  else None)
            return action

        def _decide(self, tune_controller, trial, result, it):
            """ASHA's decision for a result, with the fill and the last wave's pause."""
            tid = trial.trial_id
            if tid in self._filling:
                if self._may_train_on(tune_controller, tid, it):
                    return TrialScheduler.CONTINUE
                self._num_stopped += 1
                return TrialScheduler.STOP
            action = super().on_trial_result(tune_controller, trial, result)
            if action != TrialScheduler.STOP or not self._fill_idle or it is None:
                return action
            if (_nothing_to_start(tune_controller, self._ours())
                    and self._may_train_on(tune_controller, tid, it)):
                self._filling.add(tid)
                self.stops[tid] = (it, "filled")
                self._num_stopped -= 1
                return TrialScheduler.CONTINUE
            if (it < self._max_t and result.get(SHOULD_CHECKPOINT)
                    and _last_wave(tune_controller)):
                # Paused with the checkpoint it just saved. The searcher learns the result
                # now, as for a stop (and its concurrency limit frees the slot); it ignores
                # the trial's end later.
                tune_controller.search_alg.on_trial_complete(tid, result=result)
                score = result.get(self._metric)  # higher is better, as in ASHA's rungs
                score = float(score) * self._metric_op if isinstance(score, (int, float)) else None
                self._parked[tid] = (it, score if score is not None and math.isfinite(score)
                                     else -math.inf)
                self.stops[tid] = (it, "paused")
                self.news.append((tid, "paused", it))
                if tid in self._pace:  # its next result's time includes the restart
                    self._pace[tid].restarted = True
                return TrialScheduler.PAUSE
            return action

        def choose_trial_to_run(self, tune_controller):
            """Ray's choice (pending trials, then paused ones), except for the trials paused
            here: those resume only in a process another leaves (:meth:`_hand_over`,
            :meth:`_resume_held`). Once no trial runs, those still paused end where ASHA
            stopped them, and held processes are given back."""
            if not self._parked:
                return super().choose_trial_to_run(tune_controller)
            trials = tune_controller.get_trials()
            running, parked = 0, []
            for t in trials:
                if t.status == Trial.PENDING:
                    return t
                if t.status == Trial.RUNNING:
                    running += 1
                elif t.status == Trial.PAUSED:
                    if t.trial_id not in self._parked:
                        return t
                    parked.append(t)
            if not running and _nothing_to_start(tune_controller, self._ours()):
                for t in parked:  # nothing runs that could make room for them: they end
                    tune_controller.stop_trial(t)
                self._release(tune_controller)
            return None

        def on_trial_complete(self, tune_controller, trial, result):
            self._pace.pop(trial.trial_id, None)
            if trial.trial_id in self._filling:  # its last result moves no cutoff
                self._filling.discard(trial.trial_id)
                self._trial_info.pop(trial.trial_id, None)
            else:
                super().on_trial_complete(tune_controller, trial, result)
            self._hand_over(tune_controller, trial.trial_id)

        def _hand_over(self, tune_controller, ended: str) -> None:
            """A trial ends and nothing else would take its slot: the paused trial furthest
            along resumes there if its restart and next iteration end within the horizon.

            It is staged now, as the ended trial's process stops: Tune keeps a stopping
            trial's process for reuse only while a trial is staged once the search is over,
            so the paused trial restarts in that process (about as fast as a new trial
            takes a reused one) instead of waiting seconds for a new one. That takes
            Tune's staging set and actor cache, which its scheduler API does not offer;
            where they are missing, nothing resumes and the paused trials end as ASHA
            stopped them. If none fits yet, :meth:`hold_actor` may keep the process."""
            if self._held:
                self._resume_held(tune_controller, ended)
            if not self._parked or not _nothing_to_start(tune_controller, self._ours()):
                return
            inner = _inner(tune_controller)
            if inner is None:
                return
            trial = self._best_parked(tune_controller)
            if trial is None or not self._may_resume(tune_controller, trial.trial_id, ended):
                return
            self._resume(tune_controller, inner, trial)
            inner._actor_cache.increase_max(trial.placement_group_factory)

        def hold_actor(self, tune_controller, resources) -> bool:
            """Whether Tune should keep a process (of ``resources``) it would end now: one
            whose trial ended, the search being over, or one cached that no staged trial
            needs (asked by hpsearch/actor_reuse.py's patch).

            Yes while a trial is paused here and nothing else waits for the cluster: none
            fits the horizon now, but the horizon grows as the survivors pass a rung, and a
            kept process takes a resumed trial at once (a new one takes seconds to start).
            :meth:`_resume_held` resumes one there, on any result, as soon as it fits; the
            hold is given back once nothing is paused or something else waits. (A trial
            this study still starts takes a held process as Tune takes any cached one.)"""
            if not self._fill_idle or not self._parked or self._others_wait():
                return False
            self._held.append(resources)
            return True

        def _resume_held(self, tune_controller, ended: str | None) -> None:
            """Resume the paused trials that fit the horizon in the processes held for
            them (:meth:`hold_actor`); give the holds back once none is paused or something
            else waits for the cluster. ``ended``: a trial ending now, no part of the
            horizon."""
            inner = _inner(tune_controller)
            if inner is None:
                self._held.clear()
                return
            cache = inner._actor_cache
            while self._held:
                if not self._parked or self._others_wait():
                    self._release(tune_controller)
                    return
                resources = self._held[-1]
                if not cache.has_cached_object(resources):  # Tune did not keep it after all
                    cache.decrease_max(self._held.pop())
                    continue
                if not _nothing_to_start(tune_controller, self._ours()):
                    return  # a trial yet to start comes first: Tune gives it a held process
                trial = self._best_parked(tune_controller)
                if trial is None or not self._may_resume(tune_controller, trial.trial_id, ended):
                    return
                self._held.pop()  # the staged trial takes its place in the cache's count
                self._resume(tune_controller, inner, trial)
                inner._schedule_trial_actor(trial)  # Tune's own start: takes the kept process

        def _release(self, tune_controller) -> None:
            """Give back every held process (Tune ends them at its step's end)."""
            inner = _inner(tune_controller)
            while inner is not None and self._held:
                inner._actor_cache.decrease_max(self._held.pop())
            self._held.clear()

        def _best_parked(self, tune_controller):
            """The paused trial furthest along (then best), or None."""
            if not self._parked:
                return None
            best = max(self._parked, key=self._parked.get)
            return next((t for t in tune_controller.get_trials()
                         if t.trial_id == best and t.status == Trial.PAUSED), None)

        def _resume(self, tune_controller, inner, trial) -> None:
            """Mark paused ``trial`` resumed, PENDING and staged in Tune's controller
            ``inner``; the caller gives it a process."""
            it, _ = self._parked.pop(trial.trial_id)
            self._filling.add(trial.trial_id)
            self.stops[trial.trial_id] = (it, "resumed")
            self.news.append((trial.trial_id, "resumed", it))
            tune_controller._set_trial_status(trial, Trial.PENDING)
            inner._staged_trials.add(trial)

        def _ours(self) -> set[str]:
            """Trials paused here, or resumed and not yet running: none is a trial to start."""
            return self._parked.keys() | self._filling

        def on_trial_remove(self, tune_controller, trial):
            self._pace.pop(trial.trial_id, None)
            self._filling.discard(trial.trial_id)
            self._parked.pop(trial.trial_id, None)
            self._trial_info.pop(trial.trial_id, None)

        def _may_train_on(self, tune_controller, tid: str, it) -> bool:
            """Whether ``tid``, at iteration ``it``, may train one more iteration in a slot
            nothing else would use: before ``max_t``, within the study's horizon, and with
            nothing else waiting for the cluster."""
            return (it is not None and it < self._max_t and self._fits(tune_controller, tid)
                    and not self._others_wait())

        def _may_resume(self, tune_controller, tid: str, ended: str) -> bool:
            """Whether paused ``tid`` may restart in ``ended``'s process and train one
            iteration within the horizon (the restart: the study's median setup so far),
            nothing else waiting."""
            setup = statistics.median(self._setup) if self._setup else 0.0
            return (self._fits(tune_controller, tid, extra=setup, ended=ended)
                    and not self._others_wait())

        def _others_wait(self) -> bool:
            """Whether anything in the Ray cluster waits for resources (another study's
            trials, any job's tasks, actors or placement groups): a stop's freed slot is
            theirs then. Asked of Ray at most every OTHERS_EVERY_S."""
            now = time.monotonic()
            if now - self._asked_at >= OTHERS_EVERY_S:
                self._asked_at, self._others = now, _cluster_demand()
            return self._others

        def _note(self, tid: str, it: float, total_s: Any) -> None:
            total = float(total_s) if isinstance(total_s, (int, float)) else None
            prev = self._pace.get(tid)
            if prev is None or prev.restarted:  # a run's first result: setup included
                base = prev.total_s if prev is not None else 0.0
                first = total - base if total is not None and base is not None else None
                per_iter = prev.per_iter if prev is not None else None
                done = it - prev.iteration if prev is not None else it
                self._pace[tid] = _Pace(time.monotonic(), it, total, per_iter, first=first,
                                        run_iters=max(1, done))
                return
            per_iter = prev.per_iter
            if prev.total_s is not None and total is not None and it > prev.iteration:
                per_iter = (total - prev.total_s) / (it - prev.iteration)
                self._recent.append(per_iter)
                if prev.first is not None:  # the run's second result: its setup is known
                    self._setup.append(max(0.0, prev.first - per_iter * prev.run_iters))
            self._pace[tid] = _Pace(time.monotonic(), it, total, per_iter)

        def _fits(self, tune_controller, tid: str, extra: float = 0.0,
                  ended: str | None = None) -> bool:
            """Whether ``tid``'s next iteration (after ``extra`` seconds) ends before the
            study's surely-busy horizon (``ended``: a trial ending now, no part of it)."""
            now = time.monotonic()
            typical = statistics.median(self._recent) if self._recent else None
            me = self._pace.get(tid)
            # A trial with one result: the slower of the study's pace and its own first
            # (setup included) for itself, the faster for those that set the horizon.
            mine = me.per_iter or _either(max, typical, me.first_guess()) if me else typical
            if mine is None:
                return False
            horizon = now
            for t in tune_controller.get_trials():
                if (t.status != Trial.RUNNING or t.trial_id in (tid, ended)
                        or t.trial_id in self._filling):
                    continue
                p, bracket = self._pace.get(t.trial_id), self._trial_info.get(t.trial_id)
                it = p.iteration if p else 0
                rungs = [m for m, _ in bracket._rungs] if bracket is not None else []
                nxt = min([m for m in rungs if m > it] + [self._max_t])
                pace = p.per_iter or _either(min, typical, p.first_guess()) if p else typical
                if pace is not None and nxt > it:
                    horizon = max(horizon, (p.at if p else now) + pace * (nxt - it))
            return now + extra + mine <= horizon

    return FillingASHA


def _inner(tune_controller):
    """Tune's controller with the staging set and actor cache that resumes use (Tune
    passes it to schedulers itself or wrapped), or None where this Ray has neither."""
    inner = getattr(tune_controller, "_tune_controller", tune_controller)
    if (not isinstance(getattr(inner, "_staged_trials", None), set)
            or not hasattr(getattr(inner, "_actor_cache", None), "increase_max")
            or not hasattr(inner, "_schedule_trial_actor")):
        return None
    return inner


def _either(pick, a: float | None, b: float | None) -> float | None:
    """``pick(a, b)`` of those known (None if neither is)."""
    known = [v for v in (a, b) if v is not None]
    return pick(known) if known else None


def _cluster_demand() -> bool:
    """Whether Ray's cluster has resource requests waiting (tasks, actors, placement groups
    of any job), as its autoscaler sees them; True when that cannot be read."""
    try:
        import ray
        from ray.autoscaler.v2.sdk import get_cluster_resource_state

        state = get_cluster_resource_state(ray._private.worker.global_worker.gcs_client)
    except Exception:  # noqa: BLE001 - unknown: stop as Ray's ASHA would
        return True
    return bool(state.pending_resource_requests or state.pending_gang_resource_requests)


def _nothing_to_start(tune_controller, ours=()) -> bool:
    """No trial is pending and the searcher will suggest none: a freed slot stays idle.
    Trials in ``ours`` (paused or resumed by FillingASHA) do not count."""
    search = getattr(tune_controller, "search_alg", None)
    if search is None or not search.is_finished():
        return False
    from ray.tune.experiment import Trial

    return not any(t.status in (Trial.PENDING, Trial.PAUSED) and t.trial_id not in ours
                   for t in tune_controller.get_trials())


def _last_wave(tune_controller) -> bool:
    """Whether the trials the searcher has yet to create are no more than those running:
    the budget's last wave, after which slots go idle one by one."""
    search = getattr(tune_controller, "search_alg", None)
    total, made = getattr(search, "total_samples", None), getattr(search, "_counter", None)
    if not isinstance(total, int) or not isinstance(made, int):
        return False
    from ray.tune.experiment import Trial

    running = sum(t.status == Trial.RUNNING for t in tune_controller.get_trials())
    return total - made <= running


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
