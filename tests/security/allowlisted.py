"""An allow-listed module as a team writes one: one marked trainable, an unmarked helper,
and an import whose function must never be reachable from a spec (test_trainables.py)."""
from __future__ import annotations

from subprocess import run  # noqa: F401 - the point: `allowlisted:run` must be refused

from ray import tune

import hpsearch


def helper(config: dict) -> None:
    """Defined here but not marked: not a trainable."""
    tune.report({"loss": 0.0})


@hpsearch.trainable
def train(config: dict) -> None:
    tune.report({"loss": (config["x"] - 2) ** 2})
