"""Trial actors on warm Ray workers: a study's trials do not wait for new processes (#21).

Ray hands an actor only an idle worker started for the same runtime environment (the
raylet's worker pool compares their runtime-env hashes). Four things kept every study of
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
   first driver (on its node only). On the local Ray this process started,
   :func:`replenish` asks the raylet, after a study, to start as many idle workers as the
   study's trial actors ran there (Ray's own ``NodeManagerService.PrestartWorkers`` call),
   kept alive for :func:`keep_alive` seconds even above Ray's idle-worker cap
   (``HPSEARCH_WARM_WORKERS_S``; ``auto``, the default, is on only where this process
   started its own local Ray and may run another study). A trial actor takes the first
   matching worker that registers, its own or a prestarted one, so a prestart never delays it.
3. A prestarted worker has imported Ray, not Ray Tune (1-2 s of CPU more). The local Ray
   that :func:`system_config` configures imports Tune's function trainable and the
   modules a trial imports into every worker as it starts (``preload_python_modules``),
   before a study needs it.
4. A driver on a running cluster cannot configure its nodes, and its studies' first trials
   started unevenly: a node whose workers were up (the head's, prestarted by Ray for the
   first driver) ran trials 1-2 s (3.5 s under load) before a node whose trial actors each
   started a process and imported Tune there (#21 §2, benchmarks/results/busy_pool.md).
   There, unless ``HPSEARCH_WARM_WORKERS_S=0``, trial actors are declared with Tune's
   variables plus Ray's worker setup hook naming :func:`preload` (the variable behind
   ``worker_process_setup_hook``), which imports Tune, hpsearch's trial modules and the
   trainable's module in each trial worker as it starts, and nowhere else (not in Ray
   Train's or the sink's workers). :func:`warm_up`, as the study is set up, asks each
   node's raylet to prestart as many such workers as the study's trials fit there, and
   the driver waits (:meth:`Warmup.wait`, at most :data:`READY_WAIT_S`) until they have
   imported it all before Tune starts the trials: every node's first trials then start
   within a moment of each other, and the imports overlap the driver's own setup.
5. A warm worker still spent 0.25-0.3 s of CPU on its first actor: Ray's serialization
   context (it imports pydantic) and Tune's constructor importing IPython. The last module
   of :data:`PRELOAD_MODULES` does both as the worker starts (:func:`ready_worker`).
6. A built-in family's trial still imported ``torch._dynamo`` (torch's compiler) as it made
   its optimizer: every ``torch.optim`` optimizer imports it (``torch/_compile.py``), 1-2 s
   of CPU here and 5.4-5.7 s on a GPU machine, once per trial process
   (benchmarks/results/gpu_busy.md). Every worker of a local Ray importing it as it starts
   made whole studies slower (a cost for workers that never run a trial, on CPUs the first
   trials need), so only the workers that wait for the next study import it
   (:data:`OPTIMIZER_MODULES`): those :func:`replenish` starts after a study of a built-in
   family, while idle (:data:`IDLE_MODULE`, imported last, reads :data:`IDLE_IMPORTS_KEY`,
   which the next study's start deletes), and a cluster's prestarted trial workers
   (:func:`trial_modules`), which the driver waits for anyway.

The trial's boundary is unchanged: a worker's environment is the raylet's with or without
Tune's runtime environment (that only adds variables), and the trial still drops
hpsearch's secrets from its process before the trainable runs (hpsearch/trial.py).
"""
from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections import Counter
from typing import Mapping

log = logging.getLogger("hpsearch")

TRIAL_FN_NAME = "hpsearch_trial"  # hpsearch/trial.py and trial_isolated.py name theirs so
PRELOAD_MODULES = ("ray.tune.trainable.function_trainable", "hpsearch.trial", "hpsearch.reporting",
                   "hpsearch.capture", "hpsearch.media_client", "hpsearch.ddp",
                   "hpsearch._worker_setup")  # last: ready_worker() in the worker
IDLE_MODULE = "hpsearch._idle_imports"  # a local Ray's workers import it after all the rest
_MARK = "_hpsearch_warm_workers"
_state: dict = {"worker_environ": None,  # the local Ray's environment, when this process started it
                "trial_env": None,  # a cluster driver's trial actors' runtime env (warm_up)
                "token": uuid.uuid4().hex[:16],  # this driver's warm workers' signal keys
                "preloaded_at": None,  # in a worker: when preload() finished
                "ready_at": None}  # in a worker: when ready_worker() had built its context

