"""Deployments: a trial's model served on Ray Serve, declared as rows in SQL (no Ray here).

``hpsearch deploy``, ``POST /api/v1/deployments`` and :func:`declare` write a
PENDING row; a dispatcher's serving host (:mod:`hpsearch.serving`, a child
process of the dispatcher with Ray) exports the model, serves it and marks it
RUNNING; :func:`request_stop` marks it STOPPING and the host removes the
application and then the row. Predictions go through the web API, which
checks the caller and the input and forwards the batch to Serve's HTTP proxy
on loopback (:func:`serve_url`).

Settings (read here only):

- ``HPSEARCH_SERVE_HOST`` / ``HPSEARCH_SERVE_PORT``: where the serving host
  starts Serve's HTTP proxy (default ``127.0.0.1:8000``);
- ``HPSEARCH_SERVE_URL``: where the web process reaches it (default
  ``http://HOST:PORT`` from the two above).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select

from hpsearch import transfer
from hpsearch.exceptions import ConflictError, NotFoundError, SpecError
from hpsearch.status import DeploymentStatus
from hpsearch.store import Store
from hpsearch.store.models import Deployment, utcnow

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
MAX_REPLICAS = 16
MAX_ROWS = 1024          # samples per prediction request
MAX_BATCH = 64           # samples Serve gathers into one forward pass (@serve.batch)
BATCH_WAIT_S = 0.005     # how long a replica waits to fill a batch


def serve_host() -> str:
    from hpsearch.settings import settings

    return settings().serve_host


def serve_port() -> int:
    from hpsearch.settings import settings

    return settings().serve_port


def serve_url() -> str:
    from hpsearch.settings import settings

    return settings().serve_url


@dataclass(frozen=True)
class Replicas:
    """Fixed (``min == max``) or autoscaled between ``min`` and ``max`` replicas."""

    min: int
    max: int

    @property
    def autoscale(self) -> bool:
        return self.max > self.min


def parse_replicas(replicas: int | str | None = None, autoscale: str | dict | None = None) -> Replicas:
    """``replicas=N`` or ``autoscale="MIN-MAX"`` (or ``{min, max}``); SpecError naming the field."""
    if replicas is not None and autoscale is not None:
        raise SpecError("give replicas or autoscale, not both", "autoscale")
    if autoscale is not None:
        if isinstance(autoscale, dict) and set(autoscale) <= {"min", "max"}:
            lo, hi = autoscale.get("min"), autoscale.get("max")
        elif isinstance(autoscale, str) and re.fullmatch(r"\d+-\d+", autoscale.strip()):
            lo, hi = (int(v) for v in autoscale.strip().split("-"))
        else:
            raise SpecError(f"must be MIN-MAX (e.g. 1-4) or {{min, max}}, got {autoscale!r}",
                            "autoscale")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)) \
                or not 1 <= lo <= hi <= MAX_REPLICAS:
            raise SpecError(f"needs 1 <= MIN <= MAX <= {MAX_REPLICAS}, got {autoscale!r}", "autoscale")
        return Replicas(lo, hi)
    n = 1 if replicas is None else replicas
    if isinstance(n, str) and n.isdigit():
        n = int(n)
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_REPLICAS:
        raise SpecError(f"must be a whole number in [1, {MAX_REPLICAS}], got {replicas!r}", "replicas")
    return Replicas(n, n)


def declare(store: Store, study: str | int, trial: int | str | None = "best", *,
            name: str | None = None, replicas: int | str | None = None,
            autoscale: str | dict | None = None, created_by: str | None = None) -> Deployment:
    """Write a PENDING deployment of ``study``'s trial; every problem at once as a SpecError.

    A taken name is a :class:`ConflictError`. Nothing is written when anything is wrong.
    """
    from trainables import _transfer

    problems: list[tuple[str, str]] = []

    def check(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SpecError as exc:
            problems.extend(exc.problems)
            return None

    bounds = check(parse_replicas, replicas, autoscale)
    if name is not None and (not isinstance(name, str) or not NAME_RE.match(name)):
        problems.append(("name", "must be 1-63 lowercase letters, digits or '-', starting and "
                                 f"ending with a letter or digit, got {name!r}"))
    try:
        tm = check(transfer.pick, store, study, trial)
    except NotFoundError as exc:
        problems.append(("trial" if "trial" in str(exc) else "study", str(exc)))
        tm = None
    if tm is not None and not _transfer.get(tm.family).predicts:
        problems.append(("study", f"{tm.family!r} models cannot be served (no prediction from an "
                                  f"input); servable: {', '.join(_transfer.exportable())}"))
    if problems:
        raise SpecError(problems)
    name = name or _default_name(tm)
    row = Deployment(name=name, study_id=tm.study_id, study_name=tm.study, trial_number=tm.trial,
                     family=tm.family, model_path="", card={}, status=DeploymentStatus.PENDING,
                     min_replicas=bounds.min, max_replicas=bounds.max, created_by=created_by)
    from sqlalchemy.exc import IntegrityError

    try:
        with store.session(write=True) as s:
            s.add(row)
    except (IntegrityError, ConflictError):
        raise ConflictError(f"a deployment named {name!r} already exists") from None
    return row


def _default_name(tm: transfer.TrialModel) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", tm.study.lower()).strip("-")[:50] or "study"
    return f"{slug}-t{tm.trial}"


def get(store: Store, name: str) -> Deployment:
    with store.session() as s:
        row = s.scalar(select(Deployment).where(Deployment.name == name))
    if row is None:
        raise NotFoundError(f"no deployment {name!r}")
    return row


def all_(store: Store) -> list[Deployment]:
    with store.session() as s:
        return list(s.scalars(select(Deployment).order_by(Deployment.id)))


def declared_count(store: Store) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(Deployment)) or 0


def request_stop(store: Store, name: str) -> Deployment:
    """Mark ``name`` STOPPING: the serving host deletes the row within a second or two, then
    the Serve application (without waiting on Serve: see :mod:`hpsearch.serving`)."""
    with store.session(write=True) as s:
        row = s.scalar(select(Deployment).where(Deployment.name == name))
        if row is None:
            raise NotFoundError(f"no deployment {name!r}")
        row.status, row.updated_at = DeploymentStatus.STOPPING, utcnow()
    return row


def update(store: Store, name: str, **fields) -> None:
    """Set ``fields`` on ``name``'s row, unless an undeploy came first (STOPPING stays)."""
    with store.session(write=True) as s:
        row = s.scalar(select(Deployment).where(Deployment.name == name))
        if row is not None and (row.status != DeploymentStatus.STOPPING or "status" not in fields):
            for key, value in fields.items():
                setattr(row, key, value)
            row.updated_at = utcnow()


