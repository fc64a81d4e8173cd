"""Cold start (init_from): trials really start from the source's weights, frozen groups stay
as they were, and a source that does not fit is a field error before anything is written."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from hpsearch.exceptions import SpecError
from hpsearch.store import Store
from tests.transfer.conftest import SOURCE, cnn_spec


def finetune_spec(name: str, **init) -> dict:
    spec = cnn_spec(name, init_from={"study": SOURCE, "trial": "best", **init})
    spec["fixed"] = {"epochs": 1, "train_samples": 400, "batch_size": 32}
    spec["budget"] = {"trials": 1}
    return spec


def test_trials_start_from_the_source_weights(source_db, tmp_path):
    from hpsearch.api import Study
    from hpsearch.orchestration import run_study
    from hpsearch.transfer import pick

    store = Store(source_db)
    source = pick(store, SOURCE, "best")
    src_last = store.results(store.get_trial(source.study_id, source.trial).id)[-1].metrics
    row = run_study(finetune_spec("cnn-finetune"), store=store, progress=False)
    assert row.status == "COMPLETED", row.error
    study = Study(store, row.id)
    rec = study.init_source
    assert (rec["study"], rec["trial"]) == (SOURCE, source.trial)
    assert rec["architecture"] == {"conv_layers": 1, "channels": 8}
    assert rec["checkpoint"] != source.checkpoint and rec["sha256"]
    # The trial's first report carries the loaded model's evaluation before any training:
    # exactly the source trial's last evaluation (same weights, same validation split).
    first = study.results(0)[0]
    assert first["start_val_accuracy"] == src_last["val_accuracy"]
    assert first["start_val_loss"] == pytest.approx(src_last["val_loss"], rel=1e-6)
    # The trials ran with the source's architecture (not the family's defaults).
    assert pick(store, row.id, 0).config["channels"] == 8
    # ...and so does a teacher taken from it (distill_from resolves {study, trial} as pick does).
    from hpsearch import teachers
    from hpsearch.spec import validate
    student = validate(cnn_spec("student", fixed={"epochs": 1, "distill_from": {"study": "cnn-finetune"}}))
    assert teachers.resolve(student, store)["config"]["channels"] == 8

    # Archiving, then deleting, the source study breaks neither the record nor the new
    # study's models.
    copy_db = tmp_path / "copy.db"
    with sqlite3.connect(source_db.removeprefix("sqlite:///")) as src, sqlite3.connect(copy_db) as dst:
        src.backup(dst)  # the WAL's pages included
    copy = Store(f"sqlite:///{copy_db}")
    from hpsearch.store.models import utcnow
    copy.annotate_study(copy.get_study(SOURCE).id, archived_at=utcnow())
    assert copy.get_study("cnn-finetune").init_source == rec
    from webui import create_app
    archived = create_app({"DATABASE_URL": f"sqlite:///{copy_db}", "TESTING": True}).test_client()
    assert archived.get(f"/api/v1/studies/{row.id}").json["init_source"] == rec
    copy.delete_study(copy.get_study(SOURCE).id)
    assert copy.get_study("cnn-finetune").init_source == rec
    from hpsearch.export import export_trial
    card = export_trial(copy, "cnn-finetune", fmt="state_dict", out=tmp_path / "out")
    assert card["init_from"]["study"] == SOURCE

    client = create_app({"DATABASE_URL": source_db, "TESTING": True}).test_client()
    assert client.get(f"/api/v1/studies/{row.id}").json["init_source"]["trial"] == source.trial
    assert 'id="init-source"' in client.get(f"/studies/{row.id}").get_data(as_text=True)


def test_frozen_groups_stay_and_the_rest_trains(source_db, tmp_path):
    import torch

    from hpsearch.transfer import pick
    from trainables import _harness, cnn

    source = pick(Store(source_db), SOURCE, "best")
    before = torch.load(f"{source.checkpoint}/state.pt", weights_only=True)["model"]
    config = {**source.config, "epochs": 1, "lr": 0.05, "init_checkpoint": source.checkpoint,
              "freeze": "features"}
    _harness.run(cnn.RECIPE, config, checkpoint_dir=tmp_path)
    after = torch.load(tmp_path / "state.pt", weights_only=True)["model"]
    frozen = [k for k in before if k.startswith("features.") and "num_batches" not in k]
    assert any("running_mean" in k for k in frozen)  # batch norm statistics are held too
    for k in frozen:
        assert torch.equal(before[k], after[k]), k
    assert not torch.equal(before["head.3.weight"], after["head.3.weight"])


def test_reset_head_keeps_the_body_and_builds_a_new_output_layer(source_db, tmp_path):
    """``reset_head``: a source of 10 classes fine-tuned on 3: every weight but the output
    layer's is the source's (held by ``freeze`` here, so that they can be compared after an
    epoch), the output layer is new and of 3 classes; without it the source does not load."""
    import torch

    from hpsearch.transfer import pick
    from trainables import _harness, cnn

    source = pick(Store(source_db), SOURCE, "best")
    before = torch.load(f"{source.checkpoint}/state.pt", weights_only=True)["model"]
    config = {**source.config, "epochs": 1, "init_checkpoint": source.checkpoint,
              "dataset": _npz(tmp_path / "three.npz", (8, 8), 3), "freeze": "features"}
    with pytest.raises(_harness.CheckpointError, match="does not fit this model's architecture"):
        _harness.run(cnn.RECIPE, config, checkpoint_dir=tmp_path / "strict")
    _harness.run(cnn.RECIPE, {**config, "reset_head": True}, checkpoint_dir=tmp_path / "new")
    after = torch.load(tmp_path / "new" / "state.pt", weights_only=True)["model"]
    assert after["head.3.weight"].shape[0] == 3 and before["head.3.weight"].shape[0] == 10
    body = [k for k in before if k.startswith("features.") and "num_batches" not in k]
    assert body and all(torch.equal(before[k], after[k]) for k in body)


def _npz(path, shape, classes):
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.random((60, *shape)).astype(np.float32), y=np.arange(60) % classes)
    return str(path)


def test_unfit_sources_are_field_errors_and_nothing_is_written(source_db, tmp_path):
    from hpsearch.cold_start import resolve
    from hpsearch.orchestration import run_study
    from hpsearch.spec import validate

    store = Store(source_db)
    n_studies = len(store.list_studies())

    def problems(spec: dict) -> dict:
        with pytest.raises(SpecError) as info:
            resolve(validate(spec), store)
        return dict(info.value.problems)

    bad = finetune_spec("x", freeze=["features", "nope"])
    bad["space"]["channels"] = {"int": [8, 16]}
    found = problems(bad)
    assert "'nope'" in found["init_from.freeze[1]"] and "features, head" in found["init_from.freeze[1]"]
    assert "cannot be searched" in found["space.channels"]

    spec = finetune_spec("x")
    spec["fixed"]["channels"] = 16
    assert "(8)" in problems(spec)["fixed.channels"]

    spec = finetune_spec("x", study="no-such-study")
    assert "no-such-study" in problems(spec)["init_from.study"]
    spec = finetune_spec("x", trial=42)
    assert "42" in problems(spec)["init_from.trial"]

    three = finetune_spec("x")
    three["dataset"] = _npz(tmp_path / "three.npz", (8, 8), 3)
    found = problems(three)
    assert "source trial has 10, this study's data has 3" in found["init_from.reset_head"]
    three["init_from"]["reset_head"] = True
    assert resolve(validate(three), store)["reset_head"] is True

    wide = finetune_spec("x")
    wide["dataset"] = _npz(tmp_path / "wide.npz", (10, 10), 10)
    assert "(1, 8, 8)" in problems(wide)["init_from"] and "(1, 10, 10)" in problems(wide)["init_from"]

    rnn = finetune_spec("x")
    rnn.update(trainable="rnn", dataset="digits_rows", fixed={"epochs": 1})
    assert "'cnn' model" in problems(rnn)["init_from.study"]

    with pytest.raises(SpecError):
        run_study(wide, store=store, progress=False)
    assert len(store.list_studies()) == n_studies  # nothing written

    from webui import create_app
    client = create_app({"DATABASE_URL": source_db, "TESTING": True}).test_client()
    spec = finetune_spec("x")
    spec["fixed"]["channels"] = 16  # only the check against the source (with the store) sees this
    r = client.post("/api/v1/studies", json=spec)
    assert r.status_code == 422 and any(f["field"] == "fixed.channels" for f in r.json["fields"])
    assert len(store.list_studies()) == n_studies


def test_warm_start_auto_picks_fitting_studies_and_says_why(source_db, tmp_path):
    """warm_start: auto tells the searcher the trials of earlier studies of the same family,
    objective, overlapping space and alike data, and records which and why."""
    from hpsearch.api import Study
    from hpsearch.orchestration import run_study
    from hpsearch.spec import validate
    from hpsearch.warm_start import pick

    store = Store(source_db)
    spec = validate(cnn_spec("x", warm_start="auto"))
    picked = pick(store, spec)
    assert SOURCE in [p["study"] for p in picked]
    reason = next(p["reason"] for p in picked if p["study"] == SOURCE)
    assert "'cnn'" in reason and "lr" in reason and "'digits'" in reason
    # Not alike: another objective, or a space with no overlap.
    assert SOURCE not in [p["study"] for p in pick(store, validate(cnn_spec("x", metric="val_loss", mode="min")))]
    far = cnn_spec("x")
    far["space"] = {"lr": {"loguniform": [0.1, 0.5]}}
    assert SOURCE not in [p["study"] for p in pick(store, validate(far))]

    auto = cnn_spec("cnn-auto", warm_start="auto")
    auto["fixed"]["epochs"] = 1
    auto["budget"] = {"trials": 1}
    row = run_study(auto, store=store, progress=False)
    study = Study(store, row.id)
    assert SOURCE in [p["study"] for p in study.warm_start_picked]
    imported = [t for t in study.trials if t.status == "IMPORTED"]
    assert len(imported) >= 2 and {t.imported_from for t in imported} >= {SOURCE}
