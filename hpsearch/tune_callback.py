"""Tune callbacks: every trial event to SQL as it happens, progress, cancellation.

These objects are pickled into Tune's experiment state (``Tuner.restore`` brings
them back), so they hold only plain data and rebuild connections lazily.
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray.tune import Callback, Stopper

from hpsearch.reporting import BATCH_KEY
from hpsearch.settings import lazily, settings
from hpsearch.status import TrialStatus
from hpsearch.store.writer import (HeartbeatOp, LogOp, MediaOp, PlacementOp, ResultOp, RerunOp,
                                   SearcherStateOp, StatusOp, TrialOp)

log = logging.getLogger("hpsearch")
# How often a driver marks its running trials alive in SQL (a reaper's grace period,
# Store.reap_stale_trials, must be several of these).

DRAIN_CHECK_S = 0.05  # a drain of the sink in flight is looked at no more often than this
# A drain that brings nothing doubles the wait before the next, up to this: most trials print
# little, and each drain is a call to the sink actor plus Ray waits on Tune's loop (at 1,000
# no-op trials, 72 drains and 143 waits: 0.23 ms of the loop per trial, and the sink
# process's CPU beside it). Output that arrives resets the wait to DRAIN_EVERY_S, and so
# does a trial starting in a process not heard from yet (it says where it runs).
DRAIN_IDLE_MAX_S = 2.0

STATE_EVERY_S = 1.0  # the searcher's state goes to SQL at most this often while it changes
# ... and at most this share of the driver loop's time: a state grows with the trials (every
# observation), so a fixed period would make each trial cost more as a study grows.
STATE_SHARE = 0.05


def failpoint(armed: str | None, name: str) -> None:
    """Fault injection for the reliability tests: SIGKILL this process at point ``name``.

    ``armed``: the point ``HPSEARCH_FAILPOINT`` names (``settings().failpoint``, read once
    per study by the callback, not at every trial's end on Tune's loop); None: a no-op.
    """
    if armed == name:
        os.kill(os.getpid(), signal.SIGKILL)

_INF = math.inf
# Keys Tune adds to every result that are not the trainable's own metrics.
_TUNE_KEYS = {"config", "trial_id", "experiment_tag", "date", "timestamp", "hostname", "node_ip",
              "pid", "done", "checkpoint_dir_name", "should_checkpoint", "time_since_restore",
              "iterations_since_restore", "timesteps_since_restore", "episodes_total",
              "timesteps_total", "time_this_iter_s"}


def _number(v: Any) -> float | None:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def clean_metrics(result: dict) -> dict:
    """The trainable's own metrics (JSON-safe: numbers as floats, non-finite ones None)."""
    out = {}
    for k, v in result.items():  # once per result on the driver's loop: the common types first
        if k in _TUNE_KEYS or k[:1] == "_":
            continue
        t = type(v)
        if t is float:
            out[k] = v if -_INF < v < _INF else None  # NaN compares false too
        elif t is int:
            out[k] = _number(v)
        elif t is bool or t is str or isinstance(v, (bool, str)):
            out[k] = v
        elif isinstance(v, (int, float)) or hasattr(v, "item"):
            out[k] = _number(v)
    return out


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _actor_id(trial) -> str | None:
    """The id of the Ray actor (a process) Tune runs ``trial`` in, as the trial's process
    sees it (``ray.get_runtime_context().get_actor_id()``); None when Tune does not say."""
    actor = getattr(getattr(trial, "temporary_state", None), "ray_actor", None)
    actor_id = getattr(actor, "_actor_id", None)
    return actor_id.hex() if actor_id is not None else None


def read_error(trial) -> str:
    """The trial's error with its traceback (Ray's colour codes removed)."""
    path = getattr(trial, "error_file", None)
    if path and Path(path).is_file():
        return _ANSI.sub("", Path(path).read_text(errors="replace"))[-20000:]
    err = trial.get_error() if hasattr(trial, "get_error") else None
    return _ANSI.sub("", str(err)) if err else "the trial failed without an error message"


