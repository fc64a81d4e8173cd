"""A custom data-parallel trainable for the fault test (the pattern of docs/extending.md):
each worker writes its pid to ``pid_dir/rank-N`` (so the test can SIGKILL one) and
trains the built-in CNN through the shared harness."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import hpsearch
from hpsearch import ddp


def _train_worker(pid_dir: str, config: dict) -> None:
    from trainables import _harness, cnn

    path = Path(pid_dir) / f"rank-{ddp.rank()}"
    path.write_text(f"{os.getpid()}\n")
    _harness._train_worker(cnn.RECIPE, 1, config)


@hpsearch.trainable
def cnn_with_pid_files(config: dict) -> None:
    config = dict(config)
    pid_dir = config.pop("pid_dir")
    ddp.run(functools.partial(_train_worker, pid_dir), config)
