"""The study's sink: what trials send besides results (log chunks, media, where they run),
held for the driver.

One actor per driver process (no CPU), shared by the studies that process runs, each under
a key of its own (:class:`StudySink`): starting an actor is a Ray worker process, about half
a second of a 2-core machine at every study's start, so it is started once and reused.
It is a named actor in the job's namespace: trials find it by name.
Trials call ``log``/``media`` without waiting; the driver's store callback calls ``drain``
every ``DRAIN_EVERY_S`` while trials send something (less often while they are quiet, up to
``tune_callback.DRAIN_IDLE_MAX_S``) and turns what it gets into writer ops
(hpsearch/tune_callback.py).
A trial never holds a database connection: the sink is the only way its output reaches SQL.
"""
from __future__ import annotations

import threading
import uuid

DRAIN_EVERY_S = 0.5


class TrialSink:
    """Run as a Ray actor (see :func:`start_sink`); every call names the study's key."""

    def __init__(self):
        self._logs: dict[str, list[tuple[str, int, str]]] = {}
        self._media: dict[str, list[tuple[str, dict]]] = {}
        # key -> ray id -> out-of-memory retries (hpsearch/oom.py)
        self._oom: dict[str, dict[str, list[dict]]] = {}
        # key -> [(ray id, {node_id, node_host, node_ip, t})]
        self._placements: dict[str, list[tuple[str, dict]]] = {}

    def ping(self) -> bool:
        return True

    def log(self, key: str, ray_id: str, offset: int, text: str) -> None:
        self._logs.setdefault(key, []).append((ray_id, offset, text))

    def media(self, key: str, ray_id: str, item: dict) -> None:
        self._media.setdefault(key, []).append((ray_id, item))

    def placement(self, key: str, ray_id: str, where: dict) -> None:
        self._placements.setdefault(key, []).append((ray_id, where))

    def oom_retry(self, key: str, ray_id: str, record: dict) -> None:
        self._oom.setdefault(key, {}).setdefault(ray_id, []).append(record)

    def oom_retries(self, key: str, ray_id: str) -> list[dict]:
        """A trial's retries, handed over once (the driver asks when the trial ends)."""
        return self._oom.get(key, {}).pop(ray_id, [])

    def drain(self, key: str) -> tuple[list, list, list]:
        return (self._logs.pop(key, []), self._media.pop(key, []),
                self._placements.pop(key, []))

    def forget(self, key: str) -> None:
        """The study's run ended: drop what it left (nothing, once drained)."""
        for held in (self._logs, self._media, self._oom, self._placements):
            held.pop(key, None)


class _Call:
    __slots__ = ("method", "key")

    def __init__(self, method, key: str):
        self.method, self.key = method, key

    def remote(self, *args):
        return self.method.remote(self.key, *args)


_handles: dict[str, object] = {}  # actor name -> handle, in this process (a trial's worker)


class StudySink:
    """One study run's view of the shared sink: ``sink.log.remote(ray_id, offset, text)`` and
    the other calls, with the study's key added. It travels with the trial function as the
    actor's name, not its handle: Tune unpickles a trial's function on the driver for every
    trial it creates, and an actor handle costs a registration each time; a worker looks the
    name up once. Standard library only, like the rest of the trial path (hpsearch/trial.py)."""

    def __init__(self, name: str, key: str, handle=None):
        self.name, self.key = name, key
        if handle is not None:
            _handles[name] = handle

    def __getstate__(self) -> dict:
        return {"name": self.name, "key": self.key}

    def __setstate__(self, state: dict) -> None:
        self.name, self.key = state["name"], state["key"]

    @property
    def handle(self):
        handle = _handles.get(self.name)
        if handle is None:
            import ray

            handle = _handles[self.name] = ray.get_actor(self.name)
        return handle

    def __getattr__(self, name: str) -> _Call:
        if name.startswith("_") or name in ("name", "key"):
            raise AttributeError(name)
        return _Call(getattr(self.handle, name), self.key)

    def close(self) -> None:
        """Drop what this run left in the sink (not waited for; the actor lives on)."""
        try:
            self.handle.forget.remote(self.key)
        except Exception:  # noqa: BLE001 - Ray is going away: so is the sink
            pass


_shared: tuple[tuple, str] | None = None  # ((job id, node id), actor name)
_lock = threading.Lock()


def start_sink() -> StudySink:
    """The sink for one study run: this process's sink actor (started on first use, again
    when Ray was restarted or the actor died; it dies with the driver), under a new key."""
    import ray

    global _shared
    ctx = ray.get_runtime_context()
    session = (ctx.get_job_id(), ctx.get_node_id())
    with _lock:
        name = _shared[1] if _shared is not None and _shared[0] == session else None
        if name is not None:
            try:
                ray.get(_handles[name].ping.remote(), timeout=10)
            except Exception:  # noqa: BLE001 - dead or unreachable: start another
                _handles.pop(name, None)
                name = None
        if name is None:
            name = f"hpsearch-sink-{uuid.uuid4().hex}"
            _handles[name] = ray.remote(num_cpus=0, max_restarts=0)(TrialSink).options(
                name=name).remote()
            _shared = (session, name)
    return StudySink(name, uuid.uuid4().hex)
