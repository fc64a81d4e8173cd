"""Resolve a spec's ``distill_from: {study: NAME, trial: best|N}`` into a teacher checkpoint.

The teacher is a finished trial of an earlier study with a checkpoint, found by
:func:`hpsearch.transfer.pick` like every ``{study, trial}`` reference (``init_from``,
export, deployments); its family and dataset must be this study's (a student learns the
teacher's outputs on the same inputs).
:func:`check` runs at the door (before a study is written); :func:`resolve` runs when the
trials are built and hands the trainable ``{"checkpoint": DIR, "config": {...}}``
(see :mod:`trainables._distill`).
"""
from __future__ import annotations

from hpsearch import transfer
from hpsearch.exceptions import NotFoundError, SpecError
from hpsearch.store import Store

FIELD = "fixed.distill_from"


def check(spec, store: Store) -> None:
    """Raise SpecError on ``fixed.distill_from`` when its teacher does not fit ``spec``."""
    resolve(spec, store)


def resolve(spec, store: Store) -> dict | None:
    """The teacher reference the trainable reads, or None when the spec names none."""
    if "distill_from" in spec.space:
        raise SpecError("a teacher is fixed, not searched: move distill_from to fixed",
                        "space.distill_from")
    ref = spec.fixed.get("distill_from")
    if ref is None:
        return None
    if not isinstance(ref, dict) or set(ref) - {"study", "trial"} or not isinstance(ref.get("study"), str):
        raise SpecError(f"must be {{study: NAME, trial: best|N}}, got {ref!r}", FIELD)
    which = ref.get("trial", "best")
    if which != "best" and (not isinstance(which, int) or isinstance(which, bool) or which < 0):
        raise SpecError(f"trial must be 'best' or a trial number, got {which!r}", f"{FIELD}.trial")
    try:
        study = store.get_study(ref["study"])
    except NotFoundError:
        raise SpecError(f"no study {ref['study']!r} to take a teacher from", f"{FIELD}.study") from None
    problems = []
    if study.trainable != spec.trainable:
        problems.append((f"{FIELD}.study", f"study {study.name!r} trains {study.trainable!r}; "
                                           f"a {spec.trainable!r} student needs a {spec.trainable!r} teacher"))
    if study.spec.get("dataset") != spec.dataset:
        problems.append((f"{FIELD}.study", f"study {study.name!r} trained on "
                                           f"{study.spec.get('dataset')!r}, this study on {spec.dataset!r}"))
    if problems:
        raise SpecError(problems)
    # The one resolution of {study, trial: best|N} (export, init_from and deploy use it too):
    # the same "best", the same checks, the same config (a cold-started teacher's architecture).
    try:
        tm = transfer.pick(store, study.id, which, field=f"{FIELD}.trial")
    except NotFoundError as exc:
        raise SpecError(str(exc), f"{FIELD}.trial") from None
    config = {k: v for k, v in tm.config.items() if k != "distill_from"}  # not needed to run it
    return {"checkpoint": tm.checkpoint, "config": config}
