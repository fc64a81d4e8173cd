"""Fixtures for the fault-injection tests: a shared Ray head, drivers as subprocesses.

Drivers are real ``hpsearch`` processes, killed with real signals. They connect
to one Ray head started once for the session (``ray start --head`` on a free
port, never Redis's 6379), which saves ~3 s of Ray start-up per driver.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COUNTS = Path(os.environ.get("HPSEARCH_RELIABILITY_COUNTS",
                             Path(os.environ.get("TMPDIR", "/tmp")) / "hpsearch-reliability.json"))


def record(fault: str, **counts) -> None:
    """Print and keep the counts of one test (docs/reliability.md states them)."""
    data = json.loads(COUNTS.read_text()) if COUNTS.exists() else {}
    data[fault] = counts
    COUNTS.write_text(json.dumps(data, indent=1, sort_keys=True))
    print(f"[reliability] {fault}: {counts}")


def wait_for(predicate, timeout: float = 120.0, every: float = 0.2, what: str = "condition",
             proc: subprocess.Popen | None = None):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``

    (or at once when ``proc``, a driver the condition depends on, has exited).
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the driver exited with code {proc.returncode}")
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - not there yet (no study row, database busy)
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Head:
    def __init__(self, address: str, token: str):
        self.address, self.token = address, token

    @property
    def env(self) -> dict:
        """What a driver needs to join the head (Ray's token auth is on)."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}


def kill_session(leader: int, sig: int = signal.SIGKILL) -> None:
    """Signal every process of the session ``leader`` started (ours alone, never `ray stop`)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == leader:
                    os.kill(int(entry), sig)
            except (ProcessLookupError, PermissionError):
                pass


@pytest.fixture(scope="package")
def ray_head():
    """A Ray head of 2 CPUs, with its own token and temp dir, for this package's drivers."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="hps-rel-", dir="/tmp")  # short: Ray's socket paths
    token = secrets.token_hex(32)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token,
           "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    log = Path(temp) / "head.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("ray")), "start", "--head", f"--port={port}",
             "--node-ip-address=127.0.0.1", "--num-cpus=2", f"--temp-dir={temp}",
             "--include-dashboard=false", f"--dashboard-port={free_port()}",
             f"--dashboard-agent-listen-port={free_port()}", "--object-store-memory=100000000",
             "--disable-usage-stats", "--block"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "Ray runtime started" in log.read_text(errors="replace")
                 or proc.poll() is not None, timeout=120, what="the Ray head")
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        yield Head(f"127.0.0.1:{port}", token)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        kill_session(proc.pid)
        proc.wait(10)
        shutil.rmtree(temp, ignore_errors=True)


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpsearch.cli", *args]


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


def start_driver(env: dict, *args: str, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen(cli(*args, "--no-progress"), env=env, stdout=out,
                            stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
                            start_new_session=True)


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL a driver (its trials die with it: Ray ends a dead driver's actors)."""
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)


@pytest.fixture
def driver_env(home, ray_head):
    """A driver's environment: this test's HPSEARCH_HOME, the head's token."""
    env = {**os.environ, "HPSEARCH_HOME": str(home), "PYTHONPATH": str(ROOT), **ray_head.env}
    for name in ("HPSEARCH_DB", "RAY_ADDRESS", "HPSEARCH_FAILPOINT"):
        env.pop(name, None)
    return env
