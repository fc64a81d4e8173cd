"""A study whose trials checkpoint every epoch does not save Tune's whole experiment state on
the driver's loop as they do (hpsearch/tune_state.py); a trial's old checkpoints are still
pruned, its last one still recorded, and another Tuner in the process saves as Tune does."""
from __future__ import annotations

from pathlib import Path

import pytest

import hpsearch
from hpsearch.store import StudyStatus, TrialStatus
from tests.helpers import quad_spec

pytestmark = pytest.mark.usefixtures("ray_session")


@pytest.fixture
def saves(monkeypatch):
    """Tune's experiment-state saves (``TuneController.save_to_dir``) while the test runs."""
    from ray.tune.execution.tune_controller import TuneController

    count = {"n": 0}
    original = TuneController.save_to_dir

    def save_to_dir(self):
        count["n"] += 1
        return original(self)

    monkeypatch.setattr(TuneController, "save_to_dir", save_to_dir)
    return count


def test_trials_that_checkpoint_every_epoch_force_no_save_of_tunes_state(home, saves):
    # 4 trials x 6 epochs, each epoch a checkpoint: Tune as shipped (num_to_keep=2) forces
    # a save of its whole state at every other checkpoint of a trial (about 12 here); the
    # study's own saves are Tune's first and last.
    spec = quad_spec("no-forced-state-save", trainable="tests.helpers:quadratic_ckpt",
                     fixed={"epochs": 6}, budget={"trials": 4, "max_concurrent": 2})
    study = hpsearch.run(spec, progress=False)
    assert study.status == StudyStatus.COMPLETED, study.error
    assert saves["n"] <= 2, f"Tune's experiment state was saved {saves['n']} times"
    for t in study.trials:
        assert t.status == TrialStatus.COMPLETED
        # The last checkpoint is recorded, and num_to_keep still prunes the older ones.
        row = study.store.get_trial(study.id, t.number)
        ckpt = Path(row.checkpoint)
        assert (ckpt / "state.json").read_text() == '{"epoch": 6}'
        assert len([p for p in ckpt.parent.iterdir() if p.name.startswith("checkpoint_")]) == 2


def test_another_tuner_in_the_process_saves_as_tune_does(tmp_path, saves):
    from ray import tune

    from hpsearch import tune_state

    assert tune_state.install()

    def trainable(config):
        import json
        import tempfile

        for epoch in range(1, 7):
            with tempfile.TemporaryDirectory() as d:
                (Path(d) / "state.json").write_text(json.dumps({"epoch": epoch}))
                tune.report({"epoch": epoch}, checkpoint=tune.Checkpoint.from_directory(d))

    tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(num_samples=1),
                       run_config=tune.RunConfig(
                           name="plain", storage_path=str(tmp_path), verbose=0,
                           checkpoint_config=tune.CheckpointConfig(num_to_keep=2)))
    tuner.fit()
    assert saves["n"] > 2, "a Tuner that is not a study lost Tune's forced saves"
