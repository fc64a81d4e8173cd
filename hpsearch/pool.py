"""Pool occupancy: the Ray cluster's resources against what running studies ask for.

The dispatcher's ``/metrics`` serves ``hpsearch_pool_resources{resource, kind}``, read at
scrape time (Prometheus keeps the history; a scrape every 15 s is the sampling):

* ``total`` and ``available``: the cluster's resources as Ray's GCS holds them (CPU, GPU
  and every custom resource a node declares, ``gpu_memory_gb`` and GPU models included;
  Ray's own ``memory``, ``object_store_memory`` and ``node:`` markers left out);
* ``used``: total - available;
* ``requested``: what the RUNNING studies in SQL want at once: each study's per-trial
  request (``resources``, its Ray names) times the trials it would run together now,
  ``min(max_concurrent, budget - trials done)``. Requested above total is a queue that
  an autoscaler would grow the pool for (docs/deployment.md).

The timeline of slot use (which slot of which node ran what, and when) comes from the
trial rows themselves (``trials.node_id`` / ``slot``, hpsearch/plots/_more.py timeline).
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import func, select

from hpsearch.status import StudyStatus, TrialStatus
from hpsearch.store.models import Study, Trial

log = logging.getLogger("hpsearch.pool")

# hpsearch's request names -> Ray's resource names
RAY_NAMES = {"cpu": "CPU", "gpu": "GPU"}
_SKIP = {"memory", "object_store_memory"}


def _shown(name: str) -> bool:
    return name not in _SKIP and not name.startswith("node:")


def per_trial(spec: dict) -> dict[str, float]:
    """One trial's Ray request for a stored (validated) spec, by Ray's resource names."""
    from hpsearch.spec import Resources

    res = Resources.model_validate(spec.get("resources") or {})
    workers = max(1, int(getattr(res, "workers", 1) or 1))  # data-parallel trials: N workers
    return {RAY_NAMES.get(k, k): float(v) * workers for k, v in res.ray_request().items() if v}


def never_fits(resources) -> list[tuple[str, str]]:
    """Why no trial asking for ``resources`` (a validated :class:`hpsearch.spec.Resources`)
    could start on the Ray this process is connected to, as its alive nodes are now: each
    resource no node has enough of, or (data-parallel) more workers than all the nodes have
    room for at once. ``(field, message)`` pairs; empty when a trial fits."""
    import ray

    from hpsearch.spec import GPU_MEMORY_RESOURCE

    nodes = [n.get("Resources") or {} for n in ray.nodes() if n.get("Alive")]
    one = {RAY_NAMES.get(k, k): float(v) for k, v in resources.per_worker().items() if v}
    each = "worker" if resources.workers > 1 else "trial"
    fields = {"CPU": "cpu", "GPU": "gpu", GPU_MEMORY_RESOURCE: GPU_MEMORY_RESOURCE}
    fit = [n for n in nodes if all(n.get(k, 0) >= v for k, v in one.items())]
    out = []
    if not fit:
        for k, v in one.items():
            most = max((n.get(k, 0) for n in nodes), default=0)
            if most < v and k not in ("CPU", "GPU") and not most:
                out.append((f"resources.{fields.get(k) or 'custom.' + k}",
                            f"{v:g} per {each}, but no node of this Ray declares {k} (a node "
                            "declares it with `ray start --resources`: docs/deployment.md)"))
            elif most < v:
                out.append((f"resources.{fields.get(k) or 'custom.' + k}",
                            f"{v:g} per {each}, but no node of this Ray has that much {k} "
                            f"(the most: {most:g})"))
        if not out:  # each resource is somewhere, never all on one node
            out.append(("resources", f"no node of this Ray has {_spelled(one)} at once"))
    elif resources.workers > 1:
        room = sum(min(int(n.get(k, 0) // v) for k, v in one.items()) for n in fit)
        if room < resources.workers:
            out.append(("resources.workers", f"{resources.workers} workers of {_spelled(one)} "
                                             f"each, but this Ray has room for {room}"))
    return out


class NodeWatch:
    """While a study runs on a cluster, which may gain nodes, a trial that fits no node
    waits for one to join (Ray only logs it). This thread of the study's driver looks at
    the alive nodes every ``every_s`` and writes what the trials wait for in the study's row
    (``Study.waiting``, shown by the study page, the API and ``hpsearch show``), or None
    once a node that fits has joined. A database or GCS blip costs one look, not the study.
    """

    EVERY_S = 5.0

    def __init__(self, store, study_id: int, resources, every_s: float = EVERY_S):
        self.store, self.study_id, self.resources = store, study_id, resources
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"hpsearch-nodes-{study_id}")

    def start(self) -> "NodeWatch":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        shown: str | None | bool = False  # False: nothing written yet by this driver
        while True:
            try:
                text = waiting_text(never_fits(self.resources))
                if text != shown:
                    self.store.set_waiting(self.study_id, text)
                    if text:
                        log.warning("study %s waits: %s", self.study_id, text)
                    elif shown:
                        log.info("study %s: a node that fits its trials has joined", self.study_id)
                    shown = text
            except Exception as exc:  # noqa: BLE001 - a blip costs one look, not the study
                log.debug("study %s: nodes not checked: %s", self.study_id, exc)
            if self._stop.wait(self.every_s):
                return


def waiting_text(problems: list[tuple[str, str]]) -> str | None:
    """What a study's trials wait for, in words, from :func:`never_fits`; None: nothing."""
    if not problems:
        return None
    return ("no node can run a trial yet: "
            + "; ".join(f"{field}: {message}" for field, message in problems)
            + ". The trials wait for a node that fits to join")