def remove_stopping(store: Store) -> list[str]:
    """Delete the STOPPING rows (undeployed) and return their names; a read only while there
    are none (the serving host asks every second)."""
    stopping = select(Deployment.name).where(Deployment.status == DeploymentStatus.STOPPING)
    with store.session() as s:
        names = list(s.scalars(stopping))
    if names:
        with store.session(write=True) as s:
            names = list(s.scalars(delete(Deployment).where(
                Deployment.status == DeploymentStatus.STOPPING).returning(Deployment.name)))
    return names


def to_dict(row: Deployment) -> dict:
    card = row.card or {}
    return {
        "name": row.name, "status": row.status, "study": row.study_name, "study_id": row.study_id,
        "trial": row.trial_number, "family": row.family,
        "replicas": {"min": row.min_replicas, "max": row.max_replicas,
                     "autoscale": row.max_replicas > row.min_replicas},
        "input": card.get("input"), "output": card.get("output"),
        "task": (card.get("data") or {}).get("task"),
        "model_sha256": card.get("sha256"),
        "created_by": row.created_by, "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at), "error": row.error,
        "serve": row.serve_state,
        "predict_url": f"/api/v1/deployments/{row.name}/predict",
    }


def _iso(t) -> str | None:
    return t.isoformat(timespec="seconds") + "Z" if t else None


def stale(row: Deployment, seconds: float) -> bool:
    return row.updated_at is not None and utcnow() - row.updated_at > timedelta(seconds=seconds)
