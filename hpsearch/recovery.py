"""Resuming a study from SQL: the remaining budget, the re-runs, the searcher's state.

SQL is the source of truth after a crash. Tune's own experiment state is saved
every few seconds, so after a SIGKILL it lags: trials that finished since its
last save would run again and trials started since would be forgotten (a
study of 20 ended with 24). So a resume never restores Tune's state; it builds
a fresh Tuner whose searcher is a :class:`BudgetSearcher` that

* first re-runs the trials SQL holds as INTERRUPTED, with the same params and
  under the same trial numbers (same seed, so the same result);
* then asks the study's searcher, restored from ``studies.searcher_state`` (a
  versioned JSON dict) and reconciled with the trials SQL holds, for exactly
  ``budget - trials already in SQL`` new trials.

A study therefore ends with exactly its budget of trials, each present once,
and a Bayesian searcher continues in its model phase instead of starting a
second random phase.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ray.tune.search import Searcher

from hpsearch.store.models import TrialStatus

log = logging.getLogger("hpsearch.recovery")


@dataclass
class Plan:
    """What a (re)started driver still has to run."""

    reruns: list[tuple[int, dict, str | None]] = field(default_factory=list)  # number, params, old ray id
    new: int = 0  # trials the searcher still suggests

    @property
    def total(self) -> int:
        return len(self.reruns) + self.new


class BudgetSearcher(Searcher):
    """Re-runs interrupted trials first, then lets ``inner`` suggest ``plan.new`` trials.

    ``numbers`` (Ray trial id -> trial number of a re-run) is shared with the
    StoreCallback, which records a re-run on the trial row it replaces.
    """

    def __init__(self, inner, plan: Plan):
        super().__init__(metric=inner.metric, mode=inner.mode)
        self.inner = inner
        self.reruns = list(plan.reruns)
        self.new_left = plan.new
        self.numbers: dict[str, int] = {}
        self.oom = None  # hpsearch.oom.OomLedger when the spec retries out-of-memory trials

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return self.inner.set_search_properties(metric, mode, config, **spec)

    def suggest(self, trial_id: str):
        if self.reruns:
            number, params, old = self.reruns.pop(0)
            self.inner.rename_pending(old, trial_id, params)
            if number is not None:
                self.numbers[trial_id] = number
            return dict(params)
        if self.new_left <= 0:
            return Searcher.FINISHED
        config = self.inner.suggest(trial_id)
        if isinstance(config, dict):
            self.new_left -= 1
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        self.inner.on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        retries = self.oom.retries(trial_id) if self.oom is not None else []
        if retries:  # the searcher learns the configuration that finally ran
            config = self.inner.pending_points().get(trial_id)
            if config is not None:
                from hpsearch.oom import revised

                self.inner.rename_pending(trial_id, trial_id, revised(config, retries))
        self.inner.on_trial_complete(trial_id, result, error)

    def get_state(self) -> dict:
        return self.inner.get_state()

    def save(self, checkpoint_path: str) -> None:
        self.inner.save(checkpoint_path)

    def restore(self, checkpoint_path: str) -> None:
        self.inner.restore(checkpoint_path)


def reconcile(searcher, saved_state: dict | None, trials: list, budget: int) -> Plan:
    """Bring ``searcher`` in line with the trials in SQL; return what is left to run.

    ``trials`` are the study's rows (ORM objects, any status; imported ones
    included). Rows left RUNNING/PENDING/PAUSED must have been marked
    INTERRUPTED before (``Store.interrupt_unfinished``). ``searcher`` is used only
    through its documented contract (:class:`searchers._base.ResumableSearcher`).
    """
    metric = searcher.metric
    if saved_state:
        try:
            searcher.set_state(saved_state)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("searcher state not restored (%s); rebuilding it from the trials", exc)
            saved_state = None
    ran = [t for t in trials if t.status != TrialStatus.IMPORTED]
    if not saved_state:
        for t in trials:
            if t.status == TrialStatus.IMPORTED and t.value is not None:
                observe(searcher, t.params, t.value, getattr(t, "values", None))
    plan = Plan()
    recorded = {t.ray_trial_id for t in ran if t.ray_trial_id}
    for t in sorted(ran, key=lambda r: r.number):
        rid = t.ray_trial_id
        known = rid in searcher.pending_points()
        if not known and not searcher.has_suggested(t.params):
            # Suggested after the last saved state: make the searcher count it.
            rid = rid or f"sql-{t.number}"
            searcher.adopt(rid, t.params)
            known = True
        if t.status in TrialStatus.DONE:
            if known and rid in searcher.pending_points():
                # every objective a multi-objective searcher needs, the primary last
                result = {**(getattr(t, "values", None) or {}), metric: t.value} if t.value is not None else None
                searcher.on_trial_complete(rid, result, error=t.status == TrialStatus.ERROR
                                           or t.value is None)
        else:  # INTERRUPTED: run it again under the same number
            plan.reruns.append((t.number, dict(t.params), rid))
    # Suggestions the searcher made that never reached SQL: offer them again first.
    pending = searcher.pending_points()
    for rid in [r for r in list(pending) if r not in recorded and not r.startswith("sql-")]:
        if len(ran) + len([r for r in plan.reruns if r[0] is None]) >= budget:
            searcher.drop_pending(rid)
            continue
        plan.reruns.append((None, dict(pending[rid]), rid))
    unnumbered = sum(1 for r in plan.reruns if r[0] is None)
    plan.new = max(0, budget - len(ran) - unnumbered)
    # The budget is the BudgetSearcher's to enforce; the searcher's own cap would
    # count suggestions of a run that never reached SQL.
    searcher.set_max_trials(None)
    log.info("resume: %d trials in SQL, %d to run again, %d new; searcher state %s "
             "(%s, pending %s)", len(ran), len(plan.reruns), plan.new,
             "restored" if saved_state else "rebuilt", searcher.progress(),
             sorted(searcher.pending_points()))
    return plan


def observe(searcher, params: dict, value: float, values: dict | None) -> bool:
    """Tell a finished trial of an earlier run; a multi-objective searcher (which has
    ``set_objectives``) also gets every objective's value."""
    if hasattr(searcher, "set_objectives"):
        return searcher.observe(params, value, values)
    return searcher.observe(params, value)
