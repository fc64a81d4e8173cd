"""Out-of-memory retries (``on_oom: {halve: batch_size, retries: 2}`` in a spec).

A trial whose training raises torch's out-of-memory error is run again, in the same
Ray trial (its row, its status history and what it reported are kept), with the
named integer hyperparameter halved, up to ``retries`` times (hpsearch/trial.py).
Each retry is recorded in the study's sink before the trial goes on; when the trial
ends, the driver reads its retries once (:class:`OomLedger`): the searcher is told
the configuration that finally ran, and the store records each retry as a status
event on the trial (and the final value in its params when the parameter is searched).
"""
from __future__ import annotations

from typing import Any


def policy(spec, info) -> dict | None:
    """The wrapper's policy for a validated spec and its trainable's
    :class:`trainables.TrainableInfo`: ``{halve, retries, default}``, or None (fail)."""
    on_oom = spec.on_oom
    if on_oom is None:
        return None
    default = None
    if info.options is not None and on_oom.halve in info.options.model_fields:
        default = info.options.model_fields[on_oom.halve].default
    return {"halve": on_oom.halve, "retries": on_oom.retries,
            "default": default if isinstance(default, int) else None}


def revised(config: dict, retries: list[dict]) -> dict:
    """``config`` as it finally ran: the halved parameter at its last value (when it is there)."""
    if not retries:
        return dict(config)
    last = retries[-1]
    return {**config, last["key"]: last["to"]} if last["key"] in config else dict(config)


class OomLedger:
    """The driver's view of trials' out-of-memory retries, read from the sink once per trial.

    Shared by the budget searcher (which tells the searcher the configuration that ran,
    first, since Tune tells the search algorithm before the callbacks) and the store
    callback (which records the retries).
    """

    def __init__(self, sink):
        self.sink = sink
        self._seen: dict[str, list[dict]] = {}

    def __getstate__(self) -> dict:  # the callback is pickled by Tune's experiment state
        return {"sink": None, "_seen": {}}

    def retries(self, trial_id: str) -> list[dict]:
        """This trial's retries (empty: none); asks the sink once per trial."""
        if trial_id not in self._seen:
            got: Any = []
            if self.sink is not None:
                import ray

                try:
                    got = ray.get(self.sink.oom_retries.remote(trial_id), timeout=30)
                except Exception:  # noqa: BLE001 - a lost record must not stop the study
                    got = []
            self._seen[trial_id] = list(got)
        return self._seen[trial_id]

    def pop(self, trial_id: str) -> list[dict]:
        out = self.retries(trial_id)
        self._seen.pop(trial_id, None)
        return out