AUTO_KEEP_ALIVE_S = 600.0  # HPSEARCH_WARM_WORKERS_S=auto, where it is on
CLUSTER_KEEP_ALIVE_S = 120.0  # a cluster's prestarted trial workers wait this long for a study
READY_WAIT_S = 60.0  # at most this long for them before a study starts its trials anyway
STALL_S = 8.0  # a node whose count has not moved this long is asked again (an ask the
# raylet dropped: it starts at most its startup concurrency at once, its own starts included)
MODULES_ENV = "HPSEARCH_PRELOAD_MODULES"  # in the trial workers' runtime env only
SIGNAL_ENV = "HPSEARCH_WARM_SIGNAL"
KV_NAMESPACE = "hpsearch"
# What a built-in family's trial imports as it makes its optimizer (every torch.optim one does).
OPTIMIZER_MODULES = ("torch._dynamo",)
IDLE_IMPORTS_KEY = "warm:idle-imports"  # modules, for workers starting until the next study
IDLE_IMPORTS_S = 120.0  # ...or at most this long after the study that asked for them
IDLE_IMPORTED_PREFIX = "warm:idle-imported:"  # + a worker's pid: it imported them


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
    return {"preload_python_modules": list(dict.fromkeys(PRELOAD_MODULES + modules
                                                         + (IDLE_MODULE,)))}


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
    _state["worker_environ"] = dict(os.environ if environ is None else environ)


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
                and getattr(trainable_cls, "_name", None) == TRIAL_FN_NAME):
            import ray

            if _state["trial_env"] is not None:  # a cluster's: on the workers warm_up started
                self._cache[trainable_cls] = ray.remote(runtime_env=_state["trial_env"])(
                    trainable_cls)
            elif not needs_runtime_env(tune_env_vars()):
                self._cache[trainable_cls] = ray.remote(trainable_cls)
        return original(self, trainable_cls)

    setattr(get, _MARK, True)
    get.__wrapped__ = original
    _ActorClassCache.get = get
    return True


class Warmup:
    """Trial workers being prestarted on a cluster's nodes for one study (:func:`warm_up`);
    :meth:`wait` before the study's ``fit``."""

    def __init__(self, wanted: Mapping[str, int], env: dict, keep_alive_s: float,
                 nodes: Mapping[str, dict]):
        self.wanted, self.env, self.keep_alive_s = dict(wanted), env, keep_alive_s
        self.nodes = dict(nodes)
        self.asked: dict[str, tuple[int, int]] = {}  # node -> (started when asked, asked up to)
        self.ready: dict[str, int] = {}

    def _counts(self) -> tuple[Counter, Counter, dict[str, int]]:
        """Per node: workers whose preload began, finished, and the raylet's startup
        concurrency (its CPUs, at most the machine's cores: ray/_private/services.py)."""
        from ray.experimental import internal_kv

        started, ready, caps = Counter(), Counter(), {}
        for key in internal_kv._internal_kv_list(_signal_prefix(), namespace=KV_NAMESPACE):
            _, _, stage, node, cores, _pid = key.decode().split(":")
            (started if stage == "s" else ready)[node] += 1
            cpus = int((self.nodes.get(node, {}).get("Resources") or {}).get("CPU", 1))
            caps[node] = max(1, min(int(cores), cpus))
        return started, ready, caps

    def wait(self, timeout_s: float = READY_WAIT_S) -> dict[str, int]:
        """Until each node's asked-for workers have imported what a trial needs (or
        ``timeout_s``); returns how many did, per node. A raylet starts at most its startup
        concurrency (its CPUs, at most the machine's cores) at once and drops the rest of
        an ask: the rest is asked for once the first ones began. Never raises."""
        import ray

        began = time.monotonic()
        deadline = began + timeout_s
        progress = dict.fromkeys(self.wanted, (0, time.monotonic()))
        try:
            while time.monotonic() < deadline:
                started, ready, caps = self._counts()
                self.ready = {n: min(ready[n], w) for n, w in self.wanted.items()}
                if all(ready[n] >= w for n, w in self.wanted.items()):
                    break
                now = time.monotonic()
                for node, want in self.wanted.items():
                    if started[node] != progress[node][0]:
                        progress[node] = (started[node], now)
                    base, upto = self.asked[node]
                    if node in caps:  # the first ask started at most the node's cap
                        upto = min(upto, base + caps[node])
                    stalled = now - progress[node][1] > STALL_S
                    if started[node] < want and (started[node] >= upto or stalled):
                        count = want - started[node]
                        prestart(self.nodes[node], min(count, caps.get(node, count)), self.env,
                                 self.keep_alive_s)
                        log.debug("warm trial workers: node %s: %d started, %d ready; asked "
                                  "for %d more", node[:8], started[node], ready[node], count)
                        self.asked[node] = (started[node], started[node] + count)
                        progress[node] = (started[node], now)
                    else:
                        self.asked[node] = (base, upto)
                time.sleep(0.1)
        except Exception:  # noqa: BLE001 - the study's actors start their workers themselves
            log.warning("waiting for warm trial workers failed", exc_info=True)
        finally:
            try:
                from ray.experimental import internal_kv

                if ray.is_initialized():
                    internal_kv._internal_kv_del(_signal_prefix(), del_by_prefix=True,
                                                 namespace=KV_NAMESPACE)
            except Exception:  # noqa: BLE001 - a few stale keys: the next count is off
                pass
        ready, wanted = sum(self.ready.values()), sum(self.wanted.values())
        (log.debug if ready == wanted else log.info)(
            "warm trial workers: %d of %d ready in %.1f s", ready, wanted, time.monotonic() - began)
        return self.ready


