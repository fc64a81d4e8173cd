"""Trial actors on warm Ray workers: a study's trials do not wait for new processes (#21).

Ray hands an actor only an idle worker started for the same runtime environment (the
raylet's worker pool compares their runtime-env hashes). Three things kept every study of
hpsearch waiting 1.5-3 s (more on a loaded machine) for a fresh worker process before its
first trial, while idle workers sat by (Ray 2.60, Tune 2.60):

1. Ray Tune declares each trainable actor with a runtime environment
   (``ray/tune/execution/class_cache.py``: ``env_vars`` ``PL_DISABLE_FORK=1`` plus a few
   variables copied from the driver when set: AWS keys, Ray Train settings). The workers
   Ray prestarts have none, so no trial ever ran on one. :func:`install` registers
   hpsearch's trial function without that environment when it adds nothing the workers
   lack: the trial sets ``PL_DISABLE_FORK`` itself (hpsearch/trial.py, before the
   trainable imports anything), and a copied variable must already hold, with the same
   value, in the environment of the local Ray this process started (its workers inherit
   that). Otherwise (say AWS keys set only after Ray started, or a remote cluster whose
   workers' environment is unknown) Tune's runtime environment stays as it was.
2. A worker that served an actor ends with it, and Ray prestarts workers once, for its
   first driver (on its node only). :func:`replenish` asks each node's raylet, after a
   study, to start as many idle workers as the study's trial actors ran there (Ray's own
   ``NodeManagerService.PrestartWorkers`` call, with the cluster's token), kept alive for
   :func:`keep_alive` seconds even above Ray's idle-worker cap (``HPSEARCH_WARM_WORKERS_S``;
   ``auto``, the default, is on only where this process started its own local Ray and may
   run another study); :func:`warm_up`, before a
   study, does the same on the nodes nothing has warmed for this driver yet (a cluster's
   nodes), as many as the study's trials fit there. A trial actor takes the first matching
   worker that registers, its own or a prestarted one, so a prestart never delays it.
3. A prestarted worker has imported Ray, not Ray Tune (1.6 s of CPU here). The local Ray
   that :func:`system_config` configures imports Tune's function trainable and the
   modules a trial imports into every worker as it starts (``preload_python_modules``),
   before a study needs it. A cluster's nodes get the same with
   ``ray start --system-config='{"preload_python_modules": [...]}'``.

The trial's boundary is unchanged: a worker's environment is the raylet's with or without
Tune's runtime environment (that only adds variables), and the trial still drops
hpsearch's secrets from its process before the trainable runs (hpsearch/trial.py).
"""
from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from typing import Mapping

log = logging.getLogger("hpsearch")

TRIAL_FN_NAME = "hpsearch_trial"  # hpsearch/trial.py and trial_isolated.py name theirs so
PRELOAD_MODULES = ("ray.tune.trainable.function_trainable", "hpsearch.trial", "hpsearch.reporting",
                   "hpsearch.capture", "hpsearch.media_client", "hpsearch.ddp")
_MARK = "_hpsearch_warm_workers"
_state: dict = {"worker_environ": None,  # the local Ray's environment, when this process started it
          "warmed": set()}  # node ids with workers prestarted for this driver


AUTO_KEEP_ALIVE_S = 600.0  # HPSEARCH_WARM_WORKERS_S=auto, where it is on


def _one_study_driver() -> bool:
    """A dispatcher's per-study driver: it exits after its study, with its workers."""
    from hpsearch.settings import settings

    return settings().dispatcher_pid is not None


def keep_alive() -> float:
    """Seconds prestarted workers are kept; 0: no prestarts. HPSEARCH_WARM_WORKERS_S, or for
    ``auto`` :data:`AUTO_KEEP_ALIVE_S` where this process started its own local Ray and may
    run another study (not a dispatcher's per-study driver), else 0."""
    from hpsearch.settings import settings

    value = settings().warm_workers_s
    if value is not None:
        return value
    own_local_ray = _state["worker_environ"] is not None
    return AUTO_KEEP_ALIVE_S if own_local_ray and not _one_study_driver() else 0.0


def system_config(local: bool = True, modules: tuple[str, ...] = ()) -> dict:
    """``_system_config`` for a Ray this process starts (``local``: its own local Ray; else
    a cluster's head): with warm workers on, every worker imports what a trial needs as it
    starts, and ``modules`` (:func:`trainable_modules`: the first study's model code, torch
    with it), a cost for every other worker too (Ray Train's, the sink's). ``auto`` turns it
    on for a local Ray only, and not in a dispatcher's per-study driver."""
    from hpsearch.settings import settings

    value = settings().warm_workers_s
    on = value > 0 if value is not None else local and not _one_study_driver()
    if not on:
        return {}
    return {"preload_python_modules": list(dict.fromkeys(PRELOAD_MODULES + modules))}


def trainable_modules(trainable: str, run_as=None) -> tuple[str, ...]:
    """The modules of a built-in family that this process has imported (the driver checked
    the spec with them): a worker that imports them as it starts has torch and the model
    code in place before a trial needs them (3 s of CPU for torch here). Nothing for a user's
    ``module:function`` (a module that fails to import would fail every worker) or trials
    run as another user (their child process imports the trainable, not the worker)."""
    from trainables._options import REGISTRY

    family = REGISTRY.get(trainable)
    if run_as is not None or family is None:
        return ()
    modules = (family.module, "trainables._harness")
    return modules if all(m in sys.modules for m in modules) else ()


def started_local_ray(environ: Mapping[str, str] | None = None) -> None:
    """Record the environment the local Ray just started with (its workers inherit it)."""
    import ray

    _state["worker_environ"] = dict(os.environ if environ is None else environ)
    _state["warmed"] = {ray.get_runtime_context().get_node_id()}  # Ray prestarted its CPUs' worth


