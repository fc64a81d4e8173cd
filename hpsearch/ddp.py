"""Data-parallel trials: ``resources: {workers: N}`` trains each trial on N Ray Train workers.

A trial is still one Ray Tune trial (one row, one result stream, one searcher
point). Its process (the Tune function trainable, wrapped by hpsearch/trial.py)
asks Ray for nothing and runs a ``ray.train.torch.TorchTrainer`` with N workers,
each with the spec's ``cpu``/``gpu``/``gpu_memory_gb``/``custom`` resources. Ray
Train starts the workers, joins them in one ``torch.distributed`` process group
(gloo on CPU, NCCL on GPU) and restarts them from the run's latest checkpoint when
one dies (``FailureConfig(max_failures=budget.max_failures)``).

Every worker calls :func:`report` once per round (it is Ray Train's barrier); rank 0's
metrics and checkpoint are the round's result. A Ray Train callback in the run's
controller hands each result to the trial's process, which reports it to Tune
(``hpsearch.report``), so that Tune, its schedulers and the store callback see exactly
the stream a one-process trial sends: one result per round, each with its checkpoint.
The run waits for the trial's process to take each round (not for Tune to decide on it).
When Tune stops the trial (ASHA, the budget, a cancel), the trial's process aborts the
run through its controller, which removes the workers and their placement group; when
the process ends first (Tune does not wait for it), the controller dies with it and the
cluster's reservations actor removes the group (hpsearch/_ddp_callback.py). A resumed or
restored trial passes its Tune checkpoint to the run: every worker starts from it
(:func:`checkpoint_dir`).

A custom trainable (``module:function``) follows the same pattern::

    import hpsearch.ddp as ddp

    def train_worker(config):            # runs on every worker
        import ray.train.torch
        model = ray.train.torch.prepare_model(build(config))      # DistributedDataParallel
        loader = ray.train.torch.prepare_data_loader(make_loader(config))  # DistributedSampler
        for epoch in range(config["epochs"]):
            ...                           # one pass over this worker's shard
            ddp.report({"loss": loss}, checkpoint_dir=save(model) if ddp.rank() == 0 else None)

    def train(config):                    # the trainable named in the spec
        ddp.run(train_worker, config)     # N workers (or in-process when workers is 1)

Like the rest of hpsearch's trial path, this module imports only the standard library
until a trial runs.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from hpsearch.isolation import SECRET_ENV


@dataclass(frozen=True)
class Scaling:
    """How one trial trains: ``workers`` processes, each with ``resources`` (Ray's names:
    ``CPU``, ``GPU`` and custom resources), restarted up to ``max_failures`` times."""

    workers: int = 1
    resources: dict[str, float] = field(default_factory=lambda: {"CPU": 1.0})
    max_failures: int = 0

    @property
    def use_gpu(self) -> bool:
        return self.resources.get("GPU", 0) > 0

    @property
    def backend(self) -> str:
        """The ``torch.distributed`` backend: NCCL between GPUs, gloo between CPUs."""
        return "nccl" if self.use_gpu else "gloo"

    @classmethod
    def of_spec(cls, spec) -> "Scaling":
        """The scaling a validated :class:`hpsearch.spec.Spec` asks for."""
        per_worker = spec.resources.per_worker()
        names = {"cpu": "CPU", "gpu": "GPU"}
        resources = {names.get(k, k): float(v) for k, v in per_worker.items() if v}
        return cls(spec.resources.workers, resources, spec.budget.max_failures)


_current: Scaling | None = None  # set by the trial wrapper (hpsearch/trial.py) for its trial


def start_trial(scaling: Scaling | None) -> None:
    global _current
    _current = scaling


def end_trial() -> None:
    global _current
    _current = None


def scaling() -> Scaling:
    """This trial's scaling (one worker outside a data-parallel study)."""
    return _current or Scaling()


def workers() -> int:
    """How many data-parallel workers this trial asked for (1: train in this process)."""
    return scaling().workers


# -- inside a worker ---------------------------------------------------------------

def rank() -> int:
    """This worker's rank (0 outside a Ray Train run)."""
    context = _train_context()
    return context.get_world_rank() if context is not None else 0


def world_size() -> int:
    """How many workers train together (1 outside a Ray Train run)."""
    context = _train_context()
    return context.get_world_size() if context is not None else 1


