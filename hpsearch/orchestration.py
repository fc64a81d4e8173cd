"""Run a validated spec as a Ray Tune experiment, persisting everything to SQL.

    spec -> space -> searcher (+ warm start) + scheduler -> tune.Tuner
         -> StoreCallback -> Writer -> SQL

``run_study`` starts a study; ``resume_study`` continues one whose driver died
(see hpsearch/recovery.py for how SQL decides what is left).
"""
from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import stat
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import searchers
import trainables
from hpsearch import (actor_reuse, ddp, oom, pool, recovery, schedulers, teachers,
                      tune_registry, tune_state, warm_workers)
from hpsearch.cold_start import resolve, trial_keys
from hpsearch.exceptions import ConflictError, HpsearchError, SpecError, StorageError
from hpsearch.logtext import max_chars
from hpsearch.media import MediaLimits
from hpsearch.sink import start_sink
from hpsearch.spec import Spec, validate
from hpsearch.store import Store, StudyStatus, TrialStatus, fronts, queries
from hpsearch.store.store import home
from hpsearch.transfer import effective_fixed
from hpsearch.trial import make_trial_fn
from hpsearch.tune_callback import CancelStopper, ProgressCallback, RunContext, StoreCallback

log = logging.getLogger("hpsearch")

_ray_fixed = False  # this process started its own Ray: it never gains nodes


def ensure_ray(address: str | None = None, num_cpus: int | None = None,
               preload: tuple[str, ...] = ()) -> None:
    """Connect to ``address`` (a Ray cluster) or start a local Ray, once per process.

    ``preload``: modules a local Ray's workers import as they start, with warm workers on
    (:func:`hpsearch.warm_workers.trainable_modules`).

    A local Ray listens on 127.0.0.1 only and keeps its token 0600 (hpsearch/ray_local.py).
    With no address (or ``auto``), Ray's own ``RAY_ADDRESS`` names the cluster, as it does
    for ``ray.init``; ``local`` always starts a local Ray. An address is checked before
    Ray joins it (hpsearch/ray_address.py): Ray would wait without end on a wrong one.
    """
    global _ray_fixed
    import ray

    from hpsearch import ray_address

    # Tune's experiment state is never restored here (a resume is a new Tune experiment, SQL
    # says what is left): its periodic save, O(trials) on Tune's loop, runs once an hour.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "3600")
    if ray.is_initialized():
        return
    where = ray_address.WHERE
    if address in (None, "", "auto") and os.environ.get("RAY_ADDRESS"):
        address, where = os.environ["RAY_ADDRESS"], "RAY_ADDRESS"
    _ray_fixed = not address or address == "local"
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # SQL is our logger
    # ...so Tune's ResultGrid finds no result.json and warns for every trial; we never read it.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if address and address != "local":
        if address.strip() == "auto":
            address, where = ray_address.resolve_auto(where)
        ray_address.check(address, where=where)
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:  # the head went away since the check
            raise ray_address.RayUnreachable(f"{where}: {address}: {exc}") from None
    else:
        from hpsearch import ray_local

        with ray_local.loopback_env(), ray_address.without_ray_address():
            # Every worker imports what a trial needs as it starts (hpsearch/warm_workers.py).
            ray.init(num_cpus=num_cpus, _system_config=warm_workers.system_config(modules=preload),
                     **ray_local.init_kwargs(), **kwargs)
        warm_workers.started_local_ray()


def check_pool(spec: Spec) -> None:
    """On a Ray that cannot grow (the local one :func:`ensure_ray` started), a trial that
    fits no node would wait forever (Ray only logs that it cannot schedule it): a
    SpecError naming each resource. A cluster may gain nodes (an autoscaler, or a team
    adding them): there, the trial waits for them, and the study says so while it waits
    (:class:`hpsearch.pool.NodeWatch`)."""
    if not _ray_fixed:
        return

    problems = pool.never_fits(spec.resources)
    if problems:
        raise SpecError([(f, m + "; the local Ray does not grow: ask for less, or run on a "
                                 "cluster (HPSEARCH_RAY_ADDRESS)") for f, m in problems])


