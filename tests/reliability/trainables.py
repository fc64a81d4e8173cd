"""Tiny trainables for the fault-injection tests (importable by Ray workers)."""
from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from ray import tune


def _loss(x: float, epoch: int) -> float:
    return (x - 2) ** 2 + 1.0 / epoch


def flaky(config: dict) -> None:
    """Fails on its first ``fail_times`` attempts (counted in files under ``marker_dir``)."""
    marker = Path(config["marker_dir"]) / f"{config['x']!r}"
    with open(marker, "a") as f:
        f.write("attempt\n")
    attempts = len(marker.read_text().splitlines())
    tune.report({"loss": 1.0, "epoch": 1})
    if attempts <= int(config.get("fail_times", 1)) or (config.get("doom_negative")
                                                        and config["x"] < 0):
        raise RuntimeError(f"flaky failure {attempts} at x={config['x']:.3f}")
    tune.report({"loss": _loss(config["x"], 2), "epoch": 2})


def checkpointed(config: dict) -> None:
    """Reports ``epochs`` epochs, checkpointing each; records its pid for a killer.

    Writes ``{pid, epoch}`` to ``<pid_dir>/<x>.json`` after each checkpoint and
    reports ``resumed_from``, the epoch its starting checkpoint held.
    """
    start = 0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            start = json.loads(Path(d, "state.json").read_text())["epoch"]
    info = Path(config["pid_dir"]) / f"{config['x']!r}.json"
    for epoch in range(start + 1, int(config["epochs"]) + 1):
        time.sleep(float(config.get("sleep", 0.2)))
        with tempfile.TemporaryDirectory() as d:
            Path(d, "state.json").write_text(json.dumps({"epoch": epoch}))
            tune.report({"loss": _loss(config["x"], epoch), "epoch": epoch,
                         "resumed_from": start}, checkpoint=tune.Checkpoint.from_directory(d))
        tmp = info.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": os.getpid(), "epoch": epoch}))
        tmp.replace(info)
