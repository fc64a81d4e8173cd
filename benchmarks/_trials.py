"""Trainables the service benchmarks name as ``benchmarks._trials:NAME`` (allow-listed there)."""
from __future__ import annotations

import time

import hpsearch


@hpsearch.trainable
def noop(config: dict) -> None:
    """Reports once and ends: measures everything but training."""
    from ray import tune

    tune.report({"loss": float(config.get("x", 0.0)) ** 2})


@hpsearch.trainable
def sleeper(config: dict) -> None:
    """``epochs`` epochs of ``sleep`` seconds each (a trial that holds its slot); ``loss``
    falls with the epoch and grows with ``x``, so ASHA has something to stop."""
    from ray import tune

    for epoch in range(1, int(config.get("epochs", 1)) + 1):
        time.sleep(float(config.get("sleep", 0.5)))
        tune.report({"loss": float(config.get("x", 0.0)) ** 2 + 1.0 / epoch, "epoch": epoch})


def _ddp_sleeper_worker(config: dict) -> None:
    from hpsearch import ddp

    start = time.time()
    for epoch in range(1, int(config.get("epochs", 1)) + 1):
        time.sleep(float(config.get("sleep", 0.5)))
        ddp.report({"loss": float(config.get("x", 0.0)) ** 2 + 1.0 / epoch, "epoch": epoch,
                    "t_train0": start, "t_train1": time.time()})


@hpsearch.trainable
def ddp_sleeper(config: dict) -> None:
    """``sleeper`` on the trial's data-parallel workers (``resources.workers``): every worker
    sleeps each epoch and reports (Ray Train's barrier); ``t_train0``/``t_train1``: when
    rank 0's loop started and last reported, so a benchmark can tell training from the
    worker group's start."""
    from hpsearch import ddp

    ddp.run(_ddp_sleeper_worker, config)