def coalesce_window(spec: Spec) -> float:
    """Results may travel to Tune together only when nothing decides on them one by one:
    no early-stopping scheduler, and no retries (a restored trial continues Tune's count).
    The window is ``HPSEARCH_REPORT_WINDOW_S`` (hpsearch/reporting.py)."""
    from hpsearch.settings import settings

    fifo = spec.scheduler.type == "fifo" and spec.budget.max_failures == 0
    return settings().report_window_s if fifo else 0.0


def _warm_start(store: Store, study_id: int, spec: Spec, searcher) -> int:
    """Tell the searcher the finished trials of earlier studies that fit this space."""
    if not spec.warm_start:
        return 0
    sources = spec.warm_start_names
    if spec.warm_start == "auto":
        from hpsearch import warm_start

        picked = warm_start.pick(store, spec, exclude_id=study_id)
        store.set_warm_start_picked(study_id, picked)
        sources = [p["study"] for p in picked]
        if not sources:
            return 0
    for name in sources:
        store.get_study(name)  # NotFoundError names a missing study
    rows = []
    names = set(spec.search_space.names)
    for source, params, value, values in fronts.finished_with_values(store, sources):
        params = {k: v for k, v in params.items() if k in names}
        if recovery.observe(searcher, params, value, values):
            rows.append({"params": params, "value": value, "source": source, "values": values})
    return store.import_trials(study_id, rows)