@dataclass(frozen=True)
class RunContext:
    """What the store callback records about: one study's run by this driver."""

    url: str                         # the database
    study_id: int
    metric: str
    mode: str                        # "min" or "max"
    param_names: tuple[str, ...]     # the config keys that are the search space's
    first_number: int                # the number the first new trial gets
    journal: str | None = None       # where writes go while the database is away
    max_t: int | None = None         # epochs a trial runs when nothing stops it (None: unknown)
    scheduler_max_t: int | None = None  # ASHA's or Hyperband's own max_t: a trial's last epoch
    heartbeat_s: float = field(default_factory=lazily("heartbeat_s"))
    tracked: tuple[str, ...] = ()    # metrics kept per trial as its final `values` (objectives)


def next_drain_wait(wait: float, got_anything: bool, every: float,
                    idle_max: float = DRAIN_IDLE_MAX_S) -> float:
    """The wait before the sink's next drain: ``every`` after a drain that brought something,
    else twice the last wait, at most ``idle_max``."""
    return every if got_anything else min(max(wait, every) * 2, max(idle_max, every))


class StoreCallback(Callback):
    """Turns Tune events into writer ops (see hpsearch/store/writer.py).

    ``reruns`` (Ray trial id -> number of the INTERRUPTED trial it re-runs) is the
    BudgetSearcher's, shared, not copied; ``searcher``'s state goes to SQL as it
    changes (through its documented ``progress()``/``get_state()``).
    """

    def __init__(self, ctx: RunContext, *, reruns: dict[str, int] | None = None, searcher=None):
        self.ctx = ctx
        self.url, self.study_id = ctx.url, ctx.study_id
        self.max_t = ctx.max_t
        self.metric, self.mode = ctx.metric, ctx.mode
        self.param_names = list(ctx.param_names)
        self.next_number = ctx.first_number
        self.journal = ctx.journal
        self.numbers: dict[str, int] = {}  # Ray trial id -> our trial number
        self.best: dict[str, float] = {}
        self.last: dict[str, float | None] = {}
        self.done_flag: dict[str, bool] = {}
        self.iteration: dict[str, int] = {}
        # Trials Tune has ended: a result still in flight when a scheduler stopped its
        # trial (the function trainable runs one report ahead) is not part of its history.
        self.ended: set[str] = set()
        self.first_error: str | None = None
        self.failpoint = settings().failpoint
        self.reruns = reruns if reruns is not None else {}
        self.searcher = searcher  # None: its state is not saved
        self.scheduler = None  # the study's; FillingASHA says which trials it let train on
        self.heartbeat_s = ctx.heartbeat_s
        self._last_beat = 0.0
        self._last_state = 0.0
        self._state_every = STATE_EVERY_S
        self._state_sig: tuple | None = None
        self._writer = None
        self.stopper: CancelStopper | None = None  # the study's, closed with this callback
        # Objective and constrained metrics (several objectives or constraints): each
        # trial's last value of each is stored as trials.values (hpsearch/store/fronts.py).
        self.tracked = tuple(ctx.tracked)
        self.last_values: dict[str, dict[str, float]] = {}
        # The study's sink actor (hpsearch/sink.py): trials' log chunks and media, drained
        # every DRAIN_EVERY_S (up to DRAIN_IDLE_MAX_S while quiet) into writer ops. None: nothing captured.
        self.sink = None
        self.media_limits = None  # hpsearch.media.MediaLimits, checked again here
        self._drain_ref = None
        self._last_drain = 0.0
        self._drain_wait: float | None = None  # None: DRAIN_EVERY_S (next_drain_wait)
        self._media_used: dict[str, list[int]] = {}
        # Media are decoded, checked and re-encoded off Tune's loop (a plotly figure or a PNG
        # takes 5-15 ms of the driver's time): one thread, so each trial's items stay in order.
        self._media_pool = None
        self.oom = None  # hpsearch.oom.OomLedger: out-of-memory retries, recorded at the end
        self.slots = SlotBook()  # where trials run: each trial's node and slot on it
        self._running: set[str] = set()  # trials started and not ended or paused since
        self._resumed: dict[str, float] = {}  # FillingASHA resumed them: their pause's epoch
        # Trials' processes say where they run once (hpsearch/trial.py announce_placement),
        # by their actor: actor id -> where, and the trials started in an actor not yet heard of.
        self._where: dict[str, dict] = {}
        self._unplaced: dict[str, list[str]] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_writer"] = None
        state["searcher"] = state["scheduler"] = None
        state["stopper"] = None
        state["sink"] = state["_drain_ref"] = state["oom"] = state["_media_pool"] = None
        return state

    @property
    def writer(self):
        if self._writer is None:
            from hpsearch.store import Store
            from hpsearch.store.writer import Writer

            # One writer thread: one connection (the driver's budget, docs/reliability.md).
            # run_study checked this URL's schema a moment ago; the writer retries a
            # failed batch anyway, so the pool's pre-ping would only add a round trip.
            self._writer = Writer(Store(self.url, pool_size=1, max_overflow=0, pre_ping=False,
                                        check_schema=False), journal=self.journal)
        return self._writer

    def _params(self, trial) -> dict:
        return {k: trial.config[k] for k in self.param_names if k in trial.config}

    # -- events --------------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info):
        tid = trial.trial_id
        self._running.add(tid)
        self.slots.start(tid, time.time())
        actor = _actor_id(trial)
        if actor is not None:
            self._unplaced.setdefault(actor, []).append(tid)
            if actor in self._where:  # a reused process: where it runs is known
                self._place([(actor, self._where[actor])])
            else:  # a new process: it says where it runs through the sink, drained soon
                self._drain_wait = None
        if tid not in self.numbers and tid in self.reruns:
            # A trial interrupted by a crash runs again on its own row, same number.
            self.numbers[tid] = self.reruns[tid]
            self.writer.put(RerunOp(self.study_id, tid, self.numbers[tid], time.time()))
            return
        if tid not in self.numbers:
            self.numbers[tid] = self.next_number
            self.next_number += 1
        self._scheduler_news()
        resumed = self._resumed.pop(tid, None)
        if resumed is not None:  # a trial FillingASHA paused, back in a slot
            self.writer.put(StatusOp(self.study_id, tid, TrialStatus.RUNNING, {
                "note": f"resumed from its epoch {resumed:g} checkpoint: a slot had nothing "
                        "else to run (scheduler.fill_idle)"}, time.time()))
            return
        self.writer.put(TrialOp(self.study_id, tid, self.numbers[tid], self._params(trial),
                                TrialStatus.RUNNING, time.time()))

    def on_trial_restore(self, iteration, trials, trial, **info):
        # Tune restores a trial it has just started (on_trial_start ran: nothing new),
        # or one it brings back without a start.
        if trial.trial_id not in self._running:
            self.on_trial_start(iteration, trials, trial)

    def _scheduler_news(self) -> None:
        """Trials FillingASHA paused (each a status event now, its slot free) or resumed
        (noted when Tune starts it again)."""
        news = getattr(self.scheduler, "news", None)
        while news:
            tid, what, epoch = news.pop(0)
            if what == "resumed":
                self._resumed[tid] = epoch
                continue
            self._running.discard(tid)
            self.slots.end(tid, time.time())
            self.writer.put(StatusOp(self.study_id, tid, TrialStatus.PAUSED, {
                "note": f"ASHA stopped it at epoch {epoch:g}; paused, not ended, so it can "
                        "resume if a slot has nothing else to run at the budget's end "
                        "(scheduler.fill_idle)"}, time.time()))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        tid = trial.trial_id
        if tid in self.ended:
            return
        self.done_flag[tid] = bool(result.get("done"))
        batch = result.get(BATCH_KEY)
        if batch:  # several results hpsearch.report sent together, each with its iteration
            now = time.time()
            self.writer.put_many([self._result(tid, int(it), clean_metrics(metrics), now)
                                  for it, metrics in batch])
        else:
            self.writer.put(self._result(tid, int(result.get("training_iteration", 0)),
                                         clean_metrics(result), time.time()))
        self._scheduler_news()

    def _result(self, tid: str, it: int, metrics: dict, t: float) -> ResultOp:
        """Note one result of the trial; its op, for the caller to queue."""
        value = _number(metrics.get(self.metric))
        if value is not None:
            prev = self.best.get(tid)
            better = prev is None or (value > prev if self.mode == "max" else value < prev)
            if better:
                self.best[tid] = value
        self.last[tid] = value
        self.iteration[tid] = it
        if self.tracked:
            seen = {k: v for k in self.tracked if (v := _number(metrics.get(k))) is not None}
            self.last_values.setdefault(tid, {}).update(seen)
        return ResultOp(self.study_id, tid, it, value, metrics, t)

    def on_trial_recover(self, iteration, trials, trial, **info):
        # A failure that Tune will retry (budget.max_failures): recorded, not final.
        self._running.discard(trial.trial_id)
        self.slots.end(trial.trial_id, time.time())
        self.writer.put(StatusOp(self.study_id, trial.trial_id, TrialStatus.RUNNING,
                                 {"error": read_error(trial)}, time.time()))

    def on_trial_complete(self, iteration, trials, trial, **info):
        tid = trial.trial_id
        self.ended.add(tid)
        value = self.last.get(tid)
        # A function trainable that returns ends with a result Tune does not pass to
        # callbacks, so its last result seen here has done=False. When a scheduler
        # (ASHA, median, Hyperband) or a stopper stops a trial, Tune sets done=True on
        # the result it is deciding on, before callbacks see it. ASHA and Hyperband
        # also "stop" a trial at max_t, which ran to the end: that is not an early stop.
        expected = trial.config.get("epochs", getattr(self, "max_t", None))
        cap = self.ctx.scheduler_max_t
        if cap is not None and (not isinstance(expected, int) or cap < expected):
            expected = cap  # the scheduler ends every trial there
        ran_out = isinstance(expected, int) and self.iteration.get(tid, 0) >= expected
        # FillingASHA's: the epoch ASHA stopped it at, and what came of that
        stop = getattr(self.scheduler, "stops", {}).pop(tid, None)
        early = (bool(self.done_flag.get(tid)) or stop is not None) and not ran_out
        if value is None:
            status = TrialStatus.ERROR
            fields = {"error": f"the trial finished without reporting {self.metric!r}"}
        else:
            status = TrialStatus.EARLY_STOPPED if early else TrialStatus.COMPLETED
            fields = self._scored_fields(trial, value)
            if stop is not None:
                fields["note"] = _stop_note(*stop, self.iteration.get(tid, 0))
        _add_checkpoint(trial, fields)
        if self.failpoint == "before_final_status":
            self.writer.flush(60)  # the last result is in SQL; the final status never will be
            failpoint(self.failpoint, "before_final_status")
        self._running.discard(tid)
        self.slots.end(tid, time.time())
        self._oom_retries(trial)
        self.writer.put(StatusOp(self.study_id, tid, status, fields, time.time()))

    def on_trial_error(self, iteration, trials, trial, **info):
        self.ended.add(trial.trial_id)
        error = read_error(trial)
        if self.first_error is None:
            self.first_error = error
        self._running.discard(trial.trial_id)
        self.slots.end(trial.trial_id, time.time())
        self._oom_retries(trial)
        self.writer.put(StatusOp(self.study_id, trial.trial_id, TrialStatus.ERROR,
                                 {"error": error}, time.time()))

    def _oom_retries(self, trial) -> None:
        """Each out-of-memory retry as a status event; the params as they finally ran."""
        retries = self.oom.pop(trial.trial_id) if self.oom is not None else []
        params = self._params(trial)
        for r in retries:
            if r["key"] in params:
                params[r["key"]] = r["to"]
            self.writer.put(StatusOp(self.study_id, trial.trial_id, TrialStatus.RUNNING,
                                     {"params": dict(params), "note": r["message"]},
                                     float(r.get("t") or time.time())))

    def on_step_end(self, iteration, trials, **info):
        now = time.monotonic()
        if now - self._last_beat >= self.heartbeat_s:
            # The driver is alive, so are the trials it started and Tune has not ended
            # (running or paused; not other drivers' trials of the study): a reaper marks a
            # trial INTERRUPTED only when these stop (see Store.reap_stale_trials).
            self._last_beat = now
            mine = tuple(sorted(self.numbers.keys() - self.ended))
            self.writer.put(HeartbeatOp(self.study_id, time.time(), mine))
        self.save_searcher_state()
        self.poll_sink()

    # -- trials' output: logs and media ----------------------------------------------------
    def poll_sink(self, final: bool = False) -> None:
        """Turn what the sink holds into writer ops; never waits, unless ``final``."""
        if self.sink is None:
            return
        now = time.monotonic()
        if not final and now - self._last_drain < DRAIN_CHECK_S:
            return  # Tune's loop steps many times a second: a Ray call each time would show
        import ray

        from hpsearch.sink import DRAIN_EVERY_S

        try:
            if self._drain_ref is not None:
                ready, _ = ray.wait([self._drain_ref], timeout=10 if final else 0)
                if not ready:
                    return
                ref, self._drain_ref = self._drain_ref, None
                got = ray.get(ref)
                self._drain_wait = next_drain_wait(self._drain_wait or DRAIN_EVERY_S,
                                                   any(got), DRAIN_EVERY_S)
                self._take(*got)
            if final:
                self._take(*ray.get(self.sink.drain.remote(), timeout=10))
            elif now - self._last_drain >= (self._drain_wait or DRAIN_EVERY_S):
                self._last_drain = now
                self._drain_ref = self.sink.drain.remote()
        except Exception as exc:  # noqa: BLE001 - lost output must not stop the study
            self._drain_ref = None
            log.warning("could not collect trial output: %s", exc)

    def _take(self, logs: list, media: list, placements: list = ()) -> None:
        self._place(placements)
        for ray_id, offset, text in logs:
            self.writer.put(LogOp(self.study_id, ray_id, offset, text))
        if media:
            if self._media_pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._media_pool = ThreadPoolExecutor(1, thread_name_prefix="hpsearch-media")
            self._media_pool.submit(self._save_media, media, self.writer).add_done_callback(
                _log_failure)

    def _save_media(self, media: list, writer) -> None:
        """In the media thread: store each item within the study's limits (hpsearch/media.py
        decodes and re-encodes it), then its row."""
        from hpsearch import media as media_store

        limits = self.media_limits or media_store.MediaLimits()
        for ray_id, item in media:
            used = self._media_used.setdefault(ray_id, [0, 0])
            try:
                if used[0] >= limits.items or used[1] >= limits.bytes:
                    continue
                meta = media_store.save(self.study_id, ray_id, item)
            except Exception as exc:  # noqa: BLE001 - a trial's bytes: anything may fail
                log.warning("trial %s: media %r refused: %s", ray_id, item.get("name"), exc)
                continue
            used[0] += 1
            used[1] += meta["bytes"]
            writer.put(MediaOp(self.study_id, ray_id, meta, time.time()))

    def _media_done(self) -> None:
        """Wait until every media item taken so far is stored (or refused)."""
        if self._media_pool is not None:
            self._media_pool.shutdown(wait=True)
            self._media_pool = None

    def _place(self, placements) -> None:
        """``(actor or Ray trial id, where)``: each trial that runs there gets its node and slot."""
        trials = []
        for who, where in placements:
            if who in self._unplaced or who not in self.numbers:  # an actor, said once
                self._where[who] = where
                trials += [(tid, where) for tid in self._unplaced.pop(who, [])]
            else:  # a trial outside an actor says so itself
                trials.append((who, where))
        for ray_id, where in self.slots.place(trials):
            self.writer.put(PlacementOp(self.study_id, ray_id, where))

    def save_searcher_state(self, force: bool = False) -> None:
        """Queue the searcher's JSON state when it changed: at most every STATE_EVERY_S, and
        less often when taking it costs more than STATE_SHARE of the time between two."""
        s = self.searcher
        if s is None:
            return
        now = time.monotonic()
        if not force and now - self._last_state < self._state_every:
            return
        sig = s.progress()  # changes whenever its state does (the searcher contract)
        if sig == self._state_sig:
            return
        self._last_state, self._state_sig = now, sig
        # Serialised now, once: get_state() shares the searcher's live dicts (pending...),
        # which may have moved on when the writer thread runs; the writer stores the text.
        state = json.dumps(s.get_state())
        # The database stores it too: about twice this.
        took = 2 * (time.monotonic() - now)
        self._state_every = max(STATE_EVERY_S, took / STATE_SHARE)
        self.writer.put(SearcherStateOp(self.study_id, state))

    def on_experiment_end(self, trials, **info):
        # Tune fails some trials without a callback (a reused process whose last trial would
        # not stop in time); each still gets its end here, never RUNNING in SQL. So do the
        # trials the time limit cut. (Those a cancel cut are the orchestrator's to mark.)
        time_limit = self.stopper is not None and self.stopper.reason == "time limit"
        for trial in trials:
            if trial.trial_id in self.ended:
                continue
            if trial.status == "ERROR":
                self.on_trial_error(0, trials, trial)
            elif time_limit and trial.trial_id in self.numbers:
                self._cut_by_time_limit(trial)
        self.poll_sink(final=True)
        self._media_done()
        self.save_searcher_state(force=True)
        if self._writer is not None:
            self._writer.flush(120)

    def _scored_fields(self, trial, value: float) -> dict:
        """The columns a trial that reported ends with: its last and best value and its
        tracked objectives' last values."""
        tid = trial.trial_id
        fields = {"value": value, "best_value": self.best.get(tid)}
        if self.tracked:
            fields["values"] = dict(self.last_values.get(tid, {}))
        return fields

    def _cut_by_time_limit(self, trial) -> None:
        """A trial still running when ``budget.time_limit_s`` passed: one that reported
        keeps its last value (EARLY_STOPPED: it counts, as a scheduler's stop does); one
        that had not is INTERRUPTED (a resume runs it again)."""
        tid = trial.trial_id
        self.ended.add(tid)
        note = ("stopped by the study's time limit "
                f"(budget.time_limit_s = {self.stopper.time_limit_s:g} s)")
        value = self.last.get(tid)
        if value is None:
            status, fields = TrialStatus.INTERRUPTED, {"note": note + " before its first result"}
        else:
            status, fields = TrialStatus.EARLY_STOPPED, {**self._scored_fields(trial, value),
                                                         "note": note}
        _add_checkpoint(trial, fields)
        self.slots.end(tid, time.time())
        self.writer.put(StatusOp(self.study_id, tid, status, fields, time.time()))

    def actor_nodes(self) -> Counter:
        """Node id -> how many trial actors (processes) of this study said they ran there."""
        return Counter(where.get("node_id") for who, where in self._where.items()
                       if who not in self.numbers)

    def close(self) -> None:
        if self.stopper is not None:
            self.stopper.close()
        if self.sink is not None:
            self.sink.close()  # the process's sink actor lives on for the next study
            self.sink = None
        self._media_done()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _log_failure(future) -> None:
    """A media batch that failed outside its items' own checks is logged, not lost silently."""
    if future.exception() is not None:
        log.warning("could not store trial media: %s", future.exception())


