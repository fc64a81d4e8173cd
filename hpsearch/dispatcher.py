"""The dispatcher: claims queued studies from SQL and runs each in its own driver process.

    hpsearch dispatcher --db postgresql://... --ray-address HOST:PORT --max-studies 2

Claims are atomic: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, and a
``BEGIN IMMEDIATE`` write transaction (a single writer) on SQLite, so two
dispatchers never claim the same study. A claimed study holds a lease that the
dispatcher renews while its driver process lives; when a dispatcher dies, another
takes the study over once the lease has expired and resumes it
(``hpsearch resume``), keeping every finished trial. A dispatcher that finds its
lease taken (it stalled past the lease) kills its driver at once: a study never
runs under two drivers.

Cancel: the driver's Tune stopper reads the study's cancel flag every second
and stops its trials; if a driver has not ended ``cancel_grace_s`` after a
cancel, the dispatcher kills it and records the study as cancelled.

SIGTERM/SIGINT stop the dispatcher cleanly: no new claims, drivers terminated,
their running trials marked interrupted and their leases expired so that the
next dispatcher to start (this one after a restart, or another) resumes them.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from hpsearch.procs import kill_session
from hpsearch.ray_address import reachable as ray_reachable
from hpsearch.settings import settings
from hpsearch.store import Store, StudyStatus, queries
from hpsearch.store.models import Study, utcnow
from hpsearch.store.store import home

log = logging.getLogger("hpsearch.dispatcher")
HEARTBEAT_S = 5.0  # how often a dispatcher rewrites its heartbeat row (see Store.DISPATCHER_ALIVE_S)


@dataclass
class Claim:
    study_id: int
    name: str
    takeover: bool  # True: the study ran under a dispatcher whose lease expired


@dataclass
class Driver:
    proc: subprocess.Popen
    claim: Claim
    log_path: Path
    cancel_seen_at: float | None = None


class ServingHost:
    """The dispatcher's child that serves declared deployments on Ray Serve (hpsearch/serving.py):
    started once a deployment is declared, started again if it dies, stopped with the dispatcher.

    A watchdog too: the host touches a heartbeat file every second from its main loop; when
    that file is older than ``HPSEARCH_SERVING_STALE_S`` (or, for a new host, has not been
    touched within :attr:`STARTUP_S`), the host is hung (frozen, stuck in a call) and is
    killed with every process of its session (its local Ray and that Ray's workers, the Serve
    proxy among them) and replaced at once; the fresh host serves every declared deployment
    again.
    """

    RETRY_S = 10.0
    STARTUP_S = 180.0  # starting Ray and Serve on a loaded 2-core machine

    def __init__(self, store_url: str, ray_address: str | None, stale_s: float | None = None):
        self.store_url, self.ray_address = store_url, ray_address
        self.stale_s = settings().serving_stale_s if stale_s is None else stale_s
        self.proc: subprocess.Popen | None = None
        self.beat_path: Path | None = None
        self._started_at = float("-inf")
        self._tried_at = float("-inf")
        self.replaced = 0

    def ensure(self, store: Store) -> None:
        from hpsearch.deployments import declared_count

        if self.proc is not None and self.proc.poll() is None:
            silent = self.silent_s()
            if silent is None:
                return
            self.replace(silent)
        elif self.proc is not None:  # it exited: what it started must not hold the port
            kill_session(self.proc.pid)
            self.proc = None
        if time.monotonic() - self._tried_at < self.RETRY_S or declared_count(store) == 0:
            return
        self._tried_at = time.monotonic()
        run_dir = home() / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        self.beat_path = run_dir / f"serving-{os.getpid()}.beat"
        self.beat_path.unlink(missing_ok=True)  # a fresh host has not beaten yet
        cmd = [sys.executable, "-m", "hpsearch.serving", "--exit-with-parent",
               "--heartbeat", str(self.beat_path)]
        if self.ray_address:
            cmd += ["--ray-address", self.ray_address]
        log_dir = home() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / "serving.log", "ab") as out:
            self.proc = subprocess.Popen(cmd, env={**os.environ, "HPSEARCH_DB": self.store_url},
                                         start_new_session=True, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT)
        self._started_at = time.time()
        log.info("serving host started (pid %s)", self.proc.pid,
                 extra={"event": "serving.started", "pid": self.proc.pid})

    def silent_s(self) -> float | None:
        """Seconds the running host has been silent past its allowance; None while it beats."""
        try:
            last = self.beat_path.stat().st_mtime if self.beat_path else None
        except FileNotFoundError:
            last = None
        now = time.time()
        if last is None or last < self._started_at:  # not beaten yet: still starting
            silent, allowed = now - self._started_at, max(self.stale_s, self.STARTUP_S)
        else:
            silent, allowed = now - last, self.stale_s
        return silent if silent > allowed else None

    def replace(self, silent: float) -> None:
        """Kill a hung host (SIGKILL: a frozen process ignores anything else) and let
        :meth:`ensure` start a fresh one now."""
        pid = self.proc.pid
        kill_session(pid)  # the host, its local Ray and that Ray's workers (the Serve proxy)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        self._tried_at = float("-inf")
        self.replaced += 1
        log.warning("serving host pid %s silent for %.0f s: killed, starting a fresh one", pid,
                    silent, extra={"event": "serving.replaced", "pid": pid, "silent_s": round(silent)})

    def stop(self, grace_s: float = 20.0) -> None:
        if self.proc is None:
            return
        _kill_group(self.proc, signal.SIGTERM)
        try:
            self.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            pass
        kill_session(self.proc.pid)  # what is left: a local Ray's workers (the Serve proxy)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        if self.beat_path is not None:
            self.beat_path.unlink(missing_ok=True)


class Retention:
    """The retention policy's periodic pass (hpsearch/store/retention.py), in a thread.

    A first pass over a large store takes a while; the dispatcher's loop renews leases
    meanwhile. Each pass after the first looks only at trials that finished since the
    previous pass's cut-off. Several dispatchers may each run passes: a pass is
    idempotent, and thinning the same trial twice deletes nothing more.
    """

    def __init__(self, store: Store):
        self.store = store
        self._since = None       # the previous pass's cut-off (None: the first pass)
        self._started = float("-inf")
        self._thread: threading.Thread | None = None
        self.last = None         # the last pass's RetentionReport

    def maybe_start(self) -> None:
        from hpsearch.store.retention import RetentionPolicy

        policy = RetentionPolicy.from_settings()
        now = time.monotonic()
        if (policy is None or (self._thread is not None and self._thread.is_alive())
                or now - self._started < settings().retain_every_s):
            return
        self._started = now
        self._thread = threading.Thread(target=self._pass, args=(policy,), daemon=True,
                                        name="hpsearch-retention")
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _pass(self, policy) -> None:
        from hpsearch.store.retention import retain

        now = utcnow()
        try:
            self.last = retain(self.store, policy, now=now, since=self._since)
        except Exception:  # noqa: BLE001 - the next pass retries; the service goes on
            log.exception("retention pass failed", extra={"event": "retention.error"})
            return
        self._since = now - timedelta(seconds=policy.after_s)
        if self.last.trials:
            log.info("retention: %d trials thinned to <= %d results, %d results deleted",
                     self.last.trials, policy.points, self.last.deleted,
                     extra={"event": "retention.pass", "trials": self.last.trials,
                            "deleted": self.last.deleted})


class Dispatcher:
    def __init__(self, store: Store, *, ray_address: str | None = None, max_studies: int = 2,
                 lease_s: float = 30.0, name: str | None = None, cancel_grace_s: float = 30.0,
                 metrics_dir: str | None = None, log_format: str = "text",
                 driver_command: list[str] | None = None):
        self.store = store
        self.ray_address = ray_address
        self.max_studies = max_studies
        self.lease_s = lease_s
        self.cancel_grace_s = cancel_grace_s
        self.metrics_dir = metrics_dir
        self.log_format = log_format
        # The driver program; tests put a stand-in process here.
        self.driver_command = driver_command or [sys.executable, "-m", "hpsearch.dispatcher"]
        self.name = name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.drivers: dict[int, Driver] = {}
        self._ray_token_file: str | None = None
        self.stop_event = threading.Event()
        self.claims = {"new": 0, "takeover": 0}
        # Trials whose driver stopped heartbeating this long are marked INTERRUPTED.
        self.trial_grace_s = settings().trial_grace_s
        self._beat_at = float("-inf")
        self._cluster_down: str | None = None  # why the Ray head cannot be reached, or None
        self.serving = ServingHost(store.url, ray_address)
        self.retention = Retention(store)

    @property
    def running(self) -> dict[int, subprocess.Popen]:
        return {sid: d.proc for sid, d in self.drivers.items()}

    def _log(self, level: int, message: str, event: str, **fields) -> None:
        log.log(level, message, extra={"event": event, "dispatcher": self.name, **fields})

    # -- claiming ------------------------------------------------------------------
    def claim(self) -> Claim | None:
        """Atomically take one queued study, or one whose lease expired."""
        now = utcnow()
        with self.store.session(write=True) as s:
            # never our own study again, whatever its lease says
            study = s.scalar(queries.claimable(now, exclude=self.drivers))
            if study is None:
                return None
            takeover = study.status == StudyStatus.RUNNING
            previous = study.lease_owner
            study.status = StudyStatus.RUNNING
            study.lease_owner = self.name
            study.lease_expires_at = now + timedelta(seconds=self.lease_s)
            if not takeover:
                study.started_at = now
            claim = Claim(study.id, study.name, takeover)
        self.claims["takeover" if takeover else "new"] += 1
        self._log(logging.INFO, f"claimed study {claim.study_id} ({claim.name})"
                  + (f", taken over from {previous}" if takeover else ""), "study.claimed",
                  study_id=claim.study_id, study=claim.name, takeover=takeover,
                  previous_owner=previous if takeover else None)
        return claim

    def renew(self) -> None:
        """Extend our leases; kill the driver of any study whose lease another dispatcher took."""
        if not self.drivers:
            return
        ids = list(self.drivers)
        with self.store.session(write=True) as s:
            s.execute(update(Study).where(Study.id.in_(ids), Study.lease_owner == self.name)
                      .values(lease_expires_at=utcnow() + timedelta(seconds=self.lease_s)))
            owners = {k: v for k, v in s.execute(select(Study.id, Study.lease_owner)
                                                 .where(Study.id.in_(ids)))}
        for sid in ids:
            if owners.get(sid) not in (self.name, None):
                driver = self.drivers.pop(sid)
                _kill_group(driver.proc, signal.SIGKILL)
                driver.proc.wait(10)
                self._log(logging.WARNING, f"lost the lease of study {sid} to {owners.get(sid)}; "
                          "its driver here was killed", "study.lease_lost", study_id=sid,
                          owner=owners.get(sid))

    # -- running -------------------------------------------------------------------
    def start(self, claim: Claim) -> None:
        cmd = [*self.driver_command, "--study", str(claim.study_id), "--log-format", self.log_format]
        if claim.takeover:
            cmd.append("--resume")
        from hpsearch import isolation

        # No secret in the driver's environment (nor in Ray's, which the driver starts): the
        # database URL comes on a pipe the driver reads once; Ray's token as a 0600 file.
        env = {**isolation.clean_environ(), "HPSEARCH_DISPATCHER_PID": str(os.getpid())}
        db_fd = isolation.secret_pipe(isolation.full_db_url(self.store.url))
        env[isolation.DB_FD_ENV] = str(db_fd)
        if os.environ.get("RAY_AUTH_TOKEN"):
            if self._ray_token_file is None:
                self._ray_token_file = isolation.private_file(os.environ["RAY_AUTH_TOKEN"],
                                                              "hpsearch-ray-token-")
            env["RAY_AUTH_TOKEN_PATH"] = self._ray_token_file
        if self.ray_address:
            env["HPSEARCH_RAY_ADDRESS"] = self.ray_address
        if self.metrics_dir:
            from hpsearch.monitoring import METRICS_DIR_ENV
            env[METRICS_DIR_ENV] = self.metrics_dir
        log_dir = home() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"study-{claim.study_id}.log"
        with open(log_path, "ab") as out:
            # Its own session: the driver and the local processes it starts die together.
            try:
                proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                                        stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, pass_fds=(db_fd,))
            finally:
                os.close(db_fd)
        self.drivers[claim.study_id] = Driver(proc, claim, log_path)
        self._log(logging.INFO, f"running study {claim.study_id} ({claim.name}) in driver "
                  f"pid {proc.pid}" + (" after taking it over" if claim.takeover else ""),
                  "study.started", study_id=claim.study_id, study=claim.name, driver_pid=proc.pid,
                  takeover=claim.takeover, log=str(log_path))

    def reap(self) -> None:
        for study_id, driver in list(self.drivers.items()):
            rc = driver.proc.poll()
            if rc is None:
                continue
            del self.drivers[study_id]
            study = self.store.get_study(study_id)
            if study.lease_owner not in (self.name, None):
                continue  # taken over meanwhile: the study is not ours to judge
            if study.status == StudyStatus.RUNNING:  # the driver died without a verdict
                self.store.interrupt_unfinished(study_id, "the study's driver process exited")
                tail = _last_line(driver.log_path)
                self.store.set_study_status(
                    study_id, StudyStatus.FAILED,
                    error=f"the driver process exited with code {rc}" + (f": {tail}" if tail else ""))
                study = self.store.get_study(study_id)
            self._release(study_id)
            self._log(logging.INFO if study.status == StudyStatus.COMPLETED else logging.WARNING,
                      f"study {study_id} ended {study.status} (driver exit code {rc})",
                      "study.finished", study_id=study_id, status=study.status, exit_code=rc)

    def _release(self, study_id: int, *, expire: bool = False) -> None:
        """Drop our lease; ``expire`` keeps the owner but lets any dispatcher take it over now."""
        values = ({"lease_expires_at": utcnow() - timedelta(seconds=1)} if expire
                  else {"lease_owner": None, "lease_expires_at": None})
        with self.store.session(write=True) as s:
            s.execute(update(Study).where(Study.id == study_id, Study.lease_owner == self.name)
                      .values(**values))

    def enforce_cancel(self) -> None:
        """Kill a driver that has not stopped ``cancel_grace_s`` after its study was cancelled."""
        if not self.drivers:
            return
        with self.store.session() as s:
            cancelled = set(s.scalars(select(Study.id).where(Study.id.in_(list(self.drivers)),
                                                             Study.cancel_requested.is_(True))))
        now = time.monotonic()
        for sid in cancelled:
            driver = self.drivers[sid]
            if driver.cancel_seen_at is None:
                driver.cancel_seen_at = now
                self._log(logging.INFO, f"study {sid}: cancel requested", "study.cancel_requested",
                          study_id=sid)
            elif now - driver.cancel_seen_at > self.cancel_grace_s and driver.proc.poll() is None:
                _kill_group(driver.proc, signal.SIGKILL)
                driver.proc.wait(10)
                del self.drivers[sid]
                self.store.interrupt_unfinished(sid, "the study was cancelled")
                self.store.set_study_status(
                    sid, StudyStatus.CANCELLED,
                    end_reason=f"cancelled; its driver ignored the cancel for "
                               f"{self.cancel_grace_s:.0f} s and was killed")
                self._release(sid)
                self._log(logging.WARNING, f"study {sid}: the driver ignored the cancel for "
                          f"{self.cancel_grace_s:.0f} s and was killed", "study.cancel_forced",
                          study_id=sid)

    def heartbeat(self) -> None:
        """Say in SQL that this dispatcher lives (at most every few seconds): the web UI
        tells a queued study's viewer when no dispatcher is alive to run it."""
        now = time.monotonic()
        if now - self._beat_at < HEARTBEAT_S:
            return
        self.store.dispatcher_heartbeat(self.name, socket.gethostname(), os.getpid(),
                                        self.max_studies)
        self._beat_at = now

    def step(self) -> None:
        self.heartbeat()
        self.reap()
        self.store.reap_stale_trials(self.trial_grace_s)
        self.enforce_cancel()
        self.serving.ensure(self.store)
        self.retention.maybe_start()
        if len(self.drivers) < self.max_studies and self._cluster_up():
            while not self.stop_event.is_set() and len(self.drivers) < self.max_studies:
                claim = self.claim()
                if claim is None:
                    break
                self.start(claim)
        self.renew()

    def _cluster_up(self) -> bool:
        """On a cluster, queued studies wait while its head cannot be reached: a driver
        started now would fail its study (hpsearch/ray_address.py). Said once when the head
        goes, and once when it is back."""
        if not self.ray_address:
            return True
        why = ray_reachable(self.ray_address)
        if why != self._cluster_down:
            if why:
                self._log(logging.WARNING, f"{why}; queued studies wait for it",
                          "dispatcher.ray_unreachable", ray_address=self.ray_address)
            else:
                self._log(logging.INFO, f"the Ray head at {self.ray_address} answers",
                          "dispatcher.ray_reachable", ray_address=self.ray_address)
            self._cluster_down = why
        return why is None

    def run(self, *, poll_s: float = 1.0, until_idle: bool = False) -> None:
        """Loop: reap finished drivers, claim and start new ones, renew leases.

        Returns after SIGTERM/SIGINT (handled when run in the main thread) or
        ``stop()``, having stopped its drivers (see :meth:`shutdown`).
        """
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, lambda *_: self.stop_event.set())
        self._log(logging.INFO, f"dispatcher {self.name} watching {self.store.safe_url} "
                  f"(ray {self.ray_address or 'local'}, max {self.max_studies} studies, "
                  f"lease {self.lease_s:g} s)", "dispatcher.start", db=self.store.safe_url,
                  ray_address=self.ray_address, max_studies=self.max_studies, lease_s=self.lease_s)
        parent = os.getppid()
        try:
            while not self.stop_event.is_set():
                try:
                    self.step()
                except Exception:  # noqa: BLE001 - a database blip must not end the service
                    log.exception("dispatcher step failed; retrying",
                                  extra={"event": "dispatcher.error", "dispatcher": self.name})
                if until_idle and not self.drivers:
                    return
                if settings().exit_with_parent and os.getppid() != parent:
                    break  # the `hpsearch serve` that started us is gone
                self.stop_event.wait(poll_s)
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        self.stop_event.set()

    def shutdown(self, grace_s: float = 20.0) -> None:
        """Stop every driver; leave its study for takeover (trials interrupted, lease expired)."""
        self.serving.stop()
        for driver in self.drivers.values():
            _kill_group(driver.proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for driver in self.drivers.values():
            try:
                driver.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(driver.proc, signal.SIGKILL)
                driver.proc.wait(10)
        for sid in list(self.drivers):
            try:
                study = self.store.get_study(sid)
                if study.lease_owner != self.name:
                    continue
                if study.status == StudyStatus.RUNNING:
                    self.store.interrupt_unfinished(sid, "the dispatcher stopped")
                    self._release(sid, expire=True)
                    self._log(logging.INFO, f"study {sid} left for takeover", "study.released",
                              study_id=sid)
                else:
                    self._release(sid)
            except Exception:  # noqa: BLE001 - the database may be the reason we stop
                log.exception("could not release study %s", sid,
                              extra={"event": "dispatcher.error", "dispatcher": self.name})
        self.drivers.clear()
        if self._ray_token_file is not None:
            import shutil

            shutil.rmtree(os.path.dirname(self._ray_token_file), ignore_errors=True)
            self._ray_token_file = None
        try:
            self.store.dispatcher_stopped(self.name)
        except Exception:  # noqa: BLE001 - the row then ages out of the live list
            log.exception("could not remove the dispatcher's heartbeat row",
                          extra={"event": "dispatcher.error", "dispatcher": self.name})
        self._log(logging.INFO, f"dispatcher {self.name} stopped", "dispatcher.stop")


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the driver's process group (the driver and what it started), if it still exists."""
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _last_line(path: Path, limit: int = 500) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 8192))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines()
                     if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""


