"""Elastic pool (#19): a node that joins a running study is used by its next trials; a node
killed mid-study sends its trials back to the queue, and the study ends with exactly its
budget of trials finished. Real ``ray start`` nodes on this machine, a real SIGKILL.

The cluster is this test's own (the package's ``ray_cluster`` is shared and must live):
a head with 1 CPU, so trials run one at a time until a second node (2 CPUs) joins. The
trials say where they ran (``trials.node_id``), which is what proves the new node took
trials. Ray notices the dead node by its health checks, shortened here (1 s x 3).
"""
from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from hpsearch.store import Store, StudyStatus, TrialStatus
from hpsearch.testing import free_port, kill_session, ray_start, stop
from tests.service.conftest import cli, service_env, wait_for

pytestmark = [pytest.mark.slow]


def _head(port: int, temp_dir: str, env: dict) -> subprocess.Popen:
    """A Ray head of 1 CPU on ``port``: this test's own cluster."""
    return ray_start(["--head", f"--port={port}", "--num-cpus=1", f"--temp-dir={temp_dir}",
                      "--include-dashboard=false", f"--dashboard-port={free_port()}"],
                     env, Path(temp_dir) / "head.out")


def _driver(path: Path, db: str, port: int, env: dict, tmp_path: Path) -> subprocess.Popen:
    """`hpsearch submit` of the spec at ``path`` on that cluster; its output in driver.out."""
    with open(tmp_path / "driver.out", "wb") as out:
        return subprocess.Popen(
            cli("submit", str(path), "--db", db, "--ray-address", f"127.0.0.1:{port}",
                "--no-progress"), env={**env, "HPSEARCH_HOME": str(tmp_path)},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def test_a_joining_node_takes_trials_and_a_killed_node_gives_them_back(tmp_path):
    temp_dir = tempfile.mkdtemp(prefix="hps-el-", dir="/tmp")  # short: Ray's socket paths
    token, port = secrets.token_hex(32), free_port()
    env = {**service_env(), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token,
           "RAY_USAGE_STATS_ENABLED": "0", "RAY_health_check_period_ms": "1000",
           "RAY_health_check_failure_threshold": "3", "RAY_health_check_timeout_ms": "1000"}
    gate = tmp_path / "gate"  # trials hold their slots until it exists
    spec = {"name": "elastic", "trainable": "tests.helpers:gated", "metric": "loss", "mode": "min",
            "space": {"x": {"uniform": [-5.0, 5.0]}},
            "fixed": {"epochs": 3, "sleep": 0.3, "gate": str(gate)}, "searcher": {"type": "random"},
            # max_failures: a trial lost with its node runs again (Tune's retry), elsewhere
            "budget": {"trials": 4, "max_concurrent": 3, "max_failures": 2},
            "resources": {"cpu": 1}, "seed": 5}
    path, db = tmp_path / "elastic.yaml", f"sqlite:///{tmp_path / 'hps.db'}"
    path.write_text(yaml.safe_dump(spec))
    procs: list[subprocess.Popen] = []
    store = Store(db)

    def trials():
        try:
            return store.trials(store.get_study("elastic").id)
        except Exception:  # noqa: BLE001 - the study's row is not written yet
            return []

    def table() -> str:
        return "; ".join(f"{t.number} {t.status} {(t.node_id or '-')[:8]}" for t in trials())

    try:
        procs.append(_head(port, temp_dir, env))
        driver = _driver(path, db, port, env, tmp_path)
        procs.append(driver)
        # The head's one CPU holds the first trial (it waits at the gate); the others queue.
        first = wait_for(lambda: [t for t in trials() if t.node_id], 90, "a trial placed on the head")
        head = first[0].node_id
        node = ray_start([f"--address=127.0.0.1:{port}", "--num-cpus=2"], env,
                          Path(temp_dir) / "node.out")
        procs.append(node)
        # The joined node takes the queued trials (their rows say where they run).
        try:
            there = wait_for(lambda: [t for t in trials() if t.node_id not in (None, head)
                                      and t.status == TrialStatus.RUNNING], 60,
                             "a trial running on the joined node")
        except AssertionError:
            raise AssertionError(f"trials: {table()}; driver: "
                                 f"{(tmp_path / 'driver.out').read_text()[-2000:]}") from None
        joined = there[0].node_id
        kill_session(node.pid)  # raylet, its workers and the trials on it: SIGKILL
        node.wait(10)
        gate.touch()
        assert driver.wait(120) == 0, (tmp_path / "driver.out").read_text()[-3000:]
        study = store.get_study("elastic")
        assert study.status == StudyStatus.COMPLETED, study.error
        rows = store.trials(study.id)
        # Exactly the budget: every trial finished once, none lost with the node.
        assert len(rows) == 4 and all(t.status == TrialStatus.COMPLETED for t in rows), table()
        retried = [t for t in rows if any(e.status == TrialStatus.RUNNING and e.message
                                          for e in store.trial_events(t.id))]
        assert {t.number for t in there} <= {t.number for t in retried}, table()
        for t in retried:  # they went back to the queue and finished on the head
            assert t.node_id == head
        for t in rows:  # each trial's own report agrees with where its row says it ran
            assert store.results(t.id)[-1].metrics["node"] == t.node_id
        print(f"elastic: joined node {joined[:8]} took trial(s) {[t.number for t in there]}; "
              f"{len(retried)} retried after the kill; {table()}")
    finally:
        store.dispose()
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_a_study_whose_trials_fit_no_node_says_so_until_one_joins(tmp_path):
    """On a cluster a trial that fits no node waits for one to join (an autoscaler, or a
    team adding it): the study says what it waits for, where its user looks (the row the
    page and the API read, ``hpsearch show``), and says nothing once a node that fits has
    joined and the trials ran there."""
    temp_dir = tempfile.mkdtemp(prefix="hps-nf-", dir="/tmp")
    token, port = secrets.token_hex(32), free_port()
    env = {**service_env(), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token,
           "RAY_USAGE_STATS_ENABLED": "0"}
    spec = {"name": "nofit", "trainable": "tests.helpers:quadratic", "metric": "loss",
            "mode": "min", "space": {"x": {"uniform": [-5.0, 5.0]}}, "fixed": {"epochs": 2},
            "searcher": {"type": "random"}, "budget": {"trials": 2, "max_concurrent": 1},
            "resources": {"cpu": 1, "custom": {"big_node": 1}}, "seed": 1}
    path, db = tmp_path / "nofit.yaml", f"sqlite:///{tmp_path / 'hps.db'}"
    path.write_text(yaml.safe_dump(spec))
    procs: list[subprocess.Popen] = []
    store = Store(db)

    def waiting():
        try:
            return store.get_study("nofit").waiting
        except Exception:  # noqa: BLE001 - the study's row is not written yet
            return None

    try:
        procs.append(_head(port, temp_dir, env))
        driver = _driver(path, db, port, env, tmp_path)
        procs.append(driver)
        try:
            notice = wait_for(waiting, 90, "the study to say what its trials wait for")
        except AssertionError:
            raise AssertionError((tmp_path / "driver.out").read_text()[-3000:]) from None
        assert "big_node" in notice and "no node" in notice, notice
        shown = subprocess.run(cli("show", "nofit", "--db", db), env=env, capture_output=True,
                               text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert f"waiting: {notice}" in shown.stdout, shown.stdout
        listed = subprocess.run(cli("list", "--db", db), env=env, capture_output=True,
                                text=True, timeout=60)
        assert "RUNNING (waiting for a node)" in listed.stdout, listed.stdout + listed.stderr
        assert store.trials(store.get_study("nofit").id) == []  # none ran meanwhile
        procs.append(ray_start([f"--address=127.0.0.1:{port}", "--num-cpus=1",
                                '--resources={"big_node": 1}'], env, Path(temp_dir) / "node.out"))
        assert driver.wait(120) == 0, (tmp_path / "driver.out").read_text()[-3000:]
        study = store.get_study("nofit")
        assert study.status == StudyStatus.COMPLETED, study.error
        assert study.waiting is None
        rows = store.trials(study.id)
        assert len(rows) == 2 and all(t.status == TrialStatus.COMPLETED for t in rows)
        print(f"no node fitted: {notice!r}; then the joined node ran the trials")
    finally:
        store.dispose()
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_queued_studies_wait_for_a_head_that_is_down_and_run_once_it_is_up(tmp_path, services):
    """A dispatcher whose Ray head cannot be reached claims nothing (a driver would fail the
    study: hpsearch/ray_address.py) and says so once; the head started at that address,
    the queued study runs there."""
    from hpsearch import spec as specmod
    from hpsearch.testing import RayCluster
    from tests.service.conftest import events

    temp_dir = tempfile.mkdtemp(prefix="hps-dn-", dir="/tmp")
    token, port = secrets.token_hex(32), free_port()
    cluster = RayCluster(f"127.0.0.1:{port}", token, temp_dir)  # nothing listens there yet
    db = f"sqlite:///{tmp_path / 'hps.db'}"
    store = Store(db)
    sid = store.create_study(specmod.load({
        "name": "head-down", "trainable": "tests.helpers:noop", "metric": "loss", "mode": "min",
        "space": {"x": {"uniform": [0.0, 1.0]}}, "budget": {"trials": 1}})).id
    head = None
    try:
        _, log = services.dispatcher(db, cluster, "--max-studies", "1")
        wait_for(lambda: events(log, "dispatcher.ray_unreachable"), 60, "the dispatcher to say")
        time.sleep(3)  # a few more steps: it still claims nothing
        assert store.get_study(sid).status == StudyStatus.QUEUED
        assert len(events(log, "dispatcher.ray_unreachable")) == 1  # said once, not each step
        assert f"cannot reach a Ray head at 127.0.0.1:{port}" in \
            events(log, "dispatcher.ray_unreachable")[0]["message"]
        env = {**service_env(), **cluster.env, "RAY_USAGE_STATS_ENABLED": "0"}
        head = _head(port, temp_dir, env)
        wait_for(lambda: store.get_study(sid).status in StudyStatus.FINISHED, 120,
                 "the study to run once the head is up")
        study = store.get_study(sid)
        assert study.status == StudyStatus.COMPLETED, study.error
        assert events(log, "dispatcher.ray_reachable")
    finally:
        store.dispose()
        if head is not None:
            stop(head)
        shutil.rmtree(temp_dir, ignore_errors=True)
