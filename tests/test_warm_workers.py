"""Trial actors start on workers Ray already had running (hpsearch/warm_workers.py): a
study's first trial does not wait for a new worker process."""
from __future__ import annotations

import os
import time

import psutil
import pytest
from sqlalchemy import select

import hpsearch
from hpsearch import warm_workers
from hpsearch.store import Store
from hpsearch.store.models import Result
from tests.helpers import quad_spec


def _spec(name: str) -> dict:
    return quad_spec(name, trainable="tests.helpers:whereami", fixed={},
                     budget={"trials": 1, "max_concurrent": 1})


def _idle_workers() -> set[int]:
    """This process's local Ray's idle workers (the raylet is our child)."""
    pids = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if p.cmdline()[:1] == ["ray::IDLE"]:
                pids.add(p.pid)
        except psutil.Error:
            pass
    return pids


def _trial_metrics(url: str) -> list[dict]:
    store = Store(url)
    with store.session() as s:
        rows = list(s.scalars(select(Result.metrics)))
    store.dispose()
    return rows


@pytest.mark.usefixtures("ray_session")
def test_the_next_studys_trial_runs_in_a_worker_that_was_idle_before_it(tmp_path, monkeypatch):
    # The default (auto): on, since this process started its local Ray (conftest's ray_session).
    monkeypatch.delenv("HPSEARCH_WARM_WORKERS_S", raising=False)
    assert warm_workers.keep_alive() > 0
    first = f"sqlite:///{tmp_path / 'a.db'}"
    hpsearch.run(_spec("warm-a"), db=first, progress=False)
    # The worker the first study's trial actor ran in ended with it; Ray starts another,
    # idle, for the next study. Wait for it to be up (not a timing: a condition).
    deadline = time.monotonic() + 60
    while not _idle_workers() and time.monotonic() < deadline:
        time.sleep(0.5)
    idle = _idle_workers()
    assert idle, "no idle Ray worker after a study"
    second = f"sqlite:///{tmp_path / 'b.db'}"
    hpsearch.run(_spec("warm-b"), db=second, progress=False)
    [metrics] = _trial_metrics(second)
    assert int(metrics["worker_pid"]) in idle, (metrics["worker_pid"], idle)  # no new process
    assert metrics["pl_disable_fork"] == 1.0  # what Tune's runtime env set, the trial sets
    # Readied as it started, not by its actor: Ray's serialization context built (it imports
    # pydantic), and Tune's trainable constructor did not import IPython (no shell to clear).
    assert 0 < metrics["ready_at"] < metrics["t_start"], metrics
    assert metrics["ipython"] == 0.0, metrics


def _idle_imported() -> dict[int, str]:
    """Workers that imported the idle modules as they started: pid -> modules."""
    from ray.experimental import internal_kv

    keys = internal_kv._internal_kv_list(warm_workers.IDLE_IMPORTED_PREFIX,
                                         namespace=warm_workers.KV_NAMESPACE)
    return {int(k.decode().rsplit(":", 1)[1]):
            internal_kv._internal_kv_get(k, namespace=warm_workers.KV_NAMESPACE).decode()
            for k in keys}


@pytest.mark.usefixtures("ray_session")
def test_workers_waiting_after_a_built_in_familys_study_import_its_optimizers_compiler(
        tmp_path, monkeypatch):
    """Every torch.optim optimizer imports torch._dynamo as it is made (1-2 s of CPU here):
    the workers started for the next study do that while they wait, not in its first trials."""
    from ray.experimental import internal_kv

    monkeypatch.delenv("HPSEARCH_WARM_WORKERS_S", raising=False)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    cnn = {"name": "warm-cnn", "trainable": "cnn", "dataset": "digits",
           "space": {"lr": {"loguniform": [3e-3, 1e-2]}},
           "fixed": {"epochs": 1, "train_samples": 200, "conv_layers": 1, "channels": 4},
           "budget": {"trials": 1, "max_concurrent": 1}, "seed": 0}
    hpsearch.run(cnn, db=url, progress=False)
    # A condition, not a timing: the worker Ray starts for the next study has imported them.
    deadline = time.monotonic() + 90
    while not (set(_idle_imported()) & _idle_workers()) and time.monotonic() < deadline:
        time.sleep(0.5)
    # Each of these idle workers wrote its key once the import had returned in its process.
    waiting = {pid: mods for pid, mods in _idle_imported().items() if pid in _idle_workers()}
    assert waiting and set(waiting.values()) == {"torch._dynamo"}, (_idle_imported(), _idle_workers())
    second = f"sqlite:///{tmp_path / 'b.db'}"
    hpsearch.run(_spec("warm-next"), db=second, progress=False)
    [metrics] = _trial_metrics(second)
    # Ray may give the trial an idle worker an earlier test's study left (no kill here: one
    # Ray has not yet seen die may take the actor); on one of these, the trial found it done.
    if int(metrics["worker_pid"]) in waiting:
        assert metrics["dynamo"] == 1.0, metrics
    # That study started: workers from then on are its own, and import nothing more. Its
    # trainable is a user's (it may not use torch): none are asked for after it either.
    assert internal_kv._internal_kv_get(warm_workers.IDLE_IMPORTS_KEY,
                                        namespace=warm_workers.KV_NAMESPACE) is None
    assert _idle_imported() == {}
    assert warm_workers.idle_modules("cnn") == ("torch._dynamo",)
    assert warm_workers.idle_modules("tests.helpers:whereami") == ()
    assert warm_workers.idle_modules("cnn", run_as=object()) == ()


