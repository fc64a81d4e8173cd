"""Throw-away Ray clusters of real ``ray start`` nodes, for tests and benchmarks.

    with ray_cluster(head_cpus=2, node_cpus=4, node_args=["--num-gpus=2"]) as c:
        c.address, c.env   # what drivers and dispatchers need to join it

Each cluster has free loopback ports (never 6379, Redis's), its own temporary
folder and its own auth token, so it never meets another Ray on the machine or
``~/.ray/auth_token``. Stopping signals only the sessions started here (the same
role as Ray's own ``ray.cluster_utils``, with separate processes that a test may
kill).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from hpsearch import warm_workers
from hpsearch.procs import kill_session, stop

__all__ = ["RayCluster", "free_port", "kill_session", "ray_cluster", "ray_start", "stop",
           "wait_line"]

RAY = str(Path(sys.executable).with_name("ray"))
_COMMON = ["--node-ip-address=127.0.0.1", "--object-store-memory=100000000",
           "--disable-usage-stats", "--block"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_line(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    """Wait until ``text`` appears in the log ``path`` of ``proc``; fail if it exits first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited: {path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.3)
    tail = path.read_text(errors="replace")[-3000:] if path.exists() else ""
    raise RuntimeError(f"timed out waiting for {text!r}: {tail}")


def ray_start(args: Sequence[str], env: dict, log: Path, timeout: float = 120,
              attempts: int = 3) -> subprocess.Popen:
    """``ray start --block`` a head (``--head`` in ``args``) or a node, in a session of its
    own, logging to ``log``; returns once Ray says it started. A start that gave up is tried
    again (``attempts`` in all): ``ray start`` waits a fixed 30 s for its raylet to register,
    which a loaded 2-core machine can miss (CI saw it once, at load 14)."""
    for attempt in range(attempts):
        with open(log, "wb") as out:
            proc = subprocess.Popen([RAY, "start", *args,
                                     f"--dashboard-agent-listen-port={free_port()}", *_COMMON],
                                    env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            wait_line(log, "Ray runtime started", proc, timeout)
            return proc
        except RuntimeError:
            gave_up = proc.poll() is not None and "timed out during startup" in log.read_text(
                errors="replace")
            stop(proc)
            if not gave_up or attempt == attempts - 1:
                raise
            time.sleep(2)
        except BaseException:
            stop(proc)
            raise
    raise AssertionError("unreachable")


@dataclass
class RayCluster:
    address: str
    token: str
    temp_dir: str

    @property
    def env(self) -> dict:
        """What a driver or dispatcher needs to join the cluster (Ray's token auth is on)."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}


@contextmanager
def ray_cluster(head_cpus: int, node_cpus: int = 0, node_args: Sequence[str] = (),
                env: dict | None = None, prefix: str = "hps-ray-") -> Iterator[RayCluster]:
    """A head of ``head_cpus`` CPUs and, when ``node_cpus``, a second node with ``node_args``.

    ``env``: the nodes' environment (default: this process's, without RAY_ADDRESS).
    """
    temp_dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")  # short: Ray's socket paths
    token = secrets.token_hex(32)
    port = free_port()
    env = {**(os.environ if env is None else env), "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": token, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    procs: list[subprocess.Popen] = []
    preload = warm_workers.system_config(local=False)  # only with HPSEARCH_WARM_WORKERS_S > 0
    try:
        procs.append(ray_start(["--head", f"--port={port}", f"--num-cpus={head_cpus}",
                                f"--temp-dir={temp_dir}", "--include-dashboard=false",
                                f"--dashboard-port={free_port()}",
                                # workers import a trial's modules as they start (warm_workers.py)
                                *([f"--system-config={json.dumps(preload)}"] if preload else [])],
                               env,
                               Path(temp_dir) / "head.out"))
        if node_cpus:
            procs.append(ray_start([f"--address=127.0.0.1:{port}", f"--num-cpus={node_cpus}",
                                    *node_args], env, Path(temp_dir) / "node.out"))
        yield RayCluster(f"127.0.0.1:{port}", token, temp_dir)
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(temp_dir, ignore_errors=True)