def _build_tuner(spec: Spec, store: Store, study_id: int, *, progress: bool, allow_import: bool,
                 resume: bool = False, run_as=None):
    """A fresh Tuner for what the study still has to run (all of it, or the rest after a crash).

    ``run_as``: a :class:`hpsearch.isolation.TrialUser` to run each trial's training as
    (served mode); the Ray workers then never import the trainable themselves.
    """
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    info = trainables.get_trainable(spec.trainable, allow_import=allow_import)
    space = spec.search_space
    objectives = spec.objective_list()
    searcher = searchers.create_searcher(spec.searcher.type, space, metric=spec.metric,
                                         mode=spec.mode, seed=spec.seed,
                                         max_trials=spec.budget.trials,
                                         objectives=[(o.metric, o.mode, o.reference) for o in objectives.items],
                                         constraints=spec.constraint_list(),
                                         max_concurrent=spec.budget.max_concurrent,
                                         **spec.searcher.options())
    if resume:
        trials = store.trials(study_id)
        plan = recovery.reconcile(searcher, store.get_study(study_id).searcher_state, trials,
                                  spec.budget.trials)
        done = sum(1 for t in trials if t.status in TrialStatus.DONE)
    else:
        # Imported trials take the first numbers; run trials are numbered after them.
        _warm_start(store, study_id, spec, searcher)
        plan, done = recovery.Plan(new=spec.budget.trials), 0
    if plan.total == 0:
        return None, None, searcher
    budget = recovery.BudgetSearcher(searcher, plan)
    search_alg = ConcurrencyLimiter(budget, max_concurrent=spec.budget.max_concurrent)
    epochs = spec.fixed.get("epochs")
    scheduler = schedulers.build(spec.scheduler.type, spec.scheduler.options(), metric=spec.metric,
                                 mode=spec.mode, max_t=epochs if isinstance(epochs, int) else 100,
                                 space=space, seed=spec.seed)
    resources = spec.resources.ray_request()
    teacher = teachers.resolve(spec, store)
    # Cold start: the source's architecture and checkpoint go to every trial (reserved keys).
    init_source = store.get_study(study_id).init_source
    fixed = {**effective_fixed(spec.to_dict(), init_source), **trial_keys(init_source)}
    if teacher is not None:
        fixed["distill_from"] = teacher
    sink, media_limits = start_sink(), MediaLimits.from_env()
    limits = {"log_chars": max_chars(), "media_items": media_limits.items,
              "media_bytes": media_limits.bytes, "media_every": media_limits.every}
    if run_as is not None:
        from hpsearch.trial_isolated import make_isolated_trial_fn

        if spec.resources.workers > 1:  # the isolated child trains in one process (docs/models.md)
            raise HpsearchError("resources.workers > 1 needs trials run as the service's own user; "
                                f"this service runs them as {run_as.name!r} (HPSEARCH_TRIAL_USER)")

        fn = make_isolated_trial_fn(spec.trainable, fixed, spec.dataset, spec.seed,
                                    coalesce_window(spec), run_as, sink=sink, limits=limits,
                                    on_oom=oom.policy(spec, info),
                                    gpu_memory_gb=spec.resources.gpu_memory_gb)
    else:
        fn = make_trial_fn(info.fn, fixed, spec.dataset, spec.seed, coalesce_window(spec),
                           sink=sink, limits=limits, on_oom=oom.policy(spec, info),
                           gpu_memory_gb=spec.resources.gpu_memory_gb,
                           scaling=ddp.Scaling.of_spec(spec) if spec.resources.workers > 1 else None)
    trial_fn = tune.with_resources(fn, resources)
    tracked = (spec.objective_list().metrics + [c.metric for c in spec.constraint_list()]
               if spec.objectives or spec.constraints else [])
    ctx = RunContext(url=store.url, study_id=study_id, metric=spec.metric, mode=spec.mode,
                     param_names=tuple(space.names), first_number=store.next_trial_number(study_id),
                     journal=str(home() / "journal" / f"study-{study_id}.jsonl"),
                     max_t=epochs if isinstance(epochs, int) else None,
                     scheduler_max_t=schedulers.check(spec.scheduler.type,
                                                      spec.scheduler.options()).get("max_t"),
                     tracked=tuple(dict.fromkeys(tracked)))
    callback = StoreCallback(ctx, reruns=budget.numbers, searcher=searcher)
    callback.scheduler = scheduler
    # Cancel and the time limit (each run's own, from its start): closed with the callback.
    callback.stopper = CancelStopper(store.url, study_id, time_limit_s=spec.budget.time_limit_s)
    callback.sink, callback.media_limits = sink, media_limits  # released with the callback
    if spec.on_oom is not None:  # retries read from the sink once per trial end
        budget.oom = callback.oom = oom.OomLedger(sink)
    callbacks = [callback, ProgressCallback(spec.budget.trials, spec.metric, spec.mode,
                                            initial=done, enabled=progress)]
    # Each (re)start is its own Tune experiment: SQL, not Tune's lagging state, says what is left.
    name = f"study-{study_id}" if not resume else f"study-{study_id}-resume-{time.time_ns()}"
    run_config = tune.RunConfig(
        name=name, storage_path=str(home() / "ray_results"), callbacks=callbacks,
        stop=callback.stopper, verbose=0,
        failure_config=tune.FailureConfig(max_failures=spec.budget.max_failures),
        # PBT clones a leader from its checkpoint of a few epochs back: keep them all.
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=None if spec.scheduler.type == "pbt" else 2))
    # A free trial actor never kills one still starting on another node (hpsearch/actor_reuse.py).
    actor_reuse.install()
    # Tune reads a trial's trainable from the GCS once, not three times per trial (in _fit).
    tune_registry.install()
    # Tune's whole state is not saved again each time a trial checkpoints twice (hpsearch/tune_state.py).
    tune_state.install()
    # Trial actors take the idle workers Ray prestarted (hpsearch/warm_workers.py).
    warm_workers.install()
    tune_config = tune.TuneConfig(search_alg=search_alg, scheduler=scheduler,
                                  num_samples=plan.total, reuse_actors=True)
    return tune.Tuner(trial_fn, tune_config=tune_config, run_config=run_config), callback, searcher


def lock_dir() -> Path:
    """This user's private folder for driver locks: ``<tmp>/hpsearch-locks-<uid>``, mode 0700.

    Created if absent; refused (HpsearchError) if it is a symbolic link, not a folder, owned
    by another user or open to others, since another local user could have made it first
    to point our writes at a file of ours.
    """
    folder = Path(tempfile.gettempdir()) / f"hpsearch-locks-{os.geteuid()}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise HpsearchError(f"refusing the lock folder {folder}: it must be a folder of this "
                            f"user (uid {os.geteuid()}) with mode 0700; remove it and retry")
    return folder


