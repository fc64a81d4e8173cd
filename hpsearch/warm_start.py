"""``warm_start: auto``: pick earlier studies whose trials can inform this one's searcher.

A study is picked when all of these hold (checked in this order; the first
that fails is why a study was passed over):

1. it is COMPLETED and is not this study;
2. same family (``trainable``) and the same objective (metric and mode), so
   its values compare with this study's;
3. its search space overlaps this one: at least one parameter of the same name
   and kind whose ranges (numbers) or choices (categoricals) intersect;
4. its data looks alike: the same dataset, or (built-in families) data of the
   same input shape, task and number of outputs.

:func:`pick` returns the picks with their reasons (recorded on the study as
``warm_start_picked`` and shown by the API and the study page); the
orchestrator then tells the searcher their finished trials as it does for a
named ``warm_start`` list.
"""
from __future__ import annotations

from hpsearch.space import Categorical, Space
from hpsearch.status import StudyStatus
from hpsearch.store import Store

MAX_PICKS = 10


def _overlap(mine, theirs) -> bool:
    if isinstance(mine, Categorical) or isinstance(theirs, Categorical):
        if not (isinstance(mine, Categorical) and isinstance(theirs, Categorical)):
            return False
        return bool(set(map(repr, mine.values)) & set(map(repr, theirs.values)))
    return max(mine.low, theirs.low) <= min(mine.high, theirs.high)


def _data(family: str, dataset: str | None) -> dict | None:
    try:
        from trainables import BUILTIN, _data

        if family not in BUILTIN:
            return None
        d = _data.describe(family, dataset)
        return {"input_shape": d["input_shape"], "task": d["task"], "outputs": d["outputs"]}
    except Exception:  # noqa: BLE001 - data that cannot be read is simply not alike
        return None


def pick(store: Store, spec, exclude_id: int | None = None) -> list[dict]:
    """Earlier studies that fit ``spec`` (newest first, at most ``MAX_PICKS``), each
    ``{"study", "id", "reason"}``."""
    space = spec.search_space
    mine = None
    picks = []
    for row in sorted(store.list_studies(status=StudyStatus.COMPLETED), key=lambda s: -s.id):
        if row.id == exclude_id or row.trainable != spec.trainable:
            continue
        if row.metric != spec.metric or row.mode != spec.mode:
            continue
        full = store.get_study(row.id)
        try:
            theirs = Space.from_spec(full.spec.get("space", {}))
        except Exception:  # noqa: BLE001 - a space this version no longer reads
            continue
        shared = [n for n in space.names if n in theirs.by_name
                  and _overlap(space.by_name[n], theirs.by_name[n])]
        if not shared:
            continue
        dataset = full.spec.get("dataset")
        if dataset == spec.dataset:
            data_reason = f"the same dataset {dataset!r}"
        else:
            if mine is None:
                mine = _data(spec.trainable, spec.dataset) or {}
            other = _data(row.trainable, dataset)
            if not mine or other != mine:
                continue
            data_reason = (f"alike data ({dataset!r}: shape {tuple(mine['input_shape'])}, "
                           f"{mine['task']}, {mine['outputs']} outputs)")
        picks.append({"study": row.name, "id": row.id, "reason":
                      f"same family {row.trainable!r} and objective {row.metric} ({row.mode}); "
                      f"overlapping parameters {', '.join(shared)}; {data_reason}"})
        if len(picks) >= MAX_PICKS:
            break
    return picks
