"""A throw-away Ray cluster for the service benchmarks: a head and a second node started
with ``ray start`` on free loopback ports (never 6379), its own temp folder and auth token.

    with cluster(head_cpus=4, node_cpus=4) as c:
        c.address, c.env   # what dispatchers and drivers need

Stopping signals only the sessions started here (never ``ray stop``).
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_session(leader: int, sig: int = signal.SIGKILL) -> None:
    """Signal every process of the session ``leader`` started (ours alone)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == leader:
                    os.kill(int(entry), sig)
            except (ProcessLookupError, PermissionError):
                pass


def stop(proc: subprocess.Popen, grace: float = 20.0) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    kill_session(proc.pid)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


def _wait_line(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited: {path.read_text(errors='replace')[-2000:]}")
        time.sleep(0.3)
    raise RuntimeError(f"timed out waiting for {text!r}")


@dataclass
class Cluster:
    address: str
    token: str
    temp_dir: str

    @property
    def env(self) -> dict:
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}


def base_env(extra: dict | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "RAY_USAGE_STATS_ENABLED": "0", "HPSEARCH_ALLOWED_MODULES": "benchmarks._trials"}
    for name in ("HPSEARCH_DB", "HPSEARCH_SERVER", "HPSEARCH_TOKEN", "RAY_ADDRESS"):
        env.pop(name, None)
    env.update(extra or {})
    return env


@contextmanager
def cluster(head_cpus: int, node_cpus: int) -> Iterator[Cluster]:
    temp_dir = tempfile.mkdtemp(prefix="hps-bray-", dir="/tmp")  # short: Ray's socket paths
    token = secrets.token_hex(32)
    port = free_port()
    env = base_env({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token})
    common = ["--node-ip-address=127.0.0.1", "--object-store-memory=100000000",
              "--disable-usage-stats", "--block"]
    procs: list[subprocess.Popen] = []
    try:
        head_log = Path(temp_dir) / "head.out"
        with open(head_log, "wb") as out:
            procs.append(subprocess.Popen(
                [RAY, "start", "--head", f"--port={port}", f"--num-cpus={head_cpus}",
                 f"--temp-dir={temp_dir}", "--include-dashboard=false",
                 f"--dashboard-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
                 *common], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
        _wait_line(head_log, "Ray runtime started", procs[0], 120)
        if node_cpus:
            node_log = Path(temp_dir) / "node.out"
            with open(node_log, "wb") as out:
                procs.append(subprocess.Popen(
                    [RAY, "start", f"--address=127.0.0.1:{port}", f"--num-cpus={node_cpus}",
                     f"--dashboard-agent-listen-port={free_port()}", *common],
                    env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
            _wait_line(node_log, "Ray runtime started", procs[1], 120)
        yield Cluster(f"127.0.0.1:{port}", token, temp_dir)
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(temp_dir, ignore_errors=True)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpsearch.cli", *args]


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
