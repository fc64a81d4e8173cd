"""Cold start: a study whose trials start from a finished trial's weights (``init_from``).

Two checks, both before anything is written:

- :func:`check_spec` (inside spec validation, no database): the family can
  start from weights, ``freeze`` names its layer groups, ``reset_head`` has a
  head to reset, and no architecture hyperparameter is searched.
- :func:`resolve` (where a study is created, with the store): the source
  trial exists and has a checkpoint, its family, input shape and outputs fit
  this study's data (``reset_head`` allows other classes), fixed architecture
  values agree with it. Every problem is a field error naming what differs.

:func:`resolve` returns the study's ``init_source`` record: the source study,
trial, value, architecture and data, and a copy of its checkpoint under
``$HPSEARCH_HOME/init_sources`` (so deleting or archiving the source study
breaks neither the record nor a resume). :func:`trial_keys` turns that
record into the reserved config keys the training harness reads.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from hpsearch import transfer
from hpsearch.exceptions import NotFoundError, SpecError
from hpsearch.store import Store


def check_spec(spec, searched: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """Problems of ``spec.init_from`` that need no database (``(field, message)`` pairs)."""
    from trainables import _transfer

    init = spec.init_from
    try:
        t = _transfer.get(spec.trainable, "init_from")
    except SpecError as exc:
        return exc.problems
    problems = []
    for i, group in enumerate(init.freeze):
        if group not in t.groups:
            problems.append((f"init_from.freeze[{i}]", f"{spec.trainable!r} has no layer group "
                             f"{group!r}; its groups: {', '.join(t.groups)}"))
    if len(set(init.freeze)) == len(t.groups) and all(g in t.groups for g in init.freeze):
        problems.append(("init_from.freeze", "freezing every group leaves nothing to train"))
    if init.reset_head and not t.head:
        problems.append(("init_from.reset_head", f"{spec.trainable!r} has no output layer to reset"))
    for name in searched:
        if name in t.architecture:
            problems.append((f"space.{name}", f"{name!r} shapes the weights, so it is taken from "
                             "the source trial (init_from) and cannot be searched; remove it"))
    return problems


def resolve(spec, store: Store) -> dict | None:
    """The ``init_source`` record for ``spec`` (None without ``init_from``); SpecError if unfit."""
    init = spec.init_from
    if init is None:
        return None
    from trainables import _data, _transfer

    try:
        tm = transfer.pick(store, init.study, init.trial, field="init_from.trial")
    except NotFoundError as exc:
        field = "init_from.study" if "no trial" not in str(exc) else "init_from.trial"
        raise SpecError(str(exc), field) from None
    if tm.family != spec.trainable:
        raise SpecError(f"the source trial is a {tm.family!r} model; this study trains "
                        f"{spec.trainable!r}", "init_from.study")
    problems: list[tuple[str, str]] = []
    t = _transfer.get(tm.family, "init_from")
    architecture = {k: tm.config[k] for k in t.architecture if k in tm.config}
    for name in t.architecture:
        if name in spec.fixed and (name not in architecture or spec.fixed[name] != architecture[name]):
            source = architecture.get(name, "the family's default")
            problems.append((f"fixed.{name}", f"{name!r} shapes the weights and is taken from the "
                             f"source trial ({source!r}), got {spec.fixed[name]!r}; remove it"))
    try:
        source_data = _data.describe(tm.family, tm.dataset)
    except SpecError as exc:
        raise SpecError(f"the source study's data {tm.dataset!r} cannot be read to compare "
                        f"with: {exc.problems[0][1]}", "init_from.study") from None
    data = _data.describe(spec.trainable, spec.dataset)
    if data["input_shape"] != source_data["input_shape"]:
        problems.append(("init_from", f"input shape differs: the source trial was trained on "
                         f"{tuple(source_data['input_shape'])} ({source_data['dataset']}), this "
                         f"study's data is {tuple(data['input_shape'])} ({data['dataset']})"))
    if data["task"] != source_data["task"]:
        problems.append(("init_from", f"task differs: the source trial does "
                         f"{source_data['task']}, this study's data is for {data['task']}"))
    elif data["outputs"] != source_data["outputs"] and not init.reset_head:
        what = "classes" if data["task"] == "classify" else "outputs"
        problems.append(("init_from.reset_head", f"output {what} differ: the source trial has "
                         f"{source_data['outputs']}, this study's data has {data['outputs']}; "
                         "set reset_head: true for a new output layer"))
    if problems:
        raise SpecError(problems)
    digest = transfer.sha256_file(Path(tm.checkpoint) / transfer.CHECKPOINT_FILE)
    copy = _keep_copy(tm.checkpoint, digest)
    return {
        "study": tm.study, "study_id": tm.study_id, "trial": tm.trial, "family": tm.family,
        "metric": tm.metric, "mode": tm.mode, "value": tm.value,
        "checkpoint": str(copy), "source_checkpoint": tm.checkpoint, "sha256": digest,
        "architecture": architecture,
        "data": {k: source_data[k] for k in ("dataset", "input_shape", "task", "outputs")},
        "reset_head": bool(init.reset_head), "freeze": list(init.freeze),
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _keep_copy(checkpoint: str, digest: str) -> Path:
    """The source's state.pt, copied once per content under $HPSEARCH_HOME/init_sources."""
    from hpsearch.store.store import home

    folder = home() / "init_sources" / digest[:24]
    target = folder / transfer.CHECKPOINT_FILE
    if not target.is_file() or transfer.sha256_file(target) != digest:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (transfer.CHECKPOINT_FILE + ".tmp")
        shutil.copyfile(Path(checkpoint) / transfer.CHECKPOINT_FILE, tmp)
        tmp.replace(target)
    return folder


def trial_keys(init_source: dict | None) -> dict:
    """The reserved config keys every trial of a cold-started study gets."""
    if not init_source:
        return {}
    return {"init_checkpoint": init_source["checkpoint"],
            "reset_head": bool(init_source.get("reset_head")),
            "freeze": ",".join(init_source.get("freeze") or []) or None}