def _train_context():
    import sys

    if "ray.train" not in sys.modules:
        return None
    import ray.train

    try:
        return ray.train.get_context() if _in_train_worker() else None
    except Exception:  # noqa: BLE001 - no Ray Train session here
        return None


def _in_train_worker() -> bool:
    from ray.train.v2._internal.util import _in_ray_train_worker

    return _in_ray_train_worker()


FINAL_KEY = "_hps_final"  # rank 0's mark on the last round (a leading "_": not a metric)


def report(metrics: dict[str, Any], checkpoint_dir: str | os.PathLike | None = None, *,
           final: bool = False) -> None:
    """In a worker: report a round. Every worker must call it the same number of times
    (it is a barrier); only rank 0's metrics and ``checkpoint_dir`` are kept. The
    directory is copied to the run's storage before this returns. ``final``: this is the
    last round (the trial's process lets the run end before Tune sees it, so that a trial
    Tune stops on its last result leaves nothing running)."""
    import ray.train

    checkpoint = None
    if checkpoint_dir is not None and rank() == 0:
        checkpoint = ray.train.Checkpoint.from_directory(str(checkpoint_dir))
    ray.train.report({**metrics, FINAL_KEY: final} if rank() == 0 else {}, checkpoint=checkpoint)


_start_checkpoint = None  # in a worker: the trial's Tune checkpoint (set by _worker_main)


@contextmanager
def checkpoint_dir() -> Iterator[str | None]:
    """In a worker: the directory of the checkpoint to start from, or None. That is the
    run's latest checkpoint after Ray Train restarted the workers, else the trial's Tune
    checkpoint (a resumed trial, a PBT exploit, a Tune retry)."""
    import ray.train

    checkpoint = ray.train.get_checkpoint() or _start_checkpoint
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as directory:
        yield directory


# -- in the trial's process ----------------------------------------------------------

def run(train_worker: Callable[[dict], None], config: dict) -> None:
    """Run ``train_worker(config)`` on this trial's workers and report rank 0's results
    to Ray Tune as this trial's. With one worker it runs here, in the trial's process."""
    sc = scaling()
    if sc.workers <= 1:
        train_worker(config)
        return
    import ray
    from ray import tune
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig
    from ray.util.queue import Empty, Queue

    from hpsearch import reporting
    from hpsearch._ddp_callback import ToTrial, Trainer

    # When Tune stops this trial and reuses its process, it waits for the trial's function
    # to end (its run aborted, its workers gone): hpsearch.trial.REUSE_WAIT_S, set for
    # every trial by the trial's wrapper.
    # Ray Train passes this process's value to the run's controller and workers; a value
    # the user set is kept.
    os.environ.setdefault(POLL_ENV, POLL_S)
    results = Queue(maxsize=1, actor_options={"num_cpus": 0})
    taken = Queue(maxsize=1, actor_options={"num_cpus": 0})
    storage = tempfile.mkdtemp(prefix="hpsearch-ddp-")
    trainer = Trainer(
        _worker_main, train_loop_config={"fn": train_worker, "config": dict(config),
                                         "gpu_memory_gb": sc.resources.get("gpu_memory_gb", 0),
                                         # Ray Train 2's way to start a run from a checkpoint
                                         "checkpoint": tune.get_checkpoint()},
        scaling_config=ScalingConfig(num_workers=sc.workers, use_gpu=sc.use_gpu,
                                     resources_per_worker=dict(sc.resources)),
        torch_config=TorchConfig(backend=sc.backend),
        run_config=RunConfig(
            name="run", storage_path=storage, callbacks=[ToTrial(results, taken)],
            failure_config=FailureConfig(max_failures=sc.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=3)))
    outcome: dict[str, Any] = {}

    def fit() -> None:
        try:
            outcome["result"] = trainer.fit()
        except BaseException as exc:  # noqa: BLE001 - raised in the trial's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=fit, name="hpsearch-ddp-fit", daemon=True)
    run_state = _Run(thread, taken)
    # Tune ends a stopped trial's process when it does not reuse it; the run should still
    # end gracefully (see _Run.stop), so the process tries on its way out too.
    atexit.register(run_state.stop)
    thread.start()
    try:
        while True:
            try:
                item = results.get(timeout=0.2)
            except Empty:
                if not thread.is_alive():
                    break
                continue
            run_state.controller = item["controller"]
            checkpoint = (tune.Checkpoint.from_directory(item["checkpoint"])
                          if item["checkpoint"] else None)
            # The run goes on while Tune takes the result (the checkpoint is already in the
            # run's storage and kept for two more rounds), so that after the last round it
            # ends by itself even when Tune stops the trial on that result.
            taken.put(GO_ON)
            metrics = dict(item["metrics"])
            if metrics.pop(FINAL_KEY, False):
                thread.join(timeout=STOP_WAIT_S)  # the run ends: workers and their group go
            reporting.report(metrics, checkpoint=checkpoint)  # may stop this trial
    finally:
        run_state.stop()
        atexit.unregister(run_state.stop)
        for queue in (results, taken):
            queue.shutdown(force=True)
        shutil.rmtree(storage, ignore_errors=True)
    if "error" in outcome:
        raise worker_error(outcome["error"])