def test_a_trial_actor_needs_tunes_runtime_env_only_for_what_workers_lack(monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setitem(warm_workers._state, "worker_environ", {"PATH": "/bin"})
    assert not warm_workers.needs_runtime_env(warm_workers.tune_env_vars())  # PL_DISABLE_FORK only
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key-set-after-ray-started")
    assert warm_workers.needs_runtime_env(warm_workers.tune_env_vars())  # the workers lack it
    monkeypatch.setitem(warm_workers._state, "worker_environ",
                        {"AWS_ACCESS_KEY_ID": "key-set-after-ray-started"})
    assert not warm_workers.needs_runtime_env(warm_workers.tune_env_vars())  # they inherited it
    monkeypatch.setitem(warm_workers._state, "worker_environ", None)  # a cluster's workers: unknown
    assert warm_workers.needs_runtime_env(warm_workers.tune_env_vars())


def test_nothing_is_prestarted_when_turned_off_or_nothing_ran():
    assert warm_workers.replenish({"node": 2}, keep_alive_s=0) == 0
    assert warm_workers.replenish({}, keep_alive_s=60) == 0


def test_auto_warms_only_a_driver_on_its_own_local_ray_that_may_run_more_studies(monkeypatch):
    monkeypatch.delenv("HPSEARCH_WARM_WORKERS_S", raising=False)
    monkeypatch.delenv("HPSEARCH_DISPATCHER_PID", raising=False)
    monkeypatch.setitem(warm_workers._state, "worker_environ", {"PATH": "/bin"})
    assert warm_workers.keep_alive() == warm_workers.AUTO_KEEP_ALIVE_S  # hpsearch.run, a notebook
    assert warm_workers.system_config()["preload_python_modules"]
    assert warm_workers.system_config(local=False) == {}  # a cluster's head: set by its admin
    monkeypatch.setenv("HPSEARCH_DISPATCHER_PID", str(os.getpid()))  # one study, then exits
    assert warm_workers.keep_alive() == 0 and warm_workers.system_config() == {}
    monkeypatch.delenv("HPSEARCH_DISPATCHER_PID")
    monkeypatch.setitem(warm_workers._state, "worker_environ", None)  # a driver on a cluster
    assert warm_workers.keep_alive() == 0
    monkeypatch.setenv("HPSEARCH_WARM_WORKERS_S", "120")  # forced on
    assert warm_workers.keep_alive() == 120 and warm_workers.system_config(local=False)
    monkeypatch.setenv("HPSEARCH_WARM_WORKERS_S", "0")  # forced off
    monkeypatch.setitem(warm_workers._state, "worker_environ", {"PATH": "/bin"})
    assert warm_workers.keep_alive() == 0 and warm_workers.system_config() == {}


def test_a_bad_warm_workers_setting_is_refused_naming_it(monkeypatch):
    from hpsearch.exceptions import ConfigError
    from hpsearch.settings import settings

    monkeypatch.setenv("HPSEARCH_WARM_WORKERS_S", "soon")
    with pytest.raises(ConfigError, match="HPSEARCH_WARM_WORKERS_S.*auto or a number.*'soon'"):
        settings()


def test_workers_preload_a_built_in_familys_model_code_the_driver_imported(monkeypatch):
    from trainables import get_trainable

    monkeypatch.setenv("HPSEARCH_WARM_WORKERS_S", "60")
    get_trainable("cnn")  # the driver's check of a spec imports it
    modules = warm_workers.trainable_modules("cnn")
    assert modules == ("trainables.cnn", "trainables._harness")
    preload = warm_workers.system_config(modules=modules)["preload_python_modules"]
    assert set(warm_workers.PRELOAD_MODULES) | set(modules) | {warm_workers.IDLE_MODULE} == set(preload)
    assert preload[-1] == warm_workers.IDLE_MODULE  # after the rest: a next study may come first
    # A user's module may not import in a worker (every worker would fail): not preloaded;
    # nor where trials run as another user (their child imports the trainable).
    assert warm_workers.trainable_modules("tests.helpers:whereami") == ()
    assert warm_workers.trainable_modules("cnn", run_as=object()) == ()
    # A cluster's trial workers, prestarted for this study's trials, also import what the
    # trial's optimizer imports; a user's module is imported there as it is.
    assert warm_workers.trial_modules("cnn") == modules + ("torch._dynamo",)
    assert warm_workers.trial_modules("tests.helpers:whereami") == ("tests.helpers",)