def _spelled(request: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in request.items())


def requested(store) -> dict[str, float]:
    """What the RUNNING studies want at once (see the module docstring)."""
    out: dict[str, float] = {}
    with store.session() as s:
        studies = s.execute(select(Study.id, Study.spec, Study.n_trials)
                            .where(Study.status == StudyStatus.RUNNING)).all()
        if not studies:
            return out
        done = dict(s.execute(select(Trial.study_id, func.count())
                              .where(Trial.study_id.in_([r.id for r in studies]),
                                     Trial.status.in_(TrialStatus.DONE))
                              .group_by(Trial.study_id)).all())
    for sid, spec, n_trials in studies:
        try:
            request = per_trial(spec or {})
        except Exception as exc:  # noqa: BLE001 - one odd stored spec must not cost the metric
            log.warning("study %s: resources not readable: %s", sid, exc)
            continue
        budget = (spec or {}).get("budget") or {}
        at_once = min(int(budget.get("max_concurrent", 1)), max(0, n_trials - done.get(sid, 0)))
        for name, amount in request.items():
            out[name] = out.get(name, 0.0) + amount * at_once
    return out


class RayPool:
    """The cluster's total and available resources, read from Ray's GCS at ``address``
    without joining the cluster as a driver (the dispatcher stays out of Ray)."""

    def __init__(self, address: str):
        self.address = address
        self._state: Any = None

    def read(self) -> tuple[dict[str, float], dict[str, float]]:
        if self._state is None:
            from ray._private.state import GlobalState
            from ray._raylet import GcsClientOptions

            state = GlobalState()
            state._initialize_global_state(GcsClientOptions.create(
                self.address, None, allow_cluster_id_nil=True, fetch_cluster_id_if_nil=False))
            self._state = state
        try:
            total = self._state.cluster_resources()
            available = self._state.available_resources()
        except Exception:
            self._state = None  # reconnect on the next scrape (a restarted head)
            raise
        return ({k: float(v) for k, v in total.items() if _shown(k)},
                {k: float(available.get(k, 0.0)) for k in total if _shown(k)})


def occupancy(store, pool: RayPool | None) -> dict[tuple[str, str], float]:
    """``{(resource, kind): amount}`` for kind in total, available, used, requested."""
    out: dict[tuple[str, str], float] = {}
    total: dict[str, float] = {}
    if pool is not None:
        try:
            total, available = pool.read()
        except Exception as exc:  # noqa: BLE001 - the cluster away: requested still shown
            log.warning("could not read the Ray pool at %s: %s", pool.address, exc)
            total, available = {}, {}
        for name, amount in total.items():
            out[(name, "total")] = amount
            out[(name, "available")] = available.get(name, 0.0)
            out[(name, "used")] = max(0.0, amount - available.get(name, 0.0))
    for name, amount in requested(store).items():
        out[(name, "requested")] = amount
    for name in total:
        out.setdefault((name, "requested"), 0.0)
    return out
