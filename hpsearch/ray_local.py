"""A local Ray for one driver: reachable from this machine only, its token private.

Ray's own defaults for ``ray.init()`` without an address bind every server (GCS, raylet,
workers, agents) on all interfaces and write the cluster token to ``~/.ray/auth_token``
with the process umask (0644). Token authentication holds either way, but nothing on
another machine needs to reach a driver's private Ray, and no other local user should read
its token. So: the node's address is 127.0.0.1 (Ray then binds its gRPC servers and agents
to loopback), and ``~/.ray`` is 0700 with the token 0600, created before Ray starts.
"""
from __future__ import annotations

import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOOPBACK = "127.0.0.1"
# Ray replaces a loopback node address with the machine's address unless this is off
# (ray._private.ray_constants.ENABLE_RAY_CLUSTER, read when Ray is imported).
_CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def token_path() -> Path:
    """Where a local Ray reads its token (Ray's default path, under this user's home)."""
    return Path.home() / ".ray" / "auth_token"


def private_token() -> Path | None:
    """Make ``~/.ray`` 0700 and the token 0600 (creating it if Ray would); None when Ray
    takes its token from the environment or token authentication is off."""
    if os.environ.get("RAY_AUTH_MODE", "token").lower() != "token" \
            or os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return None
    path = token_path()
    path.parent.mkdir(mode=0o700, exist_ok=True)
    folder = os.lstat(path.parent)
    if stat.S_ISDIR(folder.st_mode) and folder.st_uid == os.geteuid():
        os.chmod(path.parent, 0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
    except FileExistsError:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
            os.chmod(path, 0o600)
        return path
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return path


_API_SERVER_ENV = "RAY_API_SERVER_ADDRESS"


@contextmanager
def loopback_env() -> Iterator[None]:
    """Around ``ray.init``: the processes Ray starts keep a loopback node address, and they
    find their own cluster's state API (the dashboard's API server on the port
    :func:`init_kwargs` picks). Without the latter, a Ray process that looks its cluster up
    (Ray Train's cleaner of a dead controller's placement group) fails on a machine running
    several Ray instances. Restored afterwards, so that a later ``ray start --address``
    this process spawns (a worker node joining a real cluster) does not inherit them."""
    port = _free_port()
    saved = {name: os.environ.get(name) for name in (_CLUSTER_ENV, _API_SERVER_ENV, _PORT_ENV)}
    os.environ[_CLUSTER_ENV] = "0"
    os.environ[_API_SERVER_ENV] = f"http://{LOOPBACK}:{port}"
    os.environ[_PORT_ENV] = str(port)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_PORT_ENV = "_HPSEARCH_RAY_DASHBOARD_PORT"  # loopback_env -> init_kwargs, inside one call


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def init_kwargs() -> dict:
    """Arguments (and process settings) for ``ray.init`` of a loopback-only local Ray;
    call ``ray.init`` inside :func:`loopback_env`."""
    try:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # this process imported Ray already
    except ImportError:  # pragma: no cover - a Ray without the constant binds as it will
        pass
    private_token()
    kwargs = {"_node_ip_address": LOOPBACK}
    if os.environ.get(_PORT_ENV):  # inside loopback_env: the state API where its processes look
        kwargs["dashboard_port"] = int(os.environ[_PORT_ENV])
    return kwargs
