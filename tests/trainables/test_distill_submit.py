"""Distillation through a spec: `distill_from: {study, trial}` names an earlier trial as teacher."""
from __future__ import annotations

import pytest

import hpsearch
from hpsearch.exceptions import SpecError
from hpsearch.store import Store, StudyStatus, TrialStatus

pytestmark = pytest.mark.usefixtures("ray_session")


def cnn_spec(name: str, **over) -> dict:
    spec = {"name": name, "trainable": "cnn", "dataset": "digits",
            "space": {"lr": {"loguniform": [1e-3, 1e-2]}},
            "fixed": {"epochs": 1, "train_samples": 256, "channels": 8},
            "budget": {"trials": 1}, "seed": 0}
    return {**spec, **over}


def test_student_trains_against_a_teacher_trial_and_misfits_are_field_errors(home):
    teacher = hpsearch.run(cnn_spec("teacher"), progress=False)
    assert teacher.status == StudyStatus.COMPLETED
    student = hpsearch.run(cnn_spec("student", fixed={
        "epochs": 1, "train_samples": 256, "channels": 4,
        "distill_from": {"study": "teacher", "trial": "best"}, "distill_alpha": 0.5}),
        progress=False)
    assert student.status == StudyStatus.COMPLETED, student.error
    (trial,) = student.trials
    assert trial.status == TrialStatus.COMPLETED and trial.value is not None
    assert student.spec["fixed"]["distill_from"] == {"study": "teacher", "trial": "best"}

    before = len(Store().list_studies())
    cases = {
        "fixed.distill_from.study": {"study": "nope", "trial": "best"},
        "fixed.distill_from.trial": {"study": "teacher", "trial": 7},
    }
    for field, ref in cases.items():
        with pytest.raises(SpecError) as refused:
            hpsearch.run(cnn_spec(f"bad-{field}", fixed={"epochs": 1, "distill_from": ref}),
                         progress=False)
        assert refused.value.problems[0][0] == field
    with pytest.raises(SpecError) as refused:  # another family, another dataset
        hpsearch.run({"name": "rnn-student", "trainable": "rnn", "dataset": "sine",
                      "space": {"lr": {"loguniform": [1e-3, 1e-2]}},
                      "fixed": {"epochs": 1, "distill_from": {"study": "teacher", "trial": 0}},
                      "budget": {"trials": 1}}, progress=False)
    messages = " ".join(m for _, m in refused.value.problems)
    assert "'cnn'" in messages and "'sine'" in messages
    assert len(Store().list_studies()) == before  # nothing written
