"""The Ray Train callback of a data-parallel trial (hpsearch/ddp.py); imports Ray, so
it is imported only when such a trial runs."""
from __future__ import annotations

import ray
from ray.train.v2.api.callback import UserCallback

from hpsearch.ddp import STOP


class ToTrial(UserCallback):
    """Runs in the Ray Train run's controller: each round's rank-0 result (metrics and the
    persisted checkpoint's path) goes to the trial's process, and the run waits until that
    process has it (and stops when the trial is over)."""

    def __init__(self, results, taken):
        self.results, self.taken = results, taken
        self.stopped = False

    def after_report(self, run_context, metrics, checkpoint) -> None:
        if self.stopped:  # the trial is over; its process aborts this run
            return
        self.results.put({"metrics": dict(metrics[0]),
                          "checkpoint": checkpoint.path if checkpoint is not None else None,
                          "controller": ray.get_runtime_context().current_actor})
        self.stopped = self.taken.get() == STOP
