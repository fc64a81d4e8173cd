"""Out-of-memory is not a failure of the study (``on_oom``, hpsearch/oom.py)."""
from __future__ import annotations

import pytest

import hpsearch
from hpsearch.exceptions import SpecError
from hpsearch.spec import validate
from hpsearch.status import StudyStatus, TrialStatus
from hpsearch.store import Store
from tests.helpers import quad_spec


def _oom_spec(name: str, **over) -> dict:
    return quad_spec(name, trainable="tests.helpers:oom_prone",
                     space={"batch_size": {"grid": [64, 128]}},
                     searcher={"type": "grid"}, budget={"trials": 2, "max_concurrent": 2},
                     fixed={"epochs": 3, "fits": 16},
                     on_oom={"halve": "batch_size", "retries": 2}, **over)


def test_on_oom_refused_at_the_door_each_problem_named():
    base = {"name": "o", "trainable": "cnn", "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
            "budget": {"trials": 2}}
    with pytest.raises(SpecError) as err:
        validate({**base, "on_oom": {"halve": "lr", "retries": 0}}, check_data=False)
    fields = dict(err.value.problems)
    assert "on_oom.retries" in fields
    assert "'lr' is not an integer" in fields["on_oom.halve"]
    with pytest.raises(SpecError) as err:
        validate({**base, "on_oom": {"halve": "batch_sise"}}, check_data=False)
    assert "no hyperparameter 'batch_sise'" in dict(err.value.problems)["on_oom.halve"]
    with pytest.raises(SpecError) as err:
        validate({**base, "on_oom": "sometimes"}, check_data=False)
    assert any(f.startswith("on_oom") for f, _ in err.value.problems)
    ok = validate({**base, "on_oom": {"retries": 1}}, check_data=False)
    assert ok.to_dict()["on_oom"] == {"halve": "batch_size", "retries": 1}
    plain = validate(base, check_data=False)
    assert "on_oom" not in plain.to_dict()  # "fail", the default: hashes as before


def test_out_of_memory_trial_reruns_with_halved_batch(home, ray_session):
    study = hpsearch.run(_oom_spec("oom"), progress=False)
    assert study.status == StudyStatus.COMPLETED
    store = Store()
    rows = {}
    for t in store.trials(study.id):
        notes = [e.message for e in store.trial_events(t.id)
                 if e.message and e.message.startswith("out of memory")]
        curve = [(r.metrics["batch_size"], r.metrics["epoch"]) for r in store.results(t.id)]
        rows[curve[0][0]] = (t, notes, curve)  # keyed by the batch size it started with
    # 16 fits: 64 fits after two halvings (64 -> 32 -> 16); 128 needs three: it fails.
    t, notes, curve = rows[64]
    assert t.status == TrialStatus.COMPLETED and t.params["batch_size"] == 16
    assert notes == ["out of memory with batch_size=64; run again with batch_size=32 (retry 1 of 2)",
                     "out of memory with batch_size=32; run again with batch_size=16 (retry 2 of 2)"]
    # One row kept what every attempt reported: epoch 1 at 64 and at 32, then 16's three.
    assert curve == [(64, 1), (32, 1), (16, 1), (16, 2), (16, 3)]
    assert t.value == pytest.approx(1 / 16 + 0.03)
    t, notes, curve = rows[128]
    assert t.status == TrialStatus.ERROR and "OutOfMemoryError" in t.error
    assert t.params["batch_size"] == 32 and len(notes) == 2  # the last configuration that ran
    # The searcher was told the configuration that finally ran (128's failure is not told).
    told = [c for c, _ in store.get_study(study.id).searcher_state["observations"]]
    assert [c["batch_size"] for c in told] == [16]


def test_gpu_memory_is_a_resource_request():
    base = {"name": "m", "trainable": "tests.helpers:quadratic", "metric": "loss", "mode": "min",
            "space": {"x": {"uniform": [0.0, 1.0]}}, "budget": {"trials": 2}}
    spec = validate({**base, "resources": {"gpu": 0.25, "gpu_memory_gb": 8}})
    assert spec.resources.ray_request() == {"cpu": 1.0, "gpu": 0.25, "gpu_memory_gb": 8.0}
    assert "gpu_memory_gb" not in validate(base).to_dict()["resources"]  # undeclared: as before
    with pytest.raises(SpecError) as err:
        validate({**base, "resources": {"gpu_memory_gb": -1, "custom": {"gpu_memory_gb": 8}}})
    fields = dict(err.value.problems)
    assert "resources.gpu_memory_gb" in fields and "resources.custom" in fields
