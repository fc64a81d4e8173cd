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
    falls with the epoch and grows with ``x``, so ASHA has something to stop.
    ``checkpoint``: each epoch saves one, as a built-in family's does, and a restored trial
    goes on from it (a trial ASHA paused can resume)."""
    import json
    import tempfile
    from pathlib import Path

    from ray import tune

    start, ckpt = 1, tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            start = json.loads((Path(d) / "state.json").read_text())["epoch"] + 1
    for epoch in range(start, int(config.get("epochs", 1)) + 1):
        time.sleep(float(config.get("sleep", 0.5)))
        metrics = {"loss": float(config.get("x", 0.0)) ** 2 + 1.0 / epoch, "epoch": epoch}
        if not config.get("checkpoint"):
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "state.json").write_text(json.dumps({"epoch": epoch}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))


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


@hpsearch.trainable
def timed_cnn(config: dict) -> None:
    """The built-in CNN (trainables/cnn.py) on the trial's device (its GPU when Ray gave it
    one), timing itself for benchmarks/gpu_busy.py. Each epoch reports the CNN's metrics and
    ``t_start`` (when this code began), ``t_ready`` (data on the device, model built),
    ``train_s`` and ``eval_s`` (seconds in training passes and in validation so far, the
    device synchronized after each). No checkpoints: what it times is the training alone."""
    import importlib

    import torch
    from ray import tune

    import trainables
    from trainables import _harness

    t_start = time.time()
    recipe = importlib.import_module(trainables.BUILTIN["cnn"]).RECIPE
    s = _harness.prepare(recipe, config)
    sync = torch.cuda.synchronize if s.device.type == "cuda" else (lambda: None)
    sync()
    t_ready = time.time()
    train_s = eval_s = 0.0
    for epoch in range(1, s.cfg.epochs + 1):
        t0 = time.perf_counter()
        _harness.train_epoch(s, epoch)
        sync()
        t1 = time.perf_counter()
        metrics = _harness.evaluate(s)
        sync()
        train_s += t1 - t0
        eval_s += time.perf_counter() - t1
        tune.report({**metrics, "epoch": epoch, "t_start": t_start, "t_ready": t_ready,
                     "train_s": train_s, "eval_s": eval_s})