def _open_lock(path: Path) -> int:
    """The lock file, opened without following a symbolic link, and checked to be ours."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise HpsearchError(f"refusing the lock file {path}: {exc.strerror} (a symbolic link?)") \
            from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
        os.close(fd)
        raise HpsearchError(f"refusing the lock file {path}: not a regular file of this user")
    return fd


@contextmanager
def driver_lock(store: Store, study_id: int, wait_s: float = 0.0,
                name: str | None = None) -> Iterator[None]:
    """Held while this process drives the study, so a second driver on this machine is
    refused (a manual ``hpsearch resume`` while the first still runs would run trials twice).

    An OS file lock: released when the holder exits, even by SIGKILL. Keyed by the
    database and the study; kept in this user's private folder under the machine's temp
    dir (:func:`lock_dir`) so that drivers with different ``HPSEARCH_HOME`` still meet,
    opened with ``O_NOFOLLOW`` and checked to be ours (a planted link cannot make a driver
    write to another file). ``wait_s``: how long to wait for a holder that is going away
    (a dispatcher taking over a study waits for the old driver).
    """
    key = hashlib.sha256(f"{store.safe_url}|{study_id}".encode()).hexdigest()[:20]
    f = os.fdopen(_open_lock(lock_dir() / f"study-{key}.lock"), "r+")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                f.seek(0)
                holder = f.read(100).strip() or "another process"
                f.close()
                what = f"study {name!r} (id {study_id})" if name else f"study {study_id}"
                raise ConflictError(f"{what} is being run by another driver on this "
                                    f"machine ({holder}); stop it, or let it finish") from None
            time.sleep(0.2)
    try:
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        yield
    finally:
        f.close()  # closing the file releases the lock


def preflight(spec: Spec, store: Store, *, allow_import: bool = True) -> None:
    """Every check of starting ``spec`` that can fail without writing or starting anything:
    the warm-start studies and the distillation teacher exist, the trainable imports, the searcher and scheduler build.

    Runs before the study row is created and before Ray starts, so a refused spec
    leaves nothing behind. (Building Ray Tune objects imports Ray; it starts nothing.)
    """
    for name in spec.warm_start_names:
        store.get_study(name)  # NotFoundError names a missing study
    teachers.check(spec, store)  # distill_from names a finished trial of a finished study
    trainables.get_trainable(spec.trainable, allow_import=allow_import)
    searchers.create_searcher(spec.searcher.type, spec.search_space, metric=spec.metric,
                              mode=spec.mode, seed=spec.seed, max_trials=spec.budget.trials,
                              **spec.searcher.options())
    schedulers.check(spec.scheduler.type, spec.scheduler.options())


@contextmanager
def failing_study(store: Store, study_id: int) -> Iterator[None]:
    """Whatever fails while a started study's driver sets it up or runs it leaves the study
    FAILED with the reason, never RUNNING. A driver that is told to stop (SystemExit,
    KeyboardInterrupt) leaves it for recovery, and a study another driver holds is not
    this driver's to judge (ConflictError from :func:`driver_lock`)."""
    try:
        yield
    except (ConflictError, StorageError):
        raise  # another driver runs it / the database is gone: recovery decides later
    except Exception as exc:
        reason = f"{type(exc).__name__}: {_last_line(str(exc)) or 'no message'}"
        log.error("study %s failed: %s", study_id, reason, exc_info=True)
        try:
            store.interrupt_unfinished(study_id, f"the study failed: {reason}")
            store.set_study_status(study_id, StudyStatus.FAILED, error=reason)
        except StorageError:
            log.warning("could not mark study %s FAILED", study_id, exc_info=True)
        raise


def run_study(spec: Spec | dict | str, *, store: Store | None = None, ray_address: str | None = None,
              progress: bool = True, owner: str | None = None, study_id: int | None = None,
              allow_import: bool = True, run_as=None):
    """Create (or take a queued) study for ``spec`` and run it to the end.

    Returns the study row. Raises SpecError before anything is written when the
    spec is invalid, and ConflictError when the name is taken; every other check
    runs before the row is written too (:func:`preflight`). Anything that fails
    after that leaves the study FAILED with the reason (:func:`failing_study`).
    """
    store = store or Store()
    if not isinstance(spec, Spec):
        from hpsearch.spec import load
        spec = load(spec, allow_import=allow_import)

    def preload() -> tuple[str, ...]:
        return warm_workers.trainable_modules(spec.trainable, run_as)

    if study_id is None:
        preflight(spec, store, allow_import=allow_import)
        ensure_ray(ray_address, preload=preload())  # its size is known before anything is written
        check_pool(spec)
        init_source = resolve(spec, store)  # init_from's source trial: fits, and is recorded
        study = store.create_study(spec, owner=owner, status=StudyStatus.RUNNING,
                                   init_source=init_source)
        study_id = study.id
    else:
        with failing_study(store, study_id):
            preflight(spec, store, allow_import=allow_import)
        store.set_study_status(study_id, StudyStatus.RUNNING)
    with driver_lock(store, study_id, name=spec.name), failing_study(store, study_id):
        ensure_ray(ray_address, preload=preload())
        check_pool(spec)
        warmup = _warm_up(spec, run_as)
        tuner, callback, searcher = _build_tuner(spec, store, study_id, progress=progress,
                                                 allow_import=allow_import, run_as=run_as)
        return _fit(tuner, callback, store, study_id, searcher, spec, warmup, run_as)


