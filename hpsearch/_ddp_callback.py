"""The Ray Train side of a data-parallel trial (hpsearch/ddp.py): the callbacks its run's
controller calls, and the trainer that installs them. Imports Ray, so it is imported only
when such a trial runs."""
from __future__ import annotations

import logging
import threading
import time

import ray
from ray.train.torch import TorchTrainer
from ray.train.v2._internal.callbacks.datasets import DatasetsCallback
from ray.train.v2._internal.callbacks.placement_group_callback import PlacementGroupCleanerCallback
from ray.train.v2._internal.execution.callback import ControllerCallback
from ray.train.v2.api.callback import UserCallback

from hpsearch.ddp import GO_ON, JOB_END_KEY, JOB_KEY, STOP

logger = logging.getLogger(__name__)


class ToTrial(UserCallback):
    """Runs in the Ray Train run's controller: each round's rank-0 result (metrics and the
    persisted checkpoint's path) goes to the trial's process through the run's
    :class:`Mailbox`, and the run waits until that process has it (and stops when the
    process answers STOP: it is aborting the run)."""

    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.stopped = False

    def after_report(self, run_context, metrics, checkpoint) -> None:
        if self.stopped:  # the trial is over; its process aborts this run
            return
        answer = ray.get(self.mailbox.exchange.remote(
            {"metrics": dict(metrics[0]),
             "checkpoint": checkpoint.path if checkpoint is not None else None,
             "controller": ray.get_runtime_context().current_actor}))
        self.stopped = answer == STOP


class Mailbox:
    """One per Ray Train run that a trial's process keeps (hpsearch/ddp.py), owned by that
    process: it carries the run's rounds to the process, the process's answers back to
    the controller, and the process's trials (jobs) to the workers, which train one job
    after another on the same worker group.

    A job is ``{"fn", "config", "checkpoint"}``, numbered from 1. Workers ask for the job
    after the last one they finished (:meth:`next_job`); workers that Ray Train restarted
    after a failure ask from 0 and get the job still running, with whether it has
    checkpointed (a round of it with a checkpoint reached the controller: the run's
    latest checkpoint is then that job's). A job whose trial Tune stopped is cancelled:
    rank 0 asks at each report (:meth:`cancelled`), and its remaining rounds, and its
    end, are answered here."""

    def __init__(self, workers: int):
        import asyncio

        self._workers = workers
        self._results: asyncio.Queue = asyncio.Queue()
        self._answers: asyncio.Queue = asyncio.Queue()
        self._changed = asyncio.Condition()
        self._seq, self._job, self._ended, self._checkpointed = 0, None, True, False
        self._starts = 0  # workers that asked for their first job: more than ``workers``
        self._closed = False  # after a restart
        self._cancelled = False
        self._born, self._start_s = time.monotonic(), None

    # the controller (ToTrial)
    async def exchange(self, item: dict) -> str:
        job = item["metrics"].get(JOB_KEY)
        if job != self._seq or self._cancelled or self._ended:
            # No trial waits for this round: its job was stopped, or it ended before the
            # workers' restart ran it again. A stopped job's end frees the workers.
            if job == self._seq and item["metrics"].get(JOB_END_KEY):
                self._ended, self._job = True, None
            return GO_ON
        if item["checkpoint"]:
            # The controller holds it as the run's latest: restarted workers resume from it
            self._checkpointed = True
        await self._results.put(item)
        return await self._answers.get()

    # the trial's process
    async def take(self, timeout_s: float):
        """The next round, or None after ``timeout_s``."""
        import asyncio

        try:
            return await asyncio.wait_for(self._results.get(), timeout_s)
        except asyncio.TimeoutError:
            return None

    def answer(self, answer: str) -> None:
        self._answers.put_nowait(answer)

    async def post(self, job: dict) -> int:
        async with self._changed:
            self._seq += 1
            self._job, self._ended, self._checkpointed = job, False, False
            self._cancelled = False
            self._changed.notify_all()
            return self._seq

    def end(self, seq: int) -> None:
        if seq == self._seq:
            self._ended, self._job = True, None

    def cancel(self, seq: int) -> None:
        """Tune stopped job ``seq``'s trial: its workers drop it at their next report, and
        the rounds they still report go nowhere."""
        if seq == self._seq and not self._ended:
            self._cancelled = True
            while not self._results.empty():  # a round handed over as the trial stopped
                self._results.get_nowait()
                self._answers.put_nowait(GO_ON)

    def start_s(self) -> float | None:
        """Seconds from this mailbox's start to the workers' first ask for a job: about
        what starting the run's workers took."""
        return self._start_s

    # the workers (and ``cancel``)
    def cancelled(self, seq: int) -> bool:
        """Whether the workers are to drop job ``seq`` (stopped, or a later one posted)."""
        return seq != self._seq or self._cancelled

    def restarted(self) -> bool:
        return self._starts > self._workers

    async def close(self) -> None:
        async with self._changed:
            self._closed = True
            self._changed.notify_all()

    # the workers
    async def next_job(self, after: int):
        """``(seq, job, checkpointed)`` of the first unfinished job after ``after``;
        ``(0, None, False)`` once the run is to end."""
        async with self._changed:
            if after == 0:
                self._starts += 1
                if self._start_s is None:
                    self._start_s = time.monotonic() - self._born
            await self._changed.wait_for(
                lambda: self._closed or (self._seq > after and not self._ended))
            if self._closed:
                return 0, None, False
            return self._seq, self._job, self._checkpointed


