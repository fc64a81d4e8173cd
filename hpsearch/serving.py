"""The serving host: keeps every declared deployment served on Ray Serve.

A dispatcher starts it as a child process (``python -m hpsearch.serving``) once
a deployment is declared, and stops it when the dispatcher stops. It connects
to the dispatcher's Ray cluster (``--ray-address``) or starts a local Ray, starts
Serve's HTTP proxy on ``HPSEARCH_SERVE_HOST:HPSEARCH_SERVE_PORT`` (loopback by
default: the web API is the only client) and then reconciles every
``RECONCILE_S``:

- PENDING or FAILED rows: export the trial's model as TorchScript (once; the
  file and its card are kept under ``$HPSEARCH_HOME/deployments/NAME``), run it
  as Serve application ``hpsearch-NAME`` (route ``/NAME``) and mark it RUNNING;
- RUNNING rows whose application is gone (a restarted dispatcher, a new Ray):
  served again;
- STOPPING rows: the row is deleted at once, by the host's main loop, with no Serve call
  (an undeploy never waits on Serve's controller); the application then has no row;
- ``hpsearch-*`` applications without a row: deleted (not waited for; again at every pass
  until Serve no longer lists them).

Every status or delete call to Serve's controller is bounded (``HPSEARCH_SERVE_CALL_TIMEOUT_S``):
one that does not answer in time raises :class:`ServeUnanswered` naming the call, the pass ends
there and the next one tries again; after ``MAX_UNANSWERED`` passes in a row without an answer
the host exits, and its dispatcher starts a fresh one (a fresh local Ray and Serve).

One host per Serve port on a machine: a second one (another dispatcher) finds
the port's lock held and exits; its dispatcher tries again later.

The host touches its ``--heartbeat`` file every second from its main loop; its dispatcher
kills a host that stops (``HPSEARCH_SERVING_STALE_S``) and starts a fresh one
(:class:`hpsearch.dispatcher.ServingHost`). A reconcile pass that does not return within
``RECONCILE_TIMEOUT_S`` (serving a model: export, then Serve starting its replicas) makes the
host exit by itself, for the same restart.

Each replica loads the TorchScript file and answers ``POST /NAME`` with a
float32 batch (raw bytes, ``X-Shape`` header) with the model's outputs in the
same form; concurrent requests are gathered by ``@serve.batch`` (up to
``MAX_BATCH`` samples, waiting at most ``BATCH_WAIT_S``) into one forward pass.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from hpsearch import deployments as dep
from hpsearch.status import DeploymentStatus
from hpsearch.store import Store

log = logging.getLogger("hpsearch.serving")
PREFIX = "hpsearch-"
RECONCILE_S = 2.0
RETRY_FAILED_S = 30.0
RECONCILE_TIMEOUT_S = 90.0   # serving one deployment (export + serve.run) fits well within it
MAX_UNANSWERED = 3           # passes in a row without an answer from Serve: exit for a fresh host


class ServeUnanswered(RuntimeError):
    """Ray Serve's controller did not answer a call within its time (it is frozen, or its
    Ray is overloaded); the call is abandoned, and tried again at the next pass."""

    def __init__(self, what: str, timeout: float | None = None):
        # (what, None): the message itself, as unpickling passes it back
        super().__init__(what if timeout is None else
                         f"Ray Serve's controller did not answer {what} within {timeout:g} s")


def call_serve(what: str, fn, *args, timeout: float | None = None, **kwargs):
    """``fn(*args, **kwargs)``, a call to Serve's controller, bounded: run on a helper thread
    (Serve's client API takes no timeout) and abandoned after ``timeout`` seconds
    (``HPSEARCH_SERVE_CALL_TIMEOUT_S``) with :class:`ServeUnanswered` naming ``what``. An
    abandoned call's thread stays blocked on the controller (a daemon: it ends with the host)."""
    timeout = call_timeout() if timeout is None else timeout
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread below
            box["error"] = exc

    worker = threading.Thread(target=run, name=f"serve-call-{what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise ServeUnanswered(what, timeout)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def call_timeout() -> float:
    from hpsearch.settings import settings

    return settings().serve_call_timeout_s


def app_name(name: str) -> str:
    return PREFIX + name


def _server_class():
    """The Serve deployment class (built on first use: importing ray.serve is slow)."""
    from ray import serve

    @serve.deployment(name="model", max_ongoing_requests=128, ray_actor_options={"num_cpus": 0.5})
    class ModelServer:
        def __init__(self, model_path: str, input_shape: list[int], max_batch: int, wait_s: float):
            import torch

            torch.set_num_threads(1)
            self.model = torch.jit.load(model_path, map_location="cpu").eval()
            self.input_shape = tuple(input_shape)
            self.predict_batch.set_max_batch_size(max_batch)
            self.predict_batch.set_batch_wait_timeout_s(wait_s)

        @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.005)
        async def predict_batch(self, batches: list):
            import numpy as np
            import torch

            sizes = [len(b) for b in batches]
            with torch.no_grad():
                out = self.model(torch.from_numpy(np.concatenate(batches))).numpy()
            return list(np.split(out, np.cumsum(sizes)[:-1]))

        async def __call__(self, request):
            import numpy as np
            from starlette.responses import Response

            shape = tuple(json.loads(request.headers["x-shape"]))
            if shape[1:] != self.input_shape:
                return Response(f"expected shape (N, {self.input_shape}), got {shape}", status_code=400)
            x = np.frombuffer(await request.body(), dtype=np.float32).reshape(shape)
            out = np.ascontiguousarray(await self.predict_batch(x), dtype=np.float32)
            return Response(out.tobytes(), media_type="application/octet-stream",
                            headers={"x-shape": json.dumps(list(out.shape))})

    return ModelServer


class Host:
    """Reconciles the ``deployments`` table with the Serve applications of this Ray."""

    def __init__(self, store: Store):
        self.store = store
        self.server = _server_class()
        self.unanswered = 0  # passes in a row that Serve's controller did not answer

    def model_for(self, row) -> tuple[str, dict]:
        """The row's TorchScript file and card, exported now unless kept from before."""
        from hpsearch import export, transfer
        from hpsearch.store.store import home

        if row.model_path and Path(row.model_path).is_file() and row.card.get("sha256") \
                == transfer.sha256_file(row.model_path):
            return row.model_path, row.card
        tm = transfer.pick(self.store, row.study_id if row.study_id else row.study_name,
                           row.trial_number)
        out = home() / "deployments" / row.name
        out.mkdir(parents=True, exist_ok=True)
        card = export.write_model(tm, form_name="torchscript", out=out, store=self.store)
        return str(out / card["file"]), card

    def serve(self, row) -> None:
        from ray import serve

        path, card = self.model_for(row)
        options = ({"autoscaling_config": {"min_replicas": row.min_replicas,
                                           "max_replicas": row.max_replicas,
                                           "target_ongoing_requests": 4,
                                           "upscale_delay_s": 2.0, "downscale_delay_s": 30.0}}
                   if row.max_replicas > row.min_replicas else {"num_replicas": row.min_replicas})
        app = self.server.options(**options).bind(path, card["data"]["input_shape"],
                                                  dep.MAX_BATCH, dep.BATCH_WAIT_S)
        serve.run(app, name=app_name(row.name), route_prefix=f"/{row.name}", blocking=False)
        dep.update(self.store, row.name, status=DeploymentStatus.RUNNING, model_path=path,
                   card=card, error=None)
        log.info("serving %s (%s trial %s)", row.name, row.study_name, row.trial_number)

    def drop_stopping(self) -> None:
        """Delete the STOPPING rows (SQL only, no Serve call: an undeploy never waits on Serve's
        controller); their applications, now without a row, go at the next reconcile pass."""
        for name in dep.remove_stopping(self.store):
            log.info("undeployed %s (its Serve application is deleted next)", name)

    def reconcile(self) -> None:
        try:
            self._reconcile()
        except ServeUnanswered as exc:
            self.unanswered += 1
            log.error("%s (%d pass(es) in a row); trying again at the next pass%s", exc,
                      self.unanswered, "" if self.unanswered < MAX_UNANSWERED
                      else ", after a fresh host is started")
            return
        self.unanswered = 0

    def _reconcile(self) -> None:
        from ray import serve

        apps = {name for name in call_serve("serve.status()", serve.status).applications
                if name.startswith(PREFIX)}
        rows = [r for r in dep.all_(self.store) if r.status != DeploymentStatus.STOPPING]
        for row in rows:
            app = app_name(row.name)
            try:
                if row.status == DeploymentStatus.PENDING \
                        or (row.status == DeploymentStatus.RUNNING and app not in apps) \
                        or (row.status == DeploymentStatus.FAILED and dep.stale(row, RETRY_FAILED_S)):
                    self.serve(row)
            except Exception as exc:  # noqa: BLE001 - one bad deployment must not stop the rest
                log.exception("deployment %s failed", row.name)
                dep.update(self.store, row.name, status=DeploymentStatus.FAILED,
                           error=f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        names = {app_name(r.name) for r in rows}
        for app in sorted(apps - names):  # undeployed: not waiting for the replicas to go
            call_serve(f"serve.delete({app!r})", serve.delete, app, _blocking=False)
        self.record_state()

    def record_state(self) -> None:
        """Write what Serve reports for each application into its row (when it changed): its
        status and running replicas (``serve.status()``) and the replica bounds of the config
        the controller holds (Serve's own record, not ours)."""
        import ray
        from ray import serve
        from ray.serve._private.common import DeploymentID
        from ray.serve.context import _get_global_client

        controller = _get_global_client()._controller
        apps = call_serve("serve.status()", serve.status).applications
        for row in dep.all_(self.store):
            app = apps.get(app_name(row.name))
            if app is None or "model" not in app.deployments:
                continue
            d = app.deployments["model"]
            what = f"get_deployment_config({app_name(row.name)!r})"
            try:
                cfg = ray.get(controller.get_deployment_config.remote(
                    DeploymentID(name="model", app_name=app_name(row.name))),
                    timeout=call_timeout())
            except ray.exceptions.GetTimeoutError:
                raise ServeUnanswered(what, call_timeout()) from None
            auto = getattr(cfg, "autoscaling_config", None)
            state = {"status": str(d.status.value if hasattr(d.status, "value") else d.status),
                     "running_replicas": int(sum(n for st, n in d.replica_states.items()
                                                 if str(getattr(st, "value", st)) == "RUNNING")),
                     "num_replicas": getattr(cfg, "num_replicas", None) if auto is None else None,
                     "autoscaling": None if auto is None else {
                         "min_replicas": auto.min_replicas, "max_replicas": auto.max_replicas,
                         "target_ongoing_requests": auto.target_ongoing_requests}}
            if state != row.serve_state:
                dep.update(self.store, row.name, serve_state=state)


def _reconcile_once(host: Host) -> None:
    try:
        host.reconcile()
    except Exception:  # noqa: BLE001 - a database blip must not end serving
        log.exception("reconcile failed; retrying")


def _drop_stopping(host: Host) -> None:
    try:
        host.drop_stopping()
    except Exception:  # noqa: BLE001 - a database blip: the next beat tries again
        log.exception("could not remove undeployed rows; retrying")


def _port_lock(port: int):
    """Held while this host serves ``port``; None when another host holds it."""
    folder = Path(tempfile.gettempdir()) / "hpsearch-locks"
    folder.mkdir(exist_ok=True)
    f = open(folder / f"serve-{port}.lock", "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def beat(path: str | None) -> None:
    """Touch the heartbeat file the dispatcher watches (``--heartbeat``): this host's main
    loop is alive. A host that stops beating (frozen, stuck in a call that holds the
    interpreter) is killed and replaced by its dispatcher (``HPSEARCH_SERVING_STALE_S``)."""
    if path is None:
        return
    try:
        os.utime(path)
    except FileNotFoundError:
        Path(path).touch()
    except OSError:  # noqa: BLE001 - the dispatcher then replaces us, which is the safe side
        log.warning("could not touch the heartbeat file %s", path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hpsearch.serving", description=__doc__.splitlines()[0])
    p.add_argument("--ray-address", default=None)
    p.add_argument("--exit-with-parent", action="store_true")
    p.add_argument("--heartbeat", default=None, help="a file touched every second while alive")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lock = _port_lock(dep.serve_port())
    if lock is None:
        log.info("another serving host holds port %s; exiting", dep.serve_port())
        return 3
    from ray import serve

    from hpsearch.orchestration import ensure_ray

    def exit_now(*_) -> None:
        raise SystemExit(0)  # its dispatcher kills what it started (its session) after it

    # Told to stop while starting Ray and Serve (a dispatcher stopping, a few seconds after a
    # fresh host was started): stop at once, not after the start-up.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, exit_now)
    ensure_ray(args.ray_address)
    serve.start(http_options={"host": dep.serve_host(), "port": dep.serve_port()})
    host = Host(Store())  # the database URL: --db's HPSEARCH_DB, through hpsearch.settings
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # from now on: after the pass in progress
        signal.signal(sig, lambda *_: stop.set())
    parent = os.getppid()
    while not stop.is_set():
        # Serve's controller can stop answering (seen under heavy load): reconcile in a thread
        # whose Serve calls are bounded (call_serve), and when the pass still does not come
        # back, or Serve has not answered MAX_UNANSWERED passes in a row, exit; the dispatcher
        # starts a fresh host, which serves every declared deployment again. Meanwhile the main
        # loop beats (a frozen process is the dispatcher's to catch) and removes undeployed rows.
        worker = threading.Thread(target=_reconcile_once, args=(host,), daemon=True)
        worker.start()
        deadline = time.monotonic() + RECONCILE_TIMEOUT_S
        while worker.is_alive() and time.monotonic() < deadline:
            beat(args.heartbeat)
            _drop_stopping(host)
            worker.join(1.0)
        if worker.is_alive() or host.unanswered >= MAX_UNANSWERED:
            log.error("%s; exiting so that a fresh host takes over",
                      f"reconcile did not finish in {RECONCILE_TIMEOUT_S:g} s" if worker.is_alive()
                      else f"Ray Serve's controller did not answer {host.unanswered} passes in a row")
            os._exit(4)
        _drop_stopping(host)
        beat(args.heartbeat)
        if args.exit_with_parent and os.getppid() != parent:
            break
        stop.wait(RECONCILE_S)
    lock.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
