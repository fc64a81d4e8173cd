"""The address of a Ray cluster, checked before a driver joins it.

``ray.init(address="HOST:PORT")`` waits without end, logging retries, when nothing listens
there or when something that is not Ray answers (a typo in the port, the dashboard's
``http://HOST:8265`` given for the head, a cluster that is down). :func:`check` finds each
case in at most seconds and says which, naming where the address comes from:

* not ``HOST:PORT`` (or ``ray://HOST:PORT``, ``auto``, ``local``): a ConfigError (exit 2);
* nothing listens: connection refused for :data:`REFUSED_WAIT_S` (a head starting), or no
  route, no such host, no answer to the connect: a :class:`RayUnreachable` (exit 1: the
  address may be right and the cluster down);
* something answers, but not as Ray: a Ray head's GCS (and a Ray Client server) speaks
  gRPC, which answers an HTTP/2 connection preface with a SETTINGS frame. Another answer
  is a ConfigError. No answer within :data:`ANSWER_WAIT_S` is not called wrong: Ray tries.

The dispatcher uses :func:`reachable` before it claims a study, so that queued studies
wait for a cluster that is down instead of failing one after another.
"""
from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from typing import Iterator

from hpsearch.exceptions import ConfigError, HpsearchError

WHERE = "--ray-address / HPSEARCH_RAY_ADDRESS"
REFUSED_WAIT_S = 3.0    # connection refused is tried again this long (a head just starting)
CONNECT_WAIT_S = 5.0    # one connect
ANSWER_WAIT_S = 3.0     # the server's first HTTP/2 frame
# An HTTP/2 client's connection preface and an empty SETTINGS frame (RFC 9113, 3.4).
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
SETTINGS = 0x4


class RayUnreachable(HpsearchError):
    """Nothing answers at the Ray address (CLI exit 1)."""

    exit_code = 1


def split(address: str, where: str = WHERE) -> tuple[str, int]:
    """``(host, port)`` of a ``HOST:PORT`` or ``ray://HOST:PORT`` address; ConfigError else."""
    text = address.strip()
    if text.startswith(("http://", "https://")):
        raise ConfigError(f"{address!r} is the Ray dashboard's address (the one Ray Jobs "
                          "takes); a driver joins the head itself: HOST:PORT, the port "
                          "`ray start --head --port` took (6379 by default)", where)
    host, sep, port = text.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"{address!r} is not a Ray address: expected HOST:PORT (the head's "
                          "port, 6379 by default), ray://HOST:PORT, auto or local", where)
    return host, int(port)


def resolve_auto(where: str = WHERE) -> tuple[str, str]:
    """``auto``: the Ray that ``ray.init`` would join, found by Ray's own rule (the last
    ``ray start`` on this machine, else a Ray found running here), so that it is checked
    like any address: Ray waits without end on one that does not answer, and auto may find
    a stale or unreachable one. Returns the address and a ``where`` naming it for messages;
    :class:`RayUnreachable` when there is none."""
    try:
        from ray._private.services import get_ray_address_from_environment
    except ImportError:  # pragma: no cover - another Ray: it resolves auto itself
        return "auto", where
    try:
        found = get_ray_address_from_environment("auto", None)
    except ConnectionError:
        raise RayUnreachable(
            f"{where}: auto: no Ray runs on this machine to join (auto joins the one "
            "`ray start --head` started here). Start one, give a head's HOST:PORT, or give no "
            "address for a Ray of this command's own") from None
    return found, f"{where} (auto found the Ray at {found})"


def check(address: str | None, refused_wait_s: float = REFUSED_WAIT_S,
          where: str = WHERE) -> None:
    """Raise ConfigError or :class:`RayUnreachable` when ``address`` is not a Ray head (see
    the module docstring); return when it is, or may be. ``auto``, ``local`` and none are
    Ray's to resolve. ``where``: where the address comes from, for the message."""
    if not address or address.strip() in ("auto", "local"):
        return
    host, port = split(address, where)
    deadline = time.monotonic() + refused_wait_s
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=CONNECT_WAIT_S)
            break
        except ConnectionRefusedError:
            if time.monotonic() < deadline:
                time.sleep(1.0)
                continue
            why = "connection refused (nothing listens on that port)"
        except socket.gaierror as exc:
            why = f"no such host ({exc.strerror or exc})"
        except OSError as exc:  # no route, or the connect timed out
            why = exc.strerror or str(exc) or type(exc).__name__
        raise RayUnreachable(f"{where}: cannot reach a Ray head at {address}: {why}. Is the "
                             "cluster up (`ray start --head`), and is this its address, the "
                             "port its head took (6379 by default)?")
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return  # the head speaks TLS first: Ray checks it
        try:
            sock.settimeout(ANSWER_WAIT_S)
            sock.sendall(PREFACE)
            first = sock.recv(9)
        except OSError:
            return  # no answer (yet): Ray tries
    if first and not (len(first) >= 4 and first[3] == SETTINGS):
        raise ConfigError(f"{address} answers, but not as a Ray head (it answered "
                          f"{first[:24]!r}); give the port the head took with `ray start "
                          "--head --port` (6379 by default), not another service's", where)


@contextmanager
def without_ray_address() -> Iterator[None]:
    """Around ``ray.init`` of a local Ray: Ray's own ``RAY_ADDRESS`` would make it join that
    cluster instead (``local`` asked for this machine's Ray)."""
    saved = os.environ.pop("RAY_ADDRESS", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["RAY_ADDRESS"] = saved


def malformed(address: str | None) -> str | None:
    """Why ``address`` cannot be a Ray address (its form alone), or None: for a service that
    waits for a head that is down (:func:`reachable`) but refuses one that cannot be."""
    if not address or address.strip() in ("auto", "local"):
        return None
    try:
        split(address)
    except ConfigError as exc:
        return str(exc)
    return None


def reachable(address: str | None) -> str | None:
    """None when ``address`` may be a Ray head now (:func:`check` without waiting), else why
    not, in words."""
    try:
        check(address, refused_wait_s=0.0)
    except HpsearchError as exc:
        return str(exc)
    return None
