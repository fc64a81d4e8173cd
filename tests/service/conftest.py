"""Service-mode fixtures: a real two-node Ray cluster, real servers and dispatchers.

The cluster is started with ``ray start`` (a head and a second node declaring 2
GPUs and a ``gpu_node`` custom resource) on free loopback ports, in its own
temporary folder and with its own auth token, so it never meets the local Ray
of the ``ray_session`` fixture nor ``~/.ray/auth_token``. Teardown signals only
the processes these fixtures started (their sessions), never ``ray stop``, which
would stop every Ray on the machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hpsearch import testing
from hpsearch.testing import RayCluster as Cluster
from hpsearch.testing import free_port, kill_session, stop, wait_line

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="package")
def ray_cluster():
    """A Ray head (2 CPUs, no GPU) and a second node with 4 CPUs, 2 GPUs, gpu_node: 2
    and gpu_memory_gb: 16 (two 8 GiB GPUs' worth of declared memory)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    with testing.ray_cluster(head_cpus=2, node_cpus=4, env=env, node_args=[
            "--num-gpus=2", '--resources={"gpu_node": 2, "gpu_memory_gb": 16}']) as cluster:
        yield cluster


# -- servers and dispatchers -------------------------------------------------------------
def service_env(extra: dict | None = None) -> dict:
    env = {**os.environ, "HPSEARCH_ALLOWED_MODULES": "tests.helpers",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for name in ("HPSEARCH_DB", "HPSEARCH_SERVER", "HPSEARCH_TOKEN", "RAY_ADDRESS"):
        env.pop(name, None)
    env.update(extra or {})
    return env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "hpsearch.cli", *args]


def submit_on_cluster(cluster: Cluster, spec: dict, tmp_path: Path):
    """``hpsearch submit`` of ``spec`` on the cluster (SQLite in ``tmp_path``), checked to
    complete; the store and the study's row."""
    import yaml

    from hpsearch.store import Store, StudyStatus

    path, db = tmp_path / f"{spec['name']}.yaml", f"sqlite:///{tmp_path / 'hps.db'}"
    path.write_text(yaml.safe_dump(spec))
    proc = subprocess.run(cli("submit", str(path), "--db", db, "--ray-address", cluster.address,
                              "--no-progress"),
                          env=service_env({**cluster.env, "HPSEARCH_HOME": str(tmp_path)}),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    store = Store(db)
    study = store.get_study(spec["name"])
    assert study.status == StudyStatus.COMPLETED, study.error
    return store, study


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"no answer from {url}: {log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def services(tmp_path):
    """Start web servers and dispatchers as real processes; all stopped at teardown."""
    started: list[subprocess.Popen] = []

    class Services:
        def web(self, db: str) -> str:
            port = free_port()
            log = tmp_path / f"web-{port}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(cli("ui", "--db", db, "--port", str(port)),
                                        env=service_env(), stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            started.append(proc)
            url = f"http://127.0.0.1:{port}"
            wait_http(url + "/api/v1/health", proc, log)
            return url

        def dispatcher(self, db: str, cluster: Cluster | None, *args: str,
                       name: str = "d") -> tuple[subprocess.Popen, Path]:
            log = tmp_path / f"dispatcher-{name}.jsonl"
            cmd = cli("dispatcher", "--db", db, "--log-format", "json", *args)
            if cluster is not None:
                cmd += ["--ray-address", cluster.address]
            with open(log, "ab") as out:
                proc = subprocess.Popen(cmd, env=service_env(cluster.env if cluster else None),
                                        stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
            started.append(proc)
            return proc, log

        def track(self, proc: subprocess.Popen) -> subprocess.Popen:
            started.append(proc)
            return proc

    yield Services()
    for proc in reversed(started):
        stop(proc)


def events(log: Path, event: str | None = None) -> list[dict]:
    """The JSON log lines of a dispatcher (other lines, e.g. from Ray, are skipped)."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if event is None or d.get("event") == event:
            out.append(d)
    return out


def wait_for(predicate, timeout: float, what: str, every: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