def resume_study(ref: str | int, *, store: Store | None = None, spec: Spec | dict | None = None,
                 ray_address: str | None = None, progress: bool = True, allow_import: bool = True,
                 wait_lock_s: float = 0.0, run_as=None):
    """Continue a study whose driver died: keep finished trials, finish the budget exactly.

    Trials left RUNNING are marked INTERRUPTED and run again (same params, same
    number); the searcher continues from its state in SQL, reconciled with the
    trials SQL holds; the study ends with exactly its budget of trials. A
    finished study is returned unchanged; a changed spec is refused, and so is a
    study another driver on this machine still runs (see :func:`driver_lock`).
    """
    store = store or Store()
    study = store.get_study(ref)
    saved = validate(study.spec, allow_import=allow_import, check_data=False)
    if spec is not None:
        new = spec if isinstance(spec, Spec) else validate(spec, allow_import=allow_import)
        if new.fingerprint() != saved.fingerprint():
            raise ConflictError(f"the spec differs from the one study {study.name!r} was started "
                                "with; resume it without a spec, or submit a new study")
    if study.status in StudyStatus.FINISHED:
        return study
    with driver_lock(store, study.id, wait_s=wait_lock_s, name=study.name):
        store.interrupt_unfinished(study.id, "the driver stopped while this trial ran")
        store.set_study_status(study.id, StudyStatus.RUNNING)
        with failing_study(store, study.id):
            ensure_ray(ray_address, preload=warm_workers.trainable_modules(saved.trainable, run_as))
            check_pool(saved)
            warmup = _warm_up(saved, run_as)
            tuner, callback, searcher = _build_tuner(saved, store, study.id, progress=progress,
                                                     allow_import=allow_import, resume=True,
                                                     run_as=run_as)
            return _fit(tuner, callback, store, study.id, searcher, saved, warmup, run_as)


def _warm_up(spec: Spec, run_as=None):
    """A cluster's nodes start the study's trial workers while the study is set up
    (hpsearch/warm_workers.py, 4); none are prestarted for data-parallel trials, whose
    process asks for no CPU (Ray places it anywhere) and whose start is their worker group's."""
    slots = spec.budget.max_concurrent if spec.resources.workers == 1 else 0
    return warm_workers.warm_up(slots, spec.resources.ray_request(),
                                warm_workers.trial_modules(spec.trainable, run_as))


def _fit(tuner, callback, store: Store, study_id: int, searcher, spec: Spec,
         warmup: warm_workers.Warmup | None = None, run_as=None):
    concurrency = spec.budget.max_concurrent
    if tuner is not None:  # None: nothing left to run (a resume after the last trial ended)
        # On a cluster, the study says when its trials wait for a node that fits to join.
        watch = None if _ray_fixed else pool.NodeWatch(store, study_id, spec.resources).start()
        try:
            if warmup is not None:  # every node's first trials start together, none cold
                warmup.wait()
            with tune_registry.keeping():
                tuner.fit()
        except KeyboardInterrupt:
            store.set_study_status(study_id, StudyStatus.INTERRUPTED,
                                   error="interrupted by the user")
            raise
        finally:
            if watch is not None:
                watch.close()
            callback.close()
    # The verdict is written once the trials have ended: a database blip here must not
    # leave a study RUNNING, so these idempotent steps are retried with backoff.
    _retry(lambda: store.save_searcher_state(study_id, searcher.get_state()))
    stopper = callback.stopper if tuner is not None else None
    _retry(lambda: _finish(store, study_id, stopper))
    _store_figures(store, study_id)
    study = _retry(lambda: store.get_study(study_id))
    if tuner is not None:  # its trial actors ended with it: warm workers for the next study
        warm_workers.replenish(callback.actor_nodes(), limit=concurrency,
                               modules=warm_workers.idle_modules(spec.trainable, run_as))
    return study


