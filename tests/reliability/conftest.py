"""Fixtures for the fault-injection tests: a shared Ray head, drivers as subprocesses.

Drivers are real ``hpsearch`` processes, killed with real signals. They connect
to one Ray head started once for the session (``ray start --head`` on a free
port, never Redis's 6379), which saves ~3 s of Ray start-up per driver.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hpsearch.testing import ray_cluster

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
    error = None  # the predicate's last exception, named if it times out
    while True:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the driver exited with code {proc.returncode}")
        try:
            value = predicate()
        except Exception as e:  # noqa: BLE001 - not there yet (no study row, database busy)
            value, error = None, e
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}"
                                 + (f" (last error: {error!r})" if error else ""))
        time.sleep(every)


@pytest.fixture(scope="package")
def ray_head():
    """A Ray head of 2 CPUs, with its own token and temp dir, for this package's drivers."""
    with ray_cluster(head_cpus=2, prefix="hps-rel-") as head:
        yield head


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
