"""A throw-away Ray cluster for the service benchmarks (hpsearch.testing.ray_cluster with
the benchmarks' environment), and the drivers and dispatchers they start.

    with cluster(head_cpus=4, node_cpus=4) as c:
        c.address, c.env   # what dispatchers and drivers need

Stopping signals only the sessions started here (never ``ray stop``).
"""
from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from hpsearch.testing import RayCluster, free_port, ray_cluster, stop

__all__ = ["RayCluster", "base_env", "cli", "cluster", "free_port", "start", "stop"]

ROOT = Path(__file__).resolve().parents[1]


def base_env(extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "RAY_USAGE_STATS_ENABLED": "0", "HPSEARCH_ALLOWED_MODULES": "benchmarks._trials"}
    for name in ("HPSEARCH_DB", "HPSEARCH_SERVER", "HPSEARCH_TOKEN", "RAY_ADDRESS"):
        env.pop(name, None)
    env.update(extra or {})
    return env


@contextmanager
def cluster(head_cpus: int, node_cpus: int) -> Iterator[RayCluster]:
    with ray_cluster(head_cpus, node_cpus, env=base_env(), prefix="hps-bray-") as c:
        yield c


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpsearch.cli", *args]


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
