"""A finished trial as a model: which trial, its full config, its checkpoint (no torch here).

Export, cold start (``init_from``), distillation's teacher (``distill_from``) and
deployments all start from a :class:`TrialModel`, found by :func:`pick` (one meaning of
``{study, trial: best|N}``)::

    >>> tm = pick(store, "cnn-digits", "best")          # doctest: +SKIP
    >>> tm.family, tm.trial, tm.checkpoint               # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hpsearch.exceptions import NotFoundError, SpecError
from hpsearch.store import Store, TrialStatus
from hpsearch.trial import trial_seed

CHECKPOINT_FILE = "state.pt"  # trainables._harness.CHECKPOINT_FILE, without importing torch
DONE = TrialStatus.SCORED


@dataclass(frozen=True)
class TrialModel:
    """One finished trial of a study, with what it takes to rebuild its model."""

    study: str
    study_id: int
    trial: int
    family: str
    params: dict          # the searched values
    config: dict          # everything the trainable read: fixed + params + dataset + seed
    checkpoint: str       # a directory holding state.pt
    metric: str
    mode: str
    value: float | None
    dataset: str | None

    def to_dict(self) -> dict:
        return asdict(self)


def effective_fixed(spec: dict, init_source: dict | None = None) -> dict:
    """The fixed values a study's trials ran with: the spec's, plus (cold start) the source
    trial's architecture, which every trial of such a study takes over."""
    return {**spec.get("fixed", {}), **((init_source or {}).get("architecture") or {})}


def trial_config(spec: dict, params: dict, init_source: dict | None = None) -> dict:
    """The config trial ``params`` of a study with ``spec`` was trained with (as
    :func:`hpsearch.trial.make_trial_fn` builds it; cold-start keys left out)."""
    return {**effective_fixed(spec, init_source), **params, "dataset": spec.get("dataset"),
            "seed": trial_seed(int(spec.get("seed", 0)), params)}


def parse_trial(value: Any, field: str = "trial") -> int | str:
    """``best`` or a trial number (an int, or digits from a command line)."""
    if value is None or value == "best":
        return "best"
    if isinstance(value, bool):
        raise SpecError(f"must be 'best' or a trial number, got {value!r}", field)
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    raise SpecError(f"must be 'best' or a trial number, got {value!r}", field)


def pick(store: Store, study_ref: str | int, trial: int | str | None = "best", *,
         field: str = "trial") -> TrialModel:
    """Trial ``trial`` (a number, or ``best``: the study's best finished trial) of a study.

    Raises :class:`NotFoundError` for a missing study or trial and
    :class:`SpecError` on ``field`` for a trial that has no model to offer
    (unfinished, failed, imported, or without a checkpoint on this machine).
    """
    study = store.get_study(study_ref)
    which = parse_trial(trial, field)
    trials = store.trials(study.id)
    if which == "best":
        done = [t for t in trials if t.status in DONE and t.value is not None and t.checkpoint]
        if not done:
            raise SpecError(f"study {study.name!r} has no finished trial with a checkpoint", field)
        row = (min if study.mode == "min" else max)(done, key=lambda t: t.value)
    else:
        row = next((t for t in trials if t.number == which), None)
        if row is None:
            raise NotFoundError(f"study {study.name!r} has no trial {which}")
        if row.status not in DONE:
            raise SpecError(f"trial {which} of {study.name!r} is {row.status}; only COMPLETED or "
                            "EARLY_STOPPED trials have a model", field)
    if not row.checkpoint or not (Path(row.checkpoint) / CHECKPOINT_FILE).is_file():
        raise SpecError(f"trial {row.number} of {study.name!r} has no checkpoint on this machine "
                        f"({row.checkpoint or 'none recorded'})", field)
    init_source = getattr(study, "init_source", None)
    return TrialModel(study=study.name, study_id=study.id, trial=row.number, family=study.trainable,
                      params=dict(row.params), config=trial_config(study.spec, row.params, init_source),
                      checkpoint=row.checkpoint, metric=study.metric, mode=study.mode,
                      value=row.value, dataset=study.spec.get("dataset"))


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
