"""Tune's experiment state: no save forced as trials checkpoint (Ray Tune, pinned version).

Ray Tune saves its experiment state (every trial's state and the searcher's, pickled: O(trials)
on the driver's loop) for ``Tuner.restore``. hpsearch never restores it: a resume is a new Tune
experiment, and SQL says what is left (so hpsearch/orchestration.py sets Tune's periodic save
to once an hour, ``TUNE_GLOBAL_CHECKPOINT_S``). Tune 2.60 also forces that save at a step's
end whenever a trial has saved ``CheckpointConfig.num_to_keep`` checkpoints since the last
save (``_ExperimentCheckpointManager.on_trial_checkpoint``, a workaround its source calls
non-performant: it keeps the saved state's view of each trial's latest checkpoint in step
with the files). hpsearch keeps 2 checkpoints per trial, and the built-in families
checkpoint every epoch, so the driver's loop saved Tune's whole state again and again, each
save longer as trials accumulate: 400 trials of 4 checkpoints made 572 saves, 31 s of a
79.5 s study (benchmarks/results/checkpointing.md).

:func:`install` turns that forced save off for the controllers that run hpsearch's studies
(those with hpsearch's store callback); a trial's last checkpoint is recorded in SQL from
Tune's trial at its end (hpsearch/tune_callback.py), and ``num_to_keep`` still prunes a
trial's old checkpoints. Any other Tune experiment in the same process (a notebook's own
``tune.Tuner``) saves as Ray Tune ships it.
"""
from __future__ import annotations

import logging

log = logging.getLogger(__name__)

_MARK = "_hpsearch_no_forced_state_save"


def install() -> bool:
    """Patch Tune's controller once per process (idempotent). False where this Ray's Tune
    is not as expected (then nothing changes)."""
    try:
        from ray.tune.execution.tune_controller import TuneController
    except ImportError:
        return False
    original = getattr(TuneController, "_create_checkpoint_manager", None)
    if original is None:
        log.warning("Ray Tune has no _create_checkpoint_manager: its state save is unchanged")
        return False
    if getattr(original, _MARK, False):
        return True

    def _create_checkpoint_manager(self):
        manager = original(self)
        if _runs_a_study(self) and hasattr(manager, "_sync_every_n_trial_checkpoints"):
            manager._sync_every_n_trial_checkpoints = None  # on_trial_checkpoint: no-op
        return manager

    setattr(_create_checkpoint_manager, _MARK, True)
    _create_checkpoint_manager.__wrapped__ = original
    TuneController._create_checkpoint_manager = _create_checkpoint_manager
    return True


def _runs_a_study(controller) -> bool:
    """Whether ``controller`` runs one of hpsearch's studies (its store callback is there)."""
    from hpsearch.tune_callback import StoreCallback

    callbacks = getattr(getattr(controller, "_callbacks", None), "_callbacks", None) or []
    return any(isinstance(cb, StoreCallback) for cb in callbacks)