def exit_with_parent(parent: int, every: float = 1.0) -> threading.Thread:
    """In a driver: end this process when its dispatcher ``parent`` is gone.

    A driver runs in a session of its own, so it outlives a SIGKILLed dispatcher;
    left running, it would meet the driver of the dispatcher that takes the study
    over. It stops like on SIGTERM (the result writer flushes), within ``every`` s,
    well before any lease (at least 2 s) can expire.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        log.warning("the dispatcher (pid %s) is gone: stopping this driver", parent,
                    extra={"event": "driver.orphaned"})
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(15)
        os._exit(143)  # SIGTERM did not end it: go now

    thread = threading.Thread(target=watch, name="hpsearch-parent-watch", daemon=True)
    thread.start()
    return thread


def run_one(study_id: int, resume: bool) -> int:
    """The driver process of one study (started by the dispatcher)."""
    from hpsearch.monitoring import record_write_latency

    try:
        record_write_latency(study_id)  # before Ray can import prometheus_client
    except Exception:  # noqa: BLE001 - metrics must never cost a study
        log.warning("result write latency is not recorded", exc_info=True,
                    extra={"event": "driver.metrics_off", "study_id": study_id})
    from hpsearch.orchestration import resume_study, run_study
    from hpsearch.spec import validate

    # SIGTERM (the dispatcher stopping) unwinds like an exit: the result writer flushes.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if settings().dispatcher_pid is not None:
        exit_with_parent(settings().dispatcher_pid)
    from hpsearch import isolation

    isolation.private_files()
    isolation.undumpable()
    store = Store(isolation.read_secret_fd())  # the URL on the dispatcher's pipe (or HPSEARCH_DB)
    ray_address = settings().ray_address
    # None: trials run as this user (not configured); on a cluster the Ray nodes switch.
    run_as = isolation.trial_user(local=not ray_address)
    study = store.get_study(study_id)
    if study.cancel_requested:  # cancelled between the claim and this start
        store.interrupt_unfinished(study_id, "the study was cancelled")
        store.set_study_status(study_id, StudyStatus.CANCELLED,
                               end_reason="cancelled before it started")
        return 0
    log.info("driver for study %s (%s)%s", study_id, study.name, " resuming" if resume else "",
             extra={"event": "driver.start", "study_id": study_id, "resume": resume})
    if resume:
        # A driver this one takes over from may still be going away (its dispatcher kills
        # it on losing the lease): wait for it rather than fail the study.
        row = resume_study(study_id, store=store, ray_address=ray_address, progress=False,
                           allow_import=False, wait_lock_s=60, run_as=run_as)
    else:
        spec = validate(study.spec, allow_import=False, check_data=False)
        row = run_study(spec, store=store, study_id=study_id, ray_address=ray_address,
                        progress=False, allow_import=False, run_as=run_as)
    log.info("study %s ended %s", study_id, row.status,
             extra={"event": "driver.end", "study_id": study_id, "status": row.status})
    return 0 if row.status in StudyStatus.FINISHED else 1


if __name__ == "__main__":  # the per-study driver process
    import argparse

    from hpsearch.monitoring import setup_logging

    p = argparse.ArgumentParser()
    p.add_argument("--study", type=int, required=True)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--log-format", choices=["text", "json"], default="text")
    a = p.parse_args()
    setup_logging(a.log_format)
    sys.exit(run_one(a.study, a.resume))
