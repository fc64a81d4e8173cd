"""`hpsearch dispatcher` and `hpsearch serve` (the web UI and a dispatcher in one command)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile

from hpsearch.settings import settings


def add_dispatcher_options(p) -> None:
    p.add_argument("--ray-address", default=settings().ray_address,
                   help="Ray cluster to run on (default: each driver starts a local Ray); "
                        "with token auth, set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH")
    p.add_argument("--max-studies", type=int, default=2, help="studies run at once")
    p.add_argument("--lease", type=float, default=30.0, help="lease seconds (renewed while running)")
    p.add_argument("--log-format", choices=["text", "json"], default="text",
                   help="json: one JSON object per log line (structured logs)")


def run_dispatcher(args) -> int:
    """Run queued studies (from the web UI, the API or `submit --server`) as they arrive."""
    from hpsearch.dispatcher import Dispatcher
    from hpsearch.monitoring import serve_dispatcher_metrics, setup_logging
    from hpsearch.store import Store

    from hpsearch import isolation
    from hpsearch.ray_address import malformed

    problem = malformed(args.ray_address)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    setup_logging(args.log_format)
    isolation.private_files()
    isolation.undumpable()
    db = isolation.read_secret_fd() or args.db  # from `hpsearch serve`: a pipe, not argv
    try:
        boundary = isolation.trial_user(local=not args.ray_address)
    except isolation.IsolationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if boundary is None and not isolation.single_user():
        print("warning: trials run as this service's own user (set HPSEARCH_TRIAL_USER, see "
              "docs/security.md); only the operator's own studies should run here",
              file=sys.stderr)
    if args.max_studies < 1:
        print(f"error: --max-studies must be at least 1, got {args.max_studies}", file=sys.stderr)
        return 2
    if args.lease < 2:  # renewed every second: a shorter lease would expire between renewals
        print(f"error: --lease must be at least 2 seconds, got {args.lease:g}", file=sys.stderr)
        return 2
    metrics_dir = args.metrics_dir or settings().metrics_dir
    made = None
    if args.metrics_port is not None and not metrics_dir:
        metrics_dir = made = tempfile.mkdtemp(prefix="hpsearch-metrics-")
    if metrics_dir:
        os.makedirs(metrics_dir, exist_ok=True)
    d = Dispatcher(Store(db), ray_address=args.ray_address, max_studies=args.max_studies,
                   lease_s=args.lease, metrics_dir=metrics_dir, log_format=args.log_format)
    server = None
    if args.metrics_port is not None:
        server = serve_dispatcher_metrics(d, args.metrics_host, args.metrics_port)
    try:
        d.run(until_idle=args.until_idle)
    finally:
        if server is not None:
            server.shutdown()
        if made:
            shutil.rmtree(made, ignore_errors=True)
    return 0


def cmd_serve(args) -> int:
    """Serve the web UI and run a dispatcher beside it (a one-machine deployment).

    The dispatcher is a child process; SIGTERM or SIGINT (Ctrl-C) stops both:
    the web server first, then the dispatcher, which stops its studies' drivers
    and leaves their studies to be resumed at the next start.
    """
    from hpsearch import isolation
    from hpsearch.monitoring import METRICS_DIR_ENV
    from hpsearch.ray_address import malformed
    from hpsearch.store.store import default_url
    from webui.serve import ServeError, serve as serve_web, served_config

    problem = malformed(args.ray_address)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    isolation.private_files()
    isolation.undumpable()  # no ptrace, no /proc/PID/environ for this user's other processes
    try:  # refuse before the dispatcher can claim anything
        isolation.trial_user(local=not args.ray_address)
        served_config(args.db, args.host, served=True)
    except (ServeError, isolation.IsolationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    metrics_dir = tempfile.mkdtemp(prefix="hpsearch-metrics-")
    os.environ[METRICS_DIR_ENV] = metrics_dir  # drivers write there; this web /metrics reads it
    cmd = [sys.executable, "-m", "hpsearch.cli", "dispatcher", "--max-studies",
           str(args.max_studies), "--lease", str(args.lease), "--log-format", args.log_format]
    if args.ray_address:
        cmd += ["--ray-address", args.ray_address]
    # The dispatcher gets no secret in its environment or argv (others see argv in `ps`): the
    # database URL on a pipe it reads once, Ray's token as a 0600 file.
    env = {**isolation.clean_environ(), "HPSEARCH_EXIT_WITH_PARENT": "1"}
    token_file = None
    if os.environ.get("RAY_AUTH_TOKEN"):
        token_file = env["RAY_AUTH_TOKEN_PATH"] = isolation.private_file(
            os.environ["RAY_AUTH_TOKEN"], "hpsearch-ray-token-")
    db_fd = isolation.secret_pipe(isolation.full_db_url(args.db or default_url()))
    env[isolation.DB_FD_ENV] = str(db_fd)
    try:
        child = subprocess.Popen(cmd, env=env, start_new_session=True, pass_fds=(db_fd,))
    finally:
        os.close(db_fd)

    def _stop(*_):
        raise KeyboardInterrupt  # waitress's loop ends on it and closes its sockets

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        rc = serve_web(db=args.db, host=args.host, port=args.port, served=True)
    except KeyboardInterrupt:
        rc = 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup
        _stop_child(child)
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(metrics_dir, ignore_errors=True)
        if token_file:
            shutil.rmtree(os.path.dirname(token_file), ignore_errors=True)
    return rc


def _stop_child(child: subprocess.Popen, grace_s: float = 30.0) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