def warm_up(slots: int, request: Mapping[str, float],
            modules: tuple[str, ...] = ()) -> Warmup | None:
    """Before a study, for a driver on a running cluster (see the module's docstring, 4):
    ask each alive node to prestart as many trial workers as the study's trials fit there
    (``request``: one trial's resources in Tune's spelling; ``slots`` in all, first nodes
    first), each importing Ray Tune, hpsearch's trial modules and ``modules`` as it starts.
    The study's trial actors are declared with the same runtime env (:func:`install`), so
    they take these workers. None where this does not apply (a local Ray, or
    HPSEARCH_WARM_WORKERS_S=0)."""
    import ray

    from hpsearch.settings import settings

    _state["trial_env"] = None
    try:  # workers starting from now on are this study's, not idle ones (6)
        idle_imports(())
    except Exception:  # noqa: BLE001 - at worst a worker imports a module early
        log.debug("could not end the idle imports", exc_info=True)
    if _state["worker_environ"] is not None or settings().warm_workers_s == 0:
        return None  # a local Ray: its workers preload as they start (system_config)
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        env = trial_runtime_env(modules)
        wanted: dict[str, int] = {}
        for node in nodes:
            count = max(0, min(_trials_fitting(node.get("Resources") or {}, request, slots), slots))
            if count:
                wanted[node["NodeID"]] = count
                slots -= count
        keep = settings().warm_workers_s or CLUSTER_KEEP_ALIVE_S
        warmup = Warmup(wanted, env, keep, {n["NodeID"]: n for n in nodes})
        for node in nodes:
            if node["NodeID"] in wanted:
                prestart(node, wanted[node["NodeID"]], env, keep)
                warmup.asked[node["NodeID"]] = (0, wanted[node["NodeID"]])
        _state["trial_env"] = env
        return warmup
    except Exception:  # noqa: BLE001 - the study starts its workers itself
        log.warning("could not prestart trial workers on the cluster", exc_info=True)
        return None


