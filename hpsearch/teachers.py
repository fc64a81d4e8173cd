"""Resolve a spec's ``distill_from: {study: NAME, trial: best|N}`` into a teacher checkpoint.

The teacher is a finished trial of an earlier study with a checkpoint; its family and
dataset must be this study's (a student learns the teacher's outputs on the same inputs).
:func:`check` runs at the door (before a study is written); :func:`resolve` runs when the
trials are built and hands the trainable ``{"checkpoint": DIR, "config": {...}}``
(see :mod:`trainables._distill`).
"""
from __future__ import annotations

from pathlib import Path

from hpsearch.exceptions import NotFoundError, SpecError
from hpsearch.store import Store, TrialStatus

FIELD = "fixed.distill_from"
CHECKPOINT_FILE = "state.pt"  # trainables._harness.CHECKPOINT_FILE (no torch import here)
_DONE = (TrialStatus.COMPLETED, TrialStatus.EARLY_STOPPED)


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
    trial = _pick(store, study, which)
    checkpoint = trial.checkpoint
    if not checkpoint or not (Path(checkpoint) / CHECKPOINT_FILE).is_file():
        raise SpecError(f"trial {trial.number} of {study.name!r} has no checkpoint on this machine",
                        f"{FIELD}.trial")
    from hpsearch.trial import trial_seed

    config = {**study.spec.get("fixed", {}), **trial.params, "dataset": study.spec.get("dataset"),
              "seed": trial_seed(int(study.spec.get("seed", 0)), trial.params)}
    config.pop("distill_from", None)  # the teacher's own teacher is not needed to run it
    return {"checkpoint": str(checkpoint), "config": config}


def _pick(store: Store, study, which):
    if which == "best":
        done = [t for t in store.trials(study.id) if t.status in _DONE and t.value is not None]
        if not done:
            raise SpecError(f"study {study.name!r} has no finished trial to teach",
                            f"{FIELD}.trial")
        sign = 1 if study.mode == "min" else -1
        return min(done, key=lambda t: sign * t.value)
    try:
        trial = store.get_trial(study.id, which)
    except NotFoundError:
        raise SpecError(f"study {study.name!r} has no trial {which}", f"{FIELD}.trial") from None
    if trial.status not in _DONE:
        raise SpecError(f"trial {which} of {study.name!r} is {trial.status}, not finished",
                        f"{FIELD}.trial")
    return trial
