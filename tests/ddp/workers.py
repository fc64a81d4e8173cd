"""A custom data-parallel trainable for the fault test (the pattern of docs/extending.md):
each worker appends its pid to ``pid_dir/rank-N`` (so the test can SIGKILL one) and
trains the built-in CNN through the shared harness."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import hpsearch
from hpsearch import ddp


def _train_worker(pid_dir: str, config: dict) -> None:
    from trainables import _harness, cnn

    with open(Path(pid_dir) / f"rank-{ddp.rank()}", "a") as f:  # one line per worker started
        f.write(f"{os.getpid()}\n")
    _harness._train_worker(cnn.RECIPE, 1, config)


@hpsearch.trainable
def cnn_with_pid_files(config: dict) -> None:
    config = dict(config)
    pid_dir = config.pop("pid_dir")
    ddp.run(functools.partial(_train_worker, pid_dir), config)