def _trials_fitting(resources: Mapping[str, float], request: Mapping[str, float], most: int) -> int:
    """How many trials asking ``request`` (hpsearch's names: cpu, gpu, custom) fit in a
    node's ``resources`` (Ray's: CPU, GPU, custom)."""
    from hpsearch.pool import RAY_NAMES

    fits = [int(resources.get(RAY_NAMES.get(k, k), 0) // v) for k, v in request.items() if v > 0]
    return min(fits) if fits else most


def trial_modules(trainable: str, run_as=None) -> tuple[str, ...]:
    """The modules a trial of ``trainable`` imports, for its worker to import as it starts:
    a built-in family's (:func:`trainable_modules`) or a ``module:function``'s module;
    nothing for trials run as another user (their child process imports the trainable)."""
    if run_as is not None:
        return ()
    if ":" in trainable:
        return (trainable.split(":", 1)[0],)
    return trainable_modules(trainable) + idle_modules(trainable)


def idle_modules(trainable: str, run_as=None) -> tuple[str, ...]:
    """What the workers :func:`replenish` starts after a study of ``trainable`` import while
    they wait for the next one, beyond what every worker imports: a built-in family's
    optimizer imports (:data:`OPTIMIZER_MODULES`); nothing for a user's ``module:function``
    (it may not use torch) or trials run as another user."""
    if run_as is not None or not trainable_modules(trainable):
        return ()
    return OPTIMIZER_MODULES


def trial_runtime_env(modules: tuple[str, ...] = ()) -> dict:
    """The runtime env of a cluster driver's trial actors: the variables Tune would give
    them, and Ray's worker setup hook (the variable behind ``worker_process_setup_hook``)
    naming :func:`preload`, with the modules to import and this driver's signal key."""
    from ray._private.ray_constants import WORKER_PROCESS_SETUP_HOOK_ENV_VAR

    return {"env_vars": {**tune_env_vars(),
                         WORKER_PROCESS_SETUP_HOOK_ENV_VAR: f"{__name__}.preload",
                         MODULES_ENV: ",".join(dict.fromkeys(PRELOAD_MODULES + modules)),
                         SIGNAL_ENV: _state["token"]}}


def preloaded_at() -> float | None:
    """In a worker: when :func:`preload` finished there (None: it did not run)."""
    return _state["preloaded_at"]


def ready_at() -> float | None:
    """In a worker: when :func:`ready_worker` had built its serialization context (None: not)."""
    return _state["ready_at"]


def _signal_prefix(token: str | None = None) -> str:
    return f"warm:{token or _state['token']}:"


def preload() -> None:
    """Run by Ray in a trial worker as it starts, before it takes its actor (the setup
    hook of :func:`trial_runtime_env`): import what a trial needs, and tell the driver
    (keys in Ray's KV store: begun, then done, with the node's cores). Never raises: a
    failing setup hook would end the worker."""
    import importlib

    try:
        import multiprocessing

        import ray
        from ray.experimental import internal_kv

        node = ray.get_runtime_context().get_node_id()
        tail = f"{node}:{multiprocessing.cpu_count()}:{os.getpid()}"
        from hpsearch.settings import settings

        prefix = _signal_prefix(settings().warm_signal or "none")
        internal_kv._internal_kv_put(prefix + "s:" + tail, b"", namespace=KV_NAMESPACE)
        for name in settings().preload_modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - the trial imports it again and reports why
                log.warning("warm worker: could not import %s", name, exc_info=True)
        _state["preloaded_at"] = time.time()
        internal_kv._internal_kv_put(prefix + "r:" + tail, b"", namespace=KV_NAMESPACE)
    except Exception:  # noqa: BLE001 - a cold worker still runs its trial
        log.warning("warm worker: preload failed", exc_info=True)


def ready_worker() -> None:
    """In a trial worker as it starts (imported from :data:`PRELOAD_MODULES`): do the two
    things that made most of a warm worker's actor start, 0.25-0.3 s of CPU here, before
    an actor comes (#21 §2: eight trial actors starting at once on a 2-core machine spent
    0.9-1.5 s each in their constructor, and the last slot's first trial began 0.6-0.8 s
    after the first):

    - Ray builds a worker's serialization context when it first deserializes anything (a
      trial worker: its actor's constructor arguments); building it imports ``pydantic.v1``
      to register a serializer (``ray/_common/pydantic_compat.py``, 0.1-0.2 CPU-s). It is
      built here (Ray's private call, pinned version; if it fails, the first task builds
      it, as before).
    - Tune's trainable actor calls ``disable_ipython()`` in its constructor, which imports
      IPython (0.13 CPU-s) to clear IPython's shell instance. A process that has not
      imported IPython has no instance to clear, so there the call now returns at once;
      where IPython is imported it runs as before (:func:`_skip_ipython_import`).
    Never raises: a failing preload must not end the worker."""
    try:
        from ray._private.worker import global_worker

        global_worker.get_serialization_context()
        _state["ready_at"] = time.time()
    except Exception:  # noqa: BLE001 - the first task builds it, as without warm workers
        log.debug("warm worker: no serialization context yet", exc_info=True)
    try:
        _skip_ipython_import()
    except Exception:  # noqa: BLE001 - Tune's own call stays
        log.debug("warm worker: disable_ipython left as Tune's", exc_info=True)


def idle_imports(modules: tuple[str, ...]) -> None:
    """On the local Ray: workers starting from now until the next study starts
    (:func:`warm_up` calls this with ()), and for at most :data:`IDLE_IMPORTS_S`, import
    ``modules`` as they start (:func:`import_idle_modules`); () stops that and forgets which
    workers did."""
    import ray
    from ray.experimental import internal_kv

    if not ray.is_initialized():
        return
    if modules:
        value = f"{time.time() + IDLE_IMPORTS_S}|{','.join(modules)}".encode()
        internal_kv._internal_kv_put(IDLE_IMPORTS_KEY, value, namespace=KV_NAMESPACE)
    else:
        internal_kv._internal_kv_del(IDLE_IMPORTS_KEY, namespace=KV_NAMESPACE)
        internal_kv._internal_kv_del(IDLE_IMPORTED_PREFIX, del_by_prefix=True,
                                     namespace=KV_NAMESPACE)


def import_idle_modules() -> tuple[str, ...]:
    """In a worker of a local Ray as it starts, after everything else it imports
    (:data:`IDLE_MODULE`): import what :func:`idle_imports` named, if no study has started
    since; returns the modules imported (also under ``idle-imported:<pid>`` in Ray's KV
    store). Asked last, so that a study started right after the last one (a loop of
    studies) takes these workers before they ask: they import nothing more, and its trials
    import what they need; a worker that waits imports them in that time."""
    import importlib

    from ray.experimental import internal_kv

    value = internal_kv._internal_kv_get(IDLE_IMPORTS_KEY, namespace=KV_NAMESPACE)
    if not value:
        return ()
    until, _, names = value.decode().partition("|")
    if time.time() > float(until):
        return ()
    modules = tuple(n for n in names.split(",") if n)
    for name in modules:
        importlib.import_module(name)
    internal_kv._internal_kv_put(f"{IDLE_IMPORTED_PREFIX}{os.getpid()}",
                                 ",".join(modules).encode(), namespace=KV_NAMESPACE)
    return modules


def _skip_ipython_import() -> None:
    from ray.tune.trainable import trainable

    original = trainable.disable_ipython  # the name Trainable.__init__ looks up
    if getattr(original, _MARK, False):
        return

    def disable_ipython() -> None:
        if "IPython" in sys.modules:  # else no shell instance exists to clear
            original()

    setattr(disable_ipython, _MARK, True)
    trainable.disable_ipython = disable_ipython


def prestart(node: dict, count: int, env: dict | None, keep_alive_s: float) -> None:
    """Ask ``node``'s raylet (Ray's own ``NodeManagerService.PrestartWorkers`` call) to start
    ``count`` idle workers for this driver's job with runtime env ``env`` (None: none),
    kept ``keep_alive_s`` even above Ray's idle-worker cap."""
    import ray
    from ray._private.grpc_utils import init_grpc_channel
    from ray._private.utils import get_runtime_env_info
    from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc
    from ray.core.generated.runtime_environment_pb2 import RuntimeEnvInfo
    from ray.runtime_env import RuntimeEnv

    # the same runtime env info an actor declared with ``env`` carries (ray/actor.py)
    info = (get_runtime_env_info(RuntimeEnv(**env)) if env
            else RuntimeEnvInfo(serialized_runtime_env="{}"))
    channel = init_grpc_channel(f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}")
    try:
        node_manager_pb2_grpc.NodeManagerServiceStub(channel).PrestartWorkers(
            node_manager_pb2.PrestartWorkersRequest(
                language=common_pb2.PYTHON,
                job_id=bytes.fromhex(ray.get_runtime_context().get_job_id()),
                runtime_env_info=info, keep_alive_duration_secs=int(keep_alive_s),
                num_workers=count),
            timeout=10)
    finally:
        channel.close()


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
              limit: int | None = None, modules: tuple[str, ...] = ()) -> int:
    """After a study on the local Ray this process started: ask its raylet to start
    ``actors_per_node[node_id]`` idle workers (at most ``limit``, the study's concurrency,
    and no more idle in all than the node's CPUs, so studies that leave their workers unused
    do not pile them up) for this driver's job, with no runtime env: the next study's trial
    actors take them. (A cluster's nodes are warmed before each study: :func:`warm_up`.)
    They also import ``modules`` (:func:`idle_modules`) as they start, while they wait.
    Returns how many were asked for; never raises (a study's end must not fail here)."""
    if keep_alive_s is None:
        keep_alive_s = keep_alive()
    wanted = Counter({k: min(v, limit) if limit else v
                      for k, v in actors_per_node.items() if v > 0})
    if keep_alive_s <= 0 or not wanted or _state["worker_environ"] is None:
        return 0
    try:
        import ray

        here = ray.get_runtime_context().get_node_id()
        if modules:
            idle_imports(modules)
        asked = 0
        for node in ray.nodes():
            cpus = int((node.get("Resources") or {}).get("CPU", 0))
            count = min(wanted.get(node.get("NodeID"), 0), cpus)
            if node.get("NodeID") == here:
                # At most the node's CPUs idle in all (Ray's own soft cap): an idle worker
                # of Ray's may still go (its idle-worker reaper), ours stay.
                count = min(count, cpus - idle_local_workers())
            if node.get("Alive") and count > 0:
                prestart(node, count, None, keep_alive_s)
                asked += count
        return asked
    except Exception:  # noqa: BLE001 - a later study starts its workers itself, as Ray would
        log.warning("could not prestart Ray workers for the next study", exc_info=True)
        return 0
