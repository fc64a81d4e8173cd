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


@contextmanager
def loopback_env() -> Iterator[None]:
    """Around ``ray.init``: the processes Ray starts keep a loopback node address. Restored
    afterwards, so that a later ``ray start --address`` this process spawns (a worker node
    joining a real cluster) does not inherit it and refuse to join."""
    previous = os.environ.get(_CLUSTER_ENV)
    os.environ[_CLUSTER_ENV] = "0"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_CLUSTER_ENV, None)
        else:
            os.environ[_CLUSTER_ENV] = previous


def init_kwargs() -> dict:
    """Arguments (and process settings) for ``ray.init`` of a loopback-only local Ray;
    call ``ray.init`` inside :func:`loopback_env`."""
    try:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # this process imported Ray already
    except ImportError:  # pragma: no cover - a Ray without the constant binds as it will
        pass
    private_token()
    return {"_node_ip_address": LOOPBACK}