def tune_env_vars() -> dict[str, str]:
    """The variables Tune's class cache would put in a trainable actor's runtime env."""
    from ray.tune.execution import class_cache

    env = dict(class_cache.DEFAULT_ENV_VARS)
    env.update({k: os.environ[k] for k in class_cache.ENV_VARS_TO_PROPAGATE if k in os.environ})
    return env


def needs_runtime_env(env_vars: Mapping[str, str]) -> bool:
    """Whether the workers lack one of ``env_vars`` (other than Tune's defaults, which the
    trial sets itself): only then does a trial actor need Tune's runtime environment."""
    from ray.tune.execution import class_cache

    copied = {k: v for k, v in env_vars.items() if k not in class_cache.DEFAULT_ENV_VARS}
    if not copied:
        return False
    workers = _state["worker_environ"]
    return workers is None or any(workers.get(k) != v for k, v in copied.items())


def install() -> bool:
    """Patch Tune's actor class cache once per process (see the module's docstring, 1);
    False (and Tune's own rule) if this Tune has no such cache."""
    try:
        from ray.tune.execution.class_cache import _ActorClassCache
    except ImportError:  # pragma: no cover - another Tune: its own rule
        log.warning("Ray Tune has no _ActorClassCache: trial actors keep Tune's runtime env")
        return False
    original = _ActorClassCache.get
    if getattr(original, _MARK, False):
        return True

    def get(self, trainable_cls):
        if (trainable_cls not in self._cache
                and getattr(trainable_cls, "_name", None) == TRIAL_FN_NAME
                and not needs_runtime_env(tune_env_vars())):
            import ray

            self._cache[trainable_cls] = ray.remote(trainable_cls)
        return original(self, trainable_cls)

    setattr(get, _MARK, True)
    get.__wrapped__ = original
    _ActorClassCache.get = get
    return True


def warm_up(slots: int, cpus_per_trial: float, keep_alive_s: float | None = None) -> int:
    """Before a study: on each alive node not warmed for this driver yet, prestart as many
    workers as the study's trials fit there (``slots`` in all, first nodes first)."""
    import ray

    if (keep_alive() if keep_alive_s is None else keep_alive_s) <= 0:
        return 0  # off: no need to ask the cluster for its nodes
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive") and n["NodeID"] not in _state["warmed"]]
    except Exception:  # noqa: BLE001 - no answer: the study starts its workers itself
        return 0
    wanted: dict[str, int] = {}
    for node in nodes:
        fit = int((node.get("Resources") or {}).get("CPU", 0) // max(cpus_per_trial, 1.0))
        wanted[node["NodeID"]] = count = max(0, min(fit, slots))
        slots -= count
    return replenish(wanted, keep_alive_s)


def idle_local_workers() -> int:
    """Idle workers of the local Ray this process started (its raylet is our child); 0 when
    they cannot be counted."""
    try:
        import psutil

        count = 0
        for proc in psutil.Process().children(recursive=True):
            try:
                count += proc.cmdline()[:1] == ["ray::IDLE"]
            except psutil.Error:
                pass
        return count
    except Exception:  # noqa: BLE001 - no psutil, or the process table unreadable
        return 0


def replenish(actors_per_node: Mapping[str, int], keep_alive_s: float | None = None,
              limit: int | None = None) -> int:
    """Ask each node's raylet to start ``actors_per_node[node_id]`` idle workers (at most
    ``limit``, the study's concurrency, and the node's CPUs) for this driver's job, with no
    runtime env: the next study's trial actors take them. On the local Ray this process
    started, idle workers count against the node's CPUs, so studies that leave their
    workers unused do not pile them up. Returns how many were asked for; never
    raises (a study's end must not fail here)."""
    if keep_alive_s is None:
        keep_alive_s = keep_alive()
    wanted = Counter({k: min(v, limit) if limit else v
                      for k, v in actors_per_node.items() if v > 0})
    if keep_alive_s <= 0 or not wanted:
        return 0
    try:
        import ray
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc
        from ray.core.generated.runtime_environment_pb2 import RuntimeEnvInfo

        ctx = ray.get_runtime_context()
        job, here = ctx.get_job_id(), ctx.get_node_id()
        asked = 0
        for node in ray.nodes():
            cpus = int((node.get("Resources") or {}).get("CPU", 0))
            count = min(wanted.get(node.get("NodeID"), 0), cpus)
            if count > 0 and node.get("NodeID") == here and _state["worker_environ"] is not None:
                # At most the node's CPUs idle in all (Ray's own soft cap): an idle worker
                # of Ray's may still go (its idle-worker reaper), ours stay.
                count = min(count, cpus - idle_local_workers())
            if not node.get("Alive") or count <= 0:
                continue
            _state["warmed"].add(node["NodeID"])
            channel = init_grpc_channel(f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}")
            try:
                node_manager_pb2_grpc.NodeManagerServiceStub(channel).PrestartWorkers(
                    node_manager_pb2.PrestartWorkersRequest(
                        language=common_pb2.PYTHON, job_id=bytes.fromhex(job),
                        runtime_env_info=RuntimeEnvInfo(serialized_runtime_env="{}"),
                        keep_alive_duration_secs=int(keep_alive_s), num_workers=count),
                    timeout=10)
            finally:
                channel.close()
            asked += count
        return asked
    except Exception:  # noqa: BLE001 - a later study starts its workers itself, as Ray would
        log.warning("could not prestart Ray workers for the next study", exc_info=True)
        return 0
