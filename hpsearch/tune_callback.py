"""Tune callbacks: every trial event to SQL as it happens, progress, cancellation.

These objects are pickled into Tune's experiment state (``Tuner.restore`` brings
them back), so they hold only plain data and rebuild connections lazily.
"""
from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback, Stopper

from hpsearch.store.models import TrialStatus

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
    """The trainable's own metrics (JSON-safe: non-finite floats become None)."""
    out = {}
    for k, v in result.items():
        if k in _TUNE_KEYS or k.startswith("_"):
            continue
        if isinstance(v, bool) or isinstance(v, str):
            out[k] = v
        elif isinstance(v, (int, float)) or hasattr(v, "item"):
            out[k] = _number(v)
    return out


def read_error(trial) -> str:
    path = getattr(trial, "error_file", None)
    if path and Path(path).is_file():
        return Path(path).read_text(errors="replace")[-20000:]
    err = trial.get_error() if hasattr(trial, "get_error") else None
    return str(err) if err else "the trial failed without an error message"


class StoreCallback(Callback):
    """Turns Tune events into writer ops (see hpsearch/store/writer.py)."""

    def __init__(self, url: str, study_id: int, metric: str, mode: str, param_names: list[str],
                 first_number: int, journal: str | None = None, max_t: int | None = None,
                 numbers: dict[str, int] | None = None):
        self.url, self.study_id = url, study_id
        self.max_t = max_t  # the epochs a trial runs when nothing stops it (None: unknown)
        self.metric, self.mode = metric, mode
        self.param_names = list(param_names)
        self.next_number = first_number
        self.journal = journal
        self.numbers: dict[str, int] = dict(numbers or {})  # Ray trial id -> our trial number
        self.best: dict[str, float] = {}
        self.last: dict[str, float | None] = {}
        self.done_flag: dict[str, bool] = {}
        self.iteration: dict[str, int] = {}
        self.first_error: str | None = None
        self._writer = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_writer"] = None
        return state

    @property
    def writer(self):
        if self._writer is None:
            from hpsearch.store import Store
            from hpsearch.store.writer import Writer

            self._writer = Writer(Store(self.url), journal=self.journal)
        return self._writer

    def _params(self, trial) -> dict:
        return {k: trial.config[k] for k in self.param_names if k in trial.config}

    # -- events --------------------------------------------------------------------
    def on_trial_start(self, iteration, trials, trial, **info):
        tid = trial.trial_id
        if tid not in self.numbers:
            self.numbers[tid] = self.next_number
            self.next_number += 1
        self.writer.put(("trial", self.study_id, tid, self.numbers[tid], self._params(trial),
                         TrialStatus.RUNNING, time.time()))

    def on_trial_restore(self, iteration, trials, trial, **info):
        self.on_trial_start(iteration, trials, trial)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        tid = trial.trial_id
        value = _number(result.get(self.metric))
        if value is not None:
            prev = self.best.get(tid)
            better = prev is None or (value > prev if self.mode == "max" else value < prev)
            if better:
                self.best[tid] = value
        self.last[tid] = value
        self.done_flag[tid] = bool(result.get("done"))
        self.iteration[tid] = int(result.get("training_iteration", 0))
        self.writer.put(("result", self.study_id, tid, int(result.get("training_iteration", 0)),
                         value, clean_metrics(result), time.time()))

    def on_trial_recover(self, iteration, trials, trial, **info):
        # A failure that Tune will retry (budget.max_failures): recorded, not final.
        self.writer.put(("status", self.study_id, trial.trial_id, TrialStatus.RUNNING,
                         {"error": read_error(trial)}, time.time()))

    def on_trial_complete(self, iteration, trials, trial, **info):
        tid = trial.trial_id
        value = self.last.get(tid)
        # A function trainable that returns ends with a result Tune does not pass to
        # callbacks, so its last result seen here has done=False. When a scheduler
        # (ASHA, median, Hyperband) or a stopper stops a trial, Tune sets done=True on
        # the result it is deciding on, before callbacks see it. ASHA and Hyperband
        # also "stop" a trial at max_t, which ran to the end: that is not an early stop.
        expected = trial.config.get("epochs", getattr(self, "max_t", None))
        ran_out = isinstance(expected, int) and self.iteration.get(tid, 0) >= expected
        early = bool(self.done_flag.get(tid)) and not ran_out
        if value is None:
            status = TrialStatus.ERROR
            fields = {"error": f"the trial finished without reporting {self.metric!r}"}
        else:
            status = TrialStatus.EARLY_STOPPED if early else TrialStatus.COMPLETED
            fields = {"value": value, "best_value": self.best.get(tid)}
        ckpt = getattr(trial, "checkpoint", None)
        if ckpt is not None:
            fields["checkpoint"] = str(getattr(ckpt, "path", ckpt))
        self.writer.put(("status", self.study_id, tid, status, fields, time.time()))

    def on_trial_error(self, iteration, trials, trial, **info):
        error = read_error(trial)
        if self.first_error is None:
            self.first_error = error
        self.writer.put(("status", self.study_id, trial.trial_id, TrialStatus.ERROR,
                         {"error": error}, time.time()))

    def on_experiment_end(self, trials, **info):
        if self._writer is not None:
            self._writer.flush(120)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


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
    """Stops the whole experiment when the study's cancel flag is set in SQL."""

    def __init__(self, url: str, study_id: int, every_s: float = 1.0):
        self.url, self.study_id, self.every_s = url, study_id, every_s
        self._store = None
        self._checked = 0.0
        self._cancel = False
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {"url": self.url, "study_id": self.study_id, "every_s": self.every_s}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def __call__(self, trial_id, result) -> bool:
        return self.stop_all()

    def stop_all(self) -> bool:
        now = time.monotonic()
        if not self._cancel and now - self._checked >= self.every_s:
            with self._lock:
                self._checked = now
                if self._store is None:
                    from hpsearch.store import Store

                    self._store = Store(self.url, pool_size=1)
                try:
                    self._cancel = self._store.cancel_requested(self.study_id)
                except Exception:  # noqa: BLE001 - a database blip must not stop the study
                    self._cancel = False
        return self._cancel