class Trainer(TorchTrainer):
    """Ray's TorchTrainer with two of its default callbacks left out.

    * :class:`ReleaseReservation` replaces Ray Train's own placement-group cleaner, which
      learns that a controller died through Ray's state API: that API is served by the
      dashboard, which a local Ray started by hpsearch does not run, so Ray's cleaner never
      saw a death, never removed the group, and never exited (and an abort could wait up
      to 12 s for its stuck monitor thread).
    * Without Ray Datasets (a trial's workers load their own shard), no dataset callback:
      Ray Train's callback starts a ``DatasetManager`` actor for every run and restart even then,
      one more process importing Ray Data (1.5-2 s of CPU) before the workers train (#21)."""

    def _create_default_callbacks(self):
        callbacks = [cb for cb in super()._create_default_callbacks()
                     if not isinstance(cb, PlacementGroupCleanerCallback)
                     and not (isinstance(cb, DatasetsCallback) and not self.datasets)]
        return callbacks + [ReleaseReservation()]


class ReleaseReservation(ControllerCallback):
    """Runs in the run's controller: the cluster's :class:`Reservations` actor watches it,
    and removes its workers' placement group if the controller dies and leaves it.

    That death is how a trial Tune stops usually ends: Tune ends the trial's process as
    soon as the trial's ``stop()`` returns, without waiting for its function to finish,
    and the controller (an actor that process owns) dies with it, mid-abort. The group
    would outlive it: Ray removes a placement group by itself only when both the actor
    and the job that created it are dead, and the job is the study's driver."""

    def after_controller_start(self, train_run_context) -> None:
        # Waited for: a call still queued here when the controller dies is lost with it,
        # and the first run of a cluster waits for the actor's process to start.
        try:
            ray.get(reservations().watch.remote(ray.get_runtime_context().get_actor_id()),
                    timeout=WATCH_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the run goes on; only this safety net is off
            logger.warning("hpsearch: the reservations actor did not answer (%s); if this "
                           "run's controller dies, its placement group stays reserved", exc)


RESERVATIONS = "hpsearch-ddp-reservations"  # the actor's name in the "hpsearch" namespace
CHECK_EVERY_S = 1.0
WATCH_TIMEOUT_S = 60.0


def reservations():
    """The cluster's one :class:`Reservations` actor (started by the first run that needs
    it; detached, so that it outlives the trials and drivers it watches for)."""
    try:
        from ray._common.constants import HEAD_NODE_RESOURCE_NAME
        head = {HEAD_NODE_RESOURCE_NAME: 0.001}  # never pins a worker node the autoscaler could free
    except ImportError:  # pragma: no cover - an older Ray: anywhere
        head = {}
    return ray.remote(Reservations).options(
        name=RESERVATIONS, namespace="hpsearch", lifetime="detached", get_if_exists=True,
        num_cpus=0, resources=head, max_concurrency=1,
        scheduling_strategy="DEFAULT").remote()  # not in the trial's placement group


class Reservations:
    """Removes the placement groups a dead Ray Train controller left reserved.

    Every second it reads, from Ray's control store (GCS), which watched controllers are
    dead, and removes every placement group one of them created that is not removed yet:
    its workers' group, whether reserved or still pending (a run stopped while its
    workers waited for resources). A controller that ended its run gracefully removed
    its group itself and is simply dropped. It reads the GCS directly, not through Ray's
    state API, which needs the dashboard (Ray Train's own cleaner uses it, and a local
    Ray without a dashboard left it watching forever; hpsearch replaces it: :class:`Trainer`).
    """

    def __init__(self):
        self._watched: set[str] = set()  # controller actor ids (hex)
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, name="hpsearch-reservations", daemon=True).start()

    def watch(self, controller_id: str) -> None:
        with self._lock:
            self._watched.add(controller_id)

    def watched(self) -> list[str]:
        with self._lock:
            return sorted(self._watched)

    def _loop(self) -> None:
        while True:
            time.sleep(CHECK_EVERY_S)
            with self._lock:
                watched = set(self._watched)
            if not watched:
                continue
            try:
                dead = release_left_by(watched)
            except Exception:  # noqa: BLE001 - the GCS busy: the next round asks again
                continue
            with self._lock:
                self._watched -= dead


def release_left_by(controllers: set[str]) -> set[str]:
    """Remove the placement groups that the dead ones among ``controllers`` (actor ids,
    hex) created and left; return those dead ones."""
    from ray._private.state import state
    from ray._raylet import PlacementGroupID
    from ray.core.generated import gcs_pb2
    from ray.util.placement_group import PlacementGroup

    dead = {c for c in controllers if (state.actor_table(c) or {}).get("State") == "DEAD"}
    if not dead:
        return dead
    removed = gcs_pb2.PlacementGroupTableData.REMOVED
    for raw in state._connect_and_get_accessor().get_placement_group_table():
        group = gcs_pb2.PlacementGroupTableData.FromString(raw)
        if group.creator_actor_id.hex() in dead and group.state != removed:
            ray.util.remove_placement_group(
                PlacementGroup(PlacementGroupID(group.placement_group_id)))
    return dead