def _add_checkpoint(trial, fields: dict) -> None:
    """The trial's last checkpoint, where Tune has one, goes with its final status."""
    ckpt = getattr(trial, "checkpoint", None)
    if ckpt is not None:
        fields["checkpoint"] = str(getattr(ckpt, "path", ckpt))


def _stop_note(epoch: float, what: str, reached: int) -> str:
    """A trial ASHA stopped that FillingASHA let train on, paused or resumed: why it ended
    where it did (its last status event, on its trial page)."""
    if what == "filled":
        return (f"ASHA stopped it at epoch {epoch:g}; its slot had nothing else to run, so it "
                f"trained on to epoch {reached} (scheduler.fill_idle)")
    if what == "resumed":
        return (f"ASHA stopped it at epoch {epoch:g} and it was paused; a slot had nothing else "
                f"to run, so it resumed from its checkpoint and trained on to epoch {reached} "
                "(scheduler.fill_idle)")
    return (f"ASHA stopped it at epoch {epoch:g}; it was paused in case a slot had nothing else "
            "to run at the budget's end, and none did in time (scheduler.fill_idle)")


class SlotBook:
    """Which slot of which node each trial runs in: a trial takes the lowest slot of its node
    whose last holder had ended when this trial started (interval partitioning, per node), so
    a node's slots are the trials it ran at once and a gap in a slot is idle time.

    A trial's process says where it runs through the sink, once per study
    (hpsearch/trial.py ``announce_placement``), a moment after its first trial starts; the
    callback gives it to each trial that process runs, and the book places them by their
    start time, as seen here.
    Plain data: pickled with the callback.
    """

    def __init__(self):
        self.started: dict[str, float] = {}   # trials started, not yet placed
        self.ended: dict[str, float] = {}     # holders that ended, and when
        self.holders: dict[str, list[str | None]] = {}  # node id -> each slot's last holder

    def start(self, ray_id: str, t: float) -> None:
        for holders in self.holders.values():  # a restored trial leaves the slot it had
            for k, h in enumerate(holders):
                if h == ray_id:
                    holders[k] = None
        self.started[ray_id] = t
        self.ended.pop(ray_id, None)

    def end(self, ray_id: str, t: float) -> None:
        self.ended[ray_id] = t

    def place(self, placements) -> list[tuple[str, dict]]:
        """``(ray id, {node_id, node_host, node_ip, t})`` -> ``(ray id, trial columns)``."""
        out = []
        items = [(self.started.get(rid, float(w.get("t") or 0)), rid, w) for rid, w in placements]
        for start, ray_id, where in sorted(items, key=lambda x: x[0]):
            self.started.pop(ray_id, None)
            node = str(where.get("node_id") or "")
            holders = self.holders.setdefault(node, [])
            slot = next((k for k, h in enumerate(holders)
                         if h is None or (h in self.ended and self.ended[h] <= start)), len(holders))
            if slot == len(holders):
                holders.append(ray_id)
            else:
                if holders[slot] is not None:
                    self.ended.pop(holders[slot], None)
                holders[slot] = ray_id
            out.append((ray_id, {"node_id": node or None, "node_host": where.get("node_host"),
                                 "node_ip": where.get("node_ip"), "slot": slot}))
        return out