_figure_builds: list[threading.Thread] = []


def _store_figures(store: Store, study_id: int) -> None:
    """Build and store the ended study's page figures (hpsearch/store/figures.py), so that
    its first view, in whatever web process, draws them without building them; for studies
    of HPSEARCH_FIGURES_AT_END trials or more (a small one's build in well under a second at
    first view, and its driver need not import plotly and scikit-learn: 2-8 s on a loaded
    machine). The build runs in a thread of its own, after the verdict: ``run`` returns the
    ended study at once, and the process waits for the build before it exits (or call
    :func:`wait_for_figures`). A failure costs only that view the build."""
    from hpsearch.settings import settings
    from hpsearch.store import figures

    try:
        if not figures.due(store, study_id, settings().figures_at_end):
            return
    except Exception as exc:  # noqa: BLE001 - as a failed build below
        log.warning("figures of study %s not stored at its end: %s", study_id, exc)
        return
    thread = threading.Thread(target=_build_figures, args=(store.url, study_id),
                              name=f"hpsearch-figures-{study_id}")
    _figure_builds.append(thread)
    thread.start()


def _build_figures(url: str, study_id: int) -> None:
    from hpsearch.store import figures

    started = time.perf_counter()
    store = Store(url, check_schema=False)
    try:
        built = figures.store_study(store, study_id)
    except Exception as exc:  # noqa: BLE001 - the study's verdict is written already
        log.warning("figures of study %s not stored at its end: %s", study_id, exc)
        return
    finally:
        store.dispose()
    if built:
        log.info("study %s: %d figures built and stored in %.2f s", study_id, built,
                 time.perf_counter() - started)


def wait_for_figures(timeout: float | None = None) -> None:
    """Until the figures of the studies this process has ended are stored."""
    while _figure_builds:
        _figure_builds.pop().join(timeout)


def _retry(fn, attempts: int = 6, delay: float = 0.2):
    for i in range(attempts):
        try:
            return fn()
        except StorageError as exc:
            if i == attempts - 1:
                raise
            log.warning("database error (%s); retrying in %.1fs", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def _finish(store: Store, study_id: int, stopper: CancelStopper | None = None) -> None:
    """Decide the study's final status from what SQL holds, and say why it ended: the
    ``stopper`` knows whether its time limit cut the run (``CancelStopper.reason``)."""
    counts = queries.counts(store, study_id)
    budget = store.get_study(study_id).n_trials
    after = f"after {counts.done} of {budget} trials"
    if store.cancel_requested(study_id):
        store.interrupt_unfinished(study_id, "the study was cancelled")
        store.set_study_status(study_id, StudyStatus.CANCELLED,
                               end_reason=f"cancelled while it ran, {after}")
        return
    if stopper is not None and stopper.reason == "time limit":
        reason = f"its time limit (budget.time_limit_s = {stopper.time_limit_s:g} s) passed {after}"
    elif counts.done >= budget:
        reason = f"all {budget} trials of its budget ran"
    else:
        reason = f"its searcher suggested no more configurations {after}"  # a finite space
    if counts.ran and not counts.scored:
        first = next((t.error for t in store.trials(study_id, status=TrialStatus.ERROR) if t.error),
                     None)
        cut = counts.by_status.get(TrialStatus.INTERRUPTED, 0)
        if first is None and cut:  # the time limit cut every trial before its first result
            error = f"no trial reported a result; {cut} stopped before their first (their events)"
        else:
            error = ("every trial failed; first error: "
                     + _last_line(first or "no trial reported a result"))
        store.set_study_status(study_id, StudyStatus.FAILED, error=error, end_reason=reason)
    else:
        store.set_study_status(study_id, StudyStatus.COMPLETED, end_reason=reason)


def _last_line(text: str) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else ""

