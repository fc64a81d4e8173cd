"""Distillation in the shared harness (no Ray): the teacher is used, and only used."""
from __future__ import annotations

from trainables import _harness, cnn

TEACHER = {"train_samples": 64, "epochs": 1, "channels": 8}


def test_the_teacher_does_not_reseed_the_student(tmp_path):
    # Building the teacher seeded every generator with the teacher's seed, so the student's
    # dropout followed the teacher's seed and not its own: two students of the same seed
    # trained differently under two teachers of the same weights.
    _harness.run(cnn.RECIPE, TEACHER, device="cpu", checkpoint_dir=tmp_path)

    def student(teacher_seed: int) -> dict:
        ref = {"checkpoint": str(tmp_path), "config": {**TEACHER, "seed": teacher_seed}}
        return _harness.run(cnn.RECIPE, {"train_samples": 64, "epochs": 1, "channels": 4,
                                         "dropout": 0.5, "seed": 3, "distill_from": ref},
                            device="cpu")[-1]

    first, second = student(0), student(1)
    assert first["train_loss"] == second["train_loss"]
    assert first["val_accuracy"] == second["val_accuracy"]