class ProgressCallback(Callback):
    """A tqdm bar: trials finished / budget, best value so far."""

    def __init__(self, total: int, metric: str, mode: str, initial: int = 0, enabled: bool = True):
        self.total, self.metric, self.mode = total, metric, mode
        self.initial, self.enabled = initial, enabled
        self.best: float | None = None
        self._bar = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_bar"] = None
        return state

    def _tick(self, value: float | None) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=self.initial, unit="trial", desc="trials",
                             dynamic_ncols=True)
        if value is not None and (self.best is None or
                                  (value > self.best if self.mode == "max" else value < self.best)):
            self.best = value
        if self.best is not None:
            self._bar.set_postfix_str(f"best {self.metric}={self.best:.4g}")
        self._bar.update(1)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._tick(_number((trial.last_result or {}).get(self.metric)))

    def on_trial_error(self, iteration, trials, trial, **info):
        self._tick(None)

    def on_experiment_end(self, trials, **info):
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class CancelStopper(Stopper):
    """Stops the whole experiment when the study's cancel flag is set in SQL, or when its
    time limit (``budget.time_limit_s``, counted from this run's start) has passed;
    :attr:`reason` says which, so that the trials it cut get their end with it.

    A daemon thread reads the flag every ``every_s``; Tune's loop, which calls
    ``stop_all`` after every step, only reads a boolean, so a slow database never
    holds up trial events. The thread ends on ``close()`` or when Tune has not asked
    for a while (an experiment that ended without ``close``).
    """

    IDLE_EXIT_S = 30.0

    def __init__(self, url: str, study_id: int, every_s: float = 1.0,
                 time_limit_s: float | None = None):
        self.url, self.study_id, self.every_s = url, study_id, every_s
        self.time_limit_s = time_limit_s
        self._deadline = None if time_limit_s is None else time.monotonic() + time_limit_s
        self.reason: str | None = None  # why it stopped the experiment: "cancel", "time limit"
        self._cancel = False
        self._asked = time.monotonic()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"url": self.url, "study_id": self.study_id, "every_s": self.every_s,
                "time_limit_s": self.time_limit_s}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def __call__(self, trial_id, result) -> bool:
        self.stop_all()
        return self._cancel  # the time limit stops the experiment, not one trial (stop_all)

    def stop_all(self) -> bool:
        self._asked = time.monotonic()
        if self._cancel:
            self.reason = self.reason or "cancel"
            return True
        if self._deadline is not None and self._asked >= self._deadline:
            if self.reason is None:
                log.info("study %s: its time limit (budget.time_limit_s = %g s) has passed; "
                         "stopping its running trials", self.study_id, self.time_limit_s)
            self.reason = "time limit"
            return True
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closed.is_set():
                    self._thread = threading.Thread(target=self._poll, daemon=True,
                                                    name=f"hpsearch-cancel-{self.study_id}")
                    self._thread.start()
        return self._cancel

    def close(self) -> None:
        self._closed.set()

    def _poll(self) -> None:
        from hpsearch.store import Store

        store = None
        try:
            while not self._cancel and not self._closed.wait(self.every_s):
                if time.monotonic() - self._asked > self.IDLE_EXIT_S:
                    break
                try:
                    if store is None:
                        store = Store(self.url, pool_size=1, max_overflow=0, check_schema=False)
                    self._cancel = store.cancel_requested(self.study_id)
                except Exception:  # noqa: BLE001 - a database blip must not stop the study
                    pass
        finally:
            if store is not None:
                store.dispose()
            with self._lock:
                self._thread = None
