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
