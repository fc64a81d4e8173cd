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

The run outlives its trial: Tune reuses a trial's process for the next trial, and that
trial trains on the same workers (one job after another, :class:`_Group`), so a worker
group starts once per trial process, not once per trial. When Tune stops a trial early
(ASHA, PBT, the budget, a cancel), its workers drop it at their next report and take
the next trial, when a round is shorter than starting new workers took. Otherwise, or
when its run fails, the trial's process aborts the run through its controller, which
removes the workers and their placement group; when the process ends first (Tune does
not wait for it), the controller dies with it and the cluster's reservations actor
removes the group (hpsearch/_ddp_callback.py). A resumed or
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
import time
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
    last round (the trial's process lets the workers finish the trial before Tune sees it,
    so that a trial Tune stops on its last result leaves nothing running)."""
    global _job_checkpointed
    import ray.train

    if _job is not None and _cancelled():
        raise JobCancelled(_job)
    checkpoint = None
    if checkpoint_dir is not None and rank() == 0:
        checkpoint = ray.train.Checkpoint.from_directory(str(checkpoint_dir))
    tag = {JOB_KEY: _job} if _job is not None else {}
    ray.train.report({**metrics, FINAL_KEY: final, **tag} if rank() == 0 else {},
                     checkpoint=checkpoint)
    if checkpoint is not None and _job is not None:
        _job_checkpointed = True  # this worker's latest checkpoint is now this job's


class JobCancelled(BaseException):
    """Raised by :func:`report` in every worker of a trial that Tune stopped, at the same
    round (a ``BaseException``, so that a worker loop's ``except Exception`` lets it
    through): the workers drop the trial and wait for the next one."""


def _cancelled() -> bool:
    """Whether Tune stopped this worker's trial: rank 0 asks the run's mailbox and every
    worker gets its answer (Ray Train's broadcast, a barrier), so all drop the trial at
    the same report."""
    import ray
    import ray.train.collective

    stop = ray.get(_mailbox.cancelled.remote(_job)) if rank() == 0 else None
    return bool(ray.train.collective.broadcast_from_rank_zero(stop) if world_size() > 1 else stop)


_start_checkpoint = None  # in a worker: the trial's Tune checkpoint (set by _serve)
_mailbox = None  # in a worker of hpsearch's run: the run's mailbox
_job: int | None = None  # in a worker of hpsearch's run: the job's number
_job_checkpointed = False  # whether this job has reported a checkpoint to the run


@contextmanager
def checkpoint_dir() -> Iterator[str | None]:
    """In a worker: the directory of the checkpoint to start from, or None. That is the
    run's latest checkpoint after Ray Train restarted the workers, else the trial's Tune
    checkpoint (a resumed trial, a PBT exploit, a Tune retry)."""
    import ray.train

    # The run's latest checkpoint may be an earlier trial's (the workers train one trial
    # after another): it is this trial's only once this trial has reported one.
    latest = ray.train.get_checkpoint() if _job is None or _job_checkpointed else None
    checkpoint = latest or _start_checkpoint
    if checkpoint is None:
        yield None
        return
    with checkpoint.as_directory() as directory:
        yield directory


# -- in the trial's process ----------------------------------------------------------

def run(train_worker: Callable[[dict], None], config: dict) -> None:
    """Run ``train_worker(config)`` on this trial's workers and report rank 0's results
    to Ray Tune as this trial's. With one worker it runs here, in the trial's process.

    The workers stay for this process's next trial when this one ends its epochs (Tune
    reuses a trial's process for the next trial): see :class:`_Group`."""
    sc = scaling()
    if sc.workers <= 1:
        train_worker(config)
        return
    from ray import tune

    from hpsearch import reporting

    global _group
    # Ray Train passes this process's value to the run's controller and workers; a value
    # the user set is kept.
    os.environ.setdefault(POLL_ENV, POLL_S)
    group = _group
    if group is not None and not group.reusable(sc):
        group.close()
        group = _group = None
    if group is None:
        group = _group = _Group(sc)
    done, final, stopped = False, None, False
    try:
        seq = group.post({"fn": train_worker, "config": dict(config),
                          "checkpoint": tune.get_checkpoint()})  # Tune's: a resumed trial's
        while True:
            item = group.take()
            if item is None:
                if not group.thread.is_alive():  # the run failed (or was aborted)
                    break
                continue
            group.controller = item["controller"]
            group.round()
            metrics = dict(item["metrics"])
            metrics.pop(JOB_KEY, None)  # this job's: the mailbox answers the others' rounds
            if metrics.pop(JOB_END_KEY, False):
                group.answer(GO_ON)
                group.end(seq)
                done = True  # the workers are free: this trial's last result may go to Tune
                if final is not None:
                    reporting.report(final[0], checkpoint=final[1])  # may stop this trial
                break
            checkpoint = (tune.Checkpoint.from_directory(item["checkpoint"])
                          if item["checkpoint"] else None)
            # The run goes on while Tune takes the result (the checkpoint is already in the
            # run's storage and kept for two more rounds).
            group.answer(GO_ON)
            if metrics.pop(FINAL_KEY, False):
                # Tune sees the last round once the workers are done with this trial, so
                # that a trial Tune stops on its last result leaves nothing running.
                final = (metrics, checkpoint)
                continue
            try:
                reporting.report(metrics, checkpoint=checkpoint)  # may stop this trial
            except SystemExit:  # Tune stopped it: ASHA, PBT, the budget, a cancel
                stopped = True
                raise
    finally:
        if done:
            pass
        elif stopped and group.keep_after_stop():
            group.cancel(seq)  # the workers drop this trial and wait for the next one
        else:  # the run failed, or its workers would finish the round later than new
            group.close()  # ones would start: the run is aborted, its workers go
            if _group is group:
                _group = None
    if group.error is not None:
        raise worker_error(group.error)


GO_ON, STOP = "go on", "stop"  # what the trial's process answers each round
STOP_WAIT_S = 60
JOB_KEY = "_hps_job"  # on rank 0's rounds: the job (trial) they belong to
JOB_END_KEY = "_hps_job_end"  # the round every worker reports when a job's function returned

# How often a run's controller polls its workers (Ray Train's RAY_TRAIN_HEALTH_CHECK_INTERVAL_S,
# 2 s by default). Each poll is also when the controller collects the workers' reports, and a
# worker's report waits for the last one to be collected (a queue of one): at 2 s a trial's
# rounds could go no faster than one per 2 s, and its workers' start and end were noticed up
# to 2 s late (#21: 5 rounds of 1 s took 8 s). A poll is one small call per worker.
POLL_S = "0.2"
POLL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"
TAKE_WAIT_S = 0.5  # how long the trial's process waits for a round before it checks the run

_group: "_Group | None" = None  # this process's Ray Train run, kept for its next trial


class _Group:
    """A Ray Train run that a trial's process keeps: its worker group trains this
    process's trials one after another (jobs through a :class:`hpsearch._ddp_callback.Mailbox`).

    Starting a run costs a controller, a synchronization actor and one process per worker,
    each importing torch and Ray Train: seconds per trial (docs/models.md, "Start-up
    cost"). Tune reuses a trial's process for the next trial with the same resources, so
    the next trial of this process takes the run over when the last one ended its epochs
    (or was stopped and dropped, below) and nothing changed: the same scaling, and no restart (Ray Train's failure budget is
    per run, and each trial gets the whole of ``budget.max_failures``). A trial Tune stops
    early is cancelled (its workers drop it at their next report) when a round is
    shorter than the run's start (:meth:`keep_after_stop`), else it aborts the run
    (:meth:`close`), as one whose run failed does.

    The run goes with the process: :meth:`close` runs at its exit too (Tune ends a trial's
    process when it no longer needs it). An idle run ends gracefully: its workers are
    told to return. A busy one is aborted through its controller, which removes the
    workers and their placement group. When Tune ends the process first (it does not wait
    for a stopped trial's function), the controller, which the process owns, dies with
    it, and the cluster's reservations actor removes the group
    (:class:`hpsearch._ddp_callback.Reservations`)."""

    def __init__(self, sc: Scaling):
        import ray
        from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
        from ray.train.torch import TorchConfig

        from hpsearch._ddp_callback import Mailbox, ToTrial, Trainer

        self.scaling = sc
        self.controller = None  # known from the first round's result
        self.error: BaseException | None = None
        self._idle = True  # no job running, or only a cancelled one (the mailbox ends it)
        self._closed = False
        self._created = time.monotonic()
        self._rounds: list[float] = []  # when the current job was posted, and its rounds came
        self._jobs = 0  # posted so far
        self.mailbox = ray.remote(Mailbox).options(num_cpus=0).remote(sc.workers)
        self.storage = tempfile.mkdtemp(prefix="hpsearch-ddp-")
        trainer = Trainer(
            _serve, train_loop_config={"mailbox": self.mailbox,
                                       "gpu_memory_gb": sc.resources.get("gpu_memory_gb", 0)},
            scaling_config=ScalingConfig(num_workers=sc.workers, use_gpu=sc.use_gpu,
                                         resources_per_worker=dict(sc.resources)),
            torch_config=TorchConfig(backend=sc.backend),
            run_config=RunConfig(
                name="run", storage_path=self.storage, callbacks=[ToTrial(self.mailbox)],
                failure_config=FailureConfig(max_failures=sc.max_failures),
                checkpoint_config=CheckpointConfig(num_to_keep=3)))

        def fit() -> None:
            try:
                trainer.fit()
            except BaseException as exc:  # noqa: BLE001 - raised in the trial's thread
                self.error = exc

        self.thread = threading.Thread(target=fit, name="hpsearch-ddp-fit", daemon=True)
        atexit.register(self.close)
        self.thread.start()

    def _call(self, method, *args, timeout: float | None = None):
        import ray

        return ray.get(method.remote(*args), timeout=timeout)

    def reusable(self, sc: Scaling) -> bool:
        if sc != self.scaling or not self._idle or self._closed or not self.thread.is_alive():
            return False
        try:
            return not self._call(self.mailbox.restarted, timeout=STOP_WAIT_S)
        except Exception:  # noqa: BLE001 - the mailbox is gone (its node died): a new run
            return False

    def post(self, job: dict) -> int:
        self._idle = False
        self._jobs += 1
        self._rounds = [time.monotonic()]
        return self._call(self.mailbox.post, job)

    def round(self) -> None:
        self._rounds.append(time.monotonic())

    def keep_after_stop(self) -> bool:
        """Whether to keep the run when Tune stops its trial: its workers finish the round
        they are in before they drop the trial, so the run is kept when a round is
        shorter than starting new workers took (else it is aborted)."""
        if len(self._rounds) < 2 or self._closed:
            return False  # not a round yet: nothing to compare
        try:
            start_s = self._call(self.mailbox.start_s, timeout=5)
        except Exception:  # noqa: BLE001 - the mailbox is gone: so is the run
            return False
        if start_s is None:
            return False
        round_s = self._rounds[-1] - self._rounds[-2]
        if len(self._rounds) == 2 and self._jobs == 1:
            round_s -= start_s  # the run's first round came after its workers started
        return round_s < start_s

    def cancel(self, seq: int) -> None:
        try:
            self._call(self.mailbox.cancel, seq, timeout=5)
        except Exception:  # noqa: BLE001 - the mailbox is gone: so is the run
            self.close()
            return
        self._idle = True

    def take(self) -> dict | None:
        return self._call(self.mailbox.take, TAKE_WAIT_S)

    def answer(self, answer: str) -> None:
        self._call(self.mailbox.answer, answer)

    def end(self, seq: int) -> None:
        self._call(self.mailbox.end, seq)
        self._idle = True

    def close(self) -> None:
        """End the run (once): gracefully when idle, else abort it; then wait for it."""
        if self._closed:
            return
        self._closed = True
        import ray

        if self.thread.is_alive():
            try:
                if self._idle or self.controller is None:
                    self._call(self.mailbox.close, timeout=5)  # the workers return
                if not self._idle and self.controller is not None:
                    try:
                        self._call(self.mailbox.answer, STOP, timeout=5)  # if it waits for one
                    except Exception:  # noqa: BLE001 - the mailbox is gone: so is the run
                        pass
                    ray.get(self.controller.abort.remote(), timeout=STOP_WAIT_S)
            except Exception:  # noqa: BLE001 - abort() ends the controller: the call dies with it
                pass
            self.thread.join(timeout=STOP_WAIT_S)
        try:
            atexit.unregister(self.close)
        except Exception:  # noqa: BLE001 - at the process's exit
            pass
        try:
            ray.kill(self.mailbox)
        except Exception:  # noqa: BLE001 - Ray is shutting down with the process
            pass
        shutil.rmtree(self.storage, ignore_errors=True)


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


def _serve(loop_config: dict) -> None:
    """Each worker's loop (the run's ``train_loop_per_worker``): train the trial process's
    jobs one after another until it closes the run. After each job every worker reports
    one more round, the job's end (a barrier: all of them are done with it)."""
    global _job, _job_checkpointed
    import gc

    import ray
    import ray.train

    for name in SECRET_ENV:  # a worker is a fresh Ray process: it must see no secrets either
        os.environ.pop(name, None)
    if loop_config["gpu_memory_gb"]:
        from hpsearch.trial import cap_gpu_memory

        cap_gpu_memory(loop_config["gpu_memory_gb"])  # each worker keeps to its declared share
    global _mailbox
    mailbox = _mailbox = loop_config["mailbox"]
    after = 0  # a restarted worker asks from 0: the job still running, if one is
    while True:
        seq, job, checkpointed = ray.get(mailbox.next_job.remote(after))
        if job is None:
            return
        _job = seq
        _job_checkpointed = checkpointed
        start_from(job["checkpoint"])
        try:
            job["fn"](job["config"])
        except JobCancelled:
            pass  # every worker, at the same report
        ray.train.report({JOB_KEY: seq, JOB_END_KEY: True} if rank() == 0 else {})
        after, _job, job = seq, None, None
        start_from(None)
        gc.collect()  # the trial's model and data go before the next job's
        _empty_gpu_cache()


def _empty_gpu_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def start_from(checkpoint) -> None:
    """In a worker: the checkpoint :func:`checkpoint_dir` gives before the run has its own
    (a ``ray.train.Checkpoint``, or None)."""
    global _start_checkpoint
    _start_checkpoint = checkpoint