GO_ON, STOP = "go on", "stop"  # what the trial's process answers each round
STOP_WAIT_S = 60

# How often a run's controller polls its workers (Ray Train's RAY_TRAIN_HEALTH_CHECK_INTERVAL_S,
# 2 s by default). Each poll is also when the controller collects the workers' reports, and a
# worker's report waits for the last one to be collected (a queue of one): at 2 s a trial's
# rounds could go no faster than one per 2 s, and its workers' start and end were noticed up
# to 2 s late (#21: 5 rounds of 1 s took 8 s). A poll is one small call per worker.
POLL_S = "0.2"
POLL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"


class _Run:
    """A trial's Ray Train run, as its process sees it: ``stop()`` waits for the run to end,
    first aborting it gracefully when it still runs (Tune stopped the trial: ASHA, the
    budget, a cancel). Its controller then removes the workers and their placement group.
    Tune often ends the process before that is done (it does not wait for the trial's
    function once ``stop()`` returns); the controller, which the process owns, dies with
    it, and :class:`hpsearch._ddp_callback.Reservations` removes the group instead."""

    def __init__(self, thread: threading.Thread, taken):
        self.thread, self.taken = thread, taken
        self.controller = None  # known from the first round's result
        self._lock = threading.Lock()
        self._stopping = False

    def stop(self) -> None:
        with self._lock:
            first, self._stopping = not self._stopping, True
        if first and self.thread.is_alive() and self.controller is not None:
            import ray

            try:
                self.taken.put(STOP, timeout=5)  # the controller waits for this round's answer
            except Exception:  # noqa: BLE001 - it was not waiting
                pass
            try:
                ray.get(self.controller.abort.remote(), timeout=STOP_WAIT_S)
            except Exception:  # noqa: BLE001 - abort() ends the controller: the call dies with it
                pass
        self.thread.join(timeout=STOP_WAIT_S)


def worker_error(exc: BaseException) -> BaseException:
    """The error a worker raised when Ray Train reports one (so that torch's out-of-memory
    error reaches the trial wrapper's ``on_oom`` policy as itself), else ``exc``."""
    from hpsearch.trial import is_out_of_memory

    for failure in (getattr(exc, "worker_failures", None) or {}).values():
        seen = failure
        for _ in range(8):  # the worker's error, under Ray's wrappers
            if seen is None:
                break
            if is_out_of_memory(seen):
                return seen
            seen = getattr(seen, "cause", None) or seen.__cause__
    return exc


def _worker_main(loop_config: dict) -> None:
    for name in SECRET_ENV:  # a worker is a fresh Ray process: it must see no secrets either
        os.environ.pop(name, None)
    if loop_config["gpu_memory_gb"]:
        from hpsearch.trial import cap_gpu_memory

        cap_gpu_memory(loop_config["gpu_memory_gb"])  # each worker keeps to its declared share
    start_from(loop_config["checkpoint"])
    loop_config["fn"](loop_config["config"])


def start_from(checkpoint) -> None:
    """In a worker: the checkpoint :func:`checkpoint_dir` gives before the run has its own
    (a ``ray.train.Checkpoint``, or None)."""
    global _start_checkpoint
    _start_checkpoint = checkpoint
