"""Export round-trips: the written TorchScript / ONNX / state dict reproduce the trial's model."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from hpsearch.store import Store
from tests.transfer.conftest import SOURCE


@pytest.mark.parametrize("fmt", ["torchscript", "onnx", "state_dict"])
def test_export_round_trip(source_db, tmp_path, fmt):
    import torch

    from hpsearch.export import ATOL, RTOL, export_trial
    from hpsearch.transfer import pick, sha256_file
    from trainables import _data, _finetune

    store = Store(source_db)
    card = export_trial(store, SOURCE, fmt=fmt, out=tmp_path)
    best = pick(store, SOURCE, "best")
    assert card["source"]["trial"] == best.trial and card["family"] == "cnn"
    assert card["sha256"] == sha256_file(tmp_path / card["file"])
    assert card["data"]["input_shape"] == [1, 8, 8] and card["data"]["outputs"] == 10
    assert "16" in card["data"]["preprocessing"]["description"]
    assert card["params"]["conv_layers"] == 1 and "lr" in card["params"]
    assert card["metrics"]["objective"]["value"] == best.value
    assert json.loads((tmp_path / "model_card.json").read_text())["sha256"] == card["sha256"]
    assert card["sha256"] in (tmp_path / "model_card.md").read_text()

    # Independently of the exporter's own check: run the file on the whole validation split.
    x = _data.load("cnn", "digits").x_val
    model = _finetune.restore("cnn", best.config, best.checkpoint).model
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    path = str(tmp_path / card["file"])
    if fmt == "torchscript":
        got = torch.jit.load(path)(torch.from_numpy(x)).detach().numpy()
    elif fmt == "onnx":
        import onnxruntime
        got = onnxruntime.InferenceSession(path).run(None, {"input": x})[0]
    else:
        fresh = _finetune.restore("cnn", best.config, best.checkpoint).model
        for p in fresh.parameters():
            p.data.zero_()
        fresh.load_state_dict(torch.load(path, weights_only=True))
        with torch.no_grad():
            got = fresh(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    # The exported model is the trained one: it scores the accuracy the trial reported.
    accuracy = float((got.argmax(1) == _data.load("cnn", "digits").y_val).mean())
    assert accuracy == pytest.approx(best.value, abs=1e-6)


def test_export_cli_and_errors(source_db, tmp_path):
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "hpsearch.cli", "export", SOURCE, "--db", source_db,
           "--format", "state_dict", "--trial", "1", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "model_card.json").read_text())["source"]["trial"] == 1
    bad = subprocess.run(cmd[:-4] + ["--format", "pickle", "--out", str(out)], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "format" in bad.stderr and "onnx" in bad.stderr
    missing = subprocess.run(cmd[:-3] + ["99", "--out", str(out)], capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode != 0 and "no trial 99" in missing.stderr


def test_export_from_the_api_and_the_trial_page(source_db, tmp_path):
    """The trial page's button posts to the API, which answers a zip (the web process runs
    ``hpsearch export`` in a child process: it imports no torch itself)."""
    import hpsearch
    from webui import create_app

    card = hpsearch.export_model(SOURCE, str(tmp_path / "py"), trial=0, format="state_dict",
                                 db=source_db)
    assert card["source"]["trial"] == 0 and (tmp_path / "py" / "state_dict.pt").is_file()

    import io
    import zipfile

    app = create_app({"DATABASE_URL": source_db, "TESTING": True})
    client = app.test_client()
    study_id = Store(source_db).get_study(SOURCE).id
    page = client.get(f"/studies/{study_id}/trials/0").get_data(as_text=True)
    assert 'id="export"' in page and f"/api/v1/studies/{study_id}/trials/0/export" in page
    r = client.post(f"/api/v1/studies/{study_id}/trials/0/export", json={"format": "state_dict"})
    assert r.status_code == 200, r.get_data(as_text=True)
    z = zipfile.ZipFile(io.BytesIO(r.data))
    assert sorted(z.namelist()) == ["model_card.json", "model_card.md", "state_dict.pt"]
    web_card = json.loads(z.read("model_card.json"))
    assert web_card["source"]["trial"] == 0 and web_card["sha256"] == card["sha256"]
    r = client.post(f"/api/v1/studies/{study_id}/trials/0/export", json={"format": "pickle"})
    assert r.status_code == 400 and "pickle" in r.json["message"]
    r = client.post(f"/api/v1/studies/{study_id}/trials/77/export", json={"format": "onnx"})
    assert r.status_code == 404


def test_a_front_trial_exports_as_the_model_it_measured(ray_session, tmp_path):
    """Pick a point of a multi-objective study's Pareto front (accuracy against model_kb, with
    int8 quantization searched) and export it like any trial: the TorchScript file is the
    int8 model the trial measured, and it loads and predicts."""
    import torch

    from hpsearch.api import Study
    from hpsearch.export import export_trial
    from hpsearch.orchestration import run_study
    from hpsearch.transfer import pick
    from trainables import _data, _finetune

    store = Store(f"sqlite:///{tmp_path / 'mo.db'}", upgrade=True)
    spec = {"name": "cnn-front", "trainable": "cnn", "dataset": "digits",
            "objectives": [{"metric": "val_accuracy", "mode": "max"},
                           {"metric": "model_kb", "mode": "min"}],
            "space": {"quantize": {"grid": ["none", "dynamic_int8"]}},
            "fixed": {"epochs": 1, "train_samples": 128},
            "searcher": {"type": "grid"}, "budget": {"trials": 2, "max_concurrent": 2}, "seed": 0}
    row = run_study(spec, store=store, progress=False)
    assert row.status == "COMPLETED", row.error
    study = Study(store, row.id)
    front = study.pareto_front
    small = min(front, key=lambda t: t.values["model_kb"])  # the int8 trial: the smallest
    assert small.params["quantize"] == "dynamic_int8"
    float_trial = next(t for t in study.trials if t.params["quantize"] == "none")

    card = export_trial(store, "cnn-front", small.number, fmt="torchscript", out=tmp_path / "int8")
    assert card["source"]["trial"] == small.number
    assert card["compression"]["quantize"] == "dynamic_int8"
    assert "measured" in card["compression"]["in_this_file"]
    plain = export_trial(store, "cnn-front", float_trial.number, fmt="torchscript", out=tmp_path / "f32")
    assert card["bytes"] < plain["bytes"]  # int8 modules in the file, not the float weights

    loaded = torch.jit.load(str(tmp_path / "int8" / card["file"]))
    x = torch.from_numpy(_data.load("cnn", "digits").x_val)
    tm = pick(store, "cnn-front", small.number)
    restored = _finetune.restore("cnn", tm.config, tm.checkpoint)
    with torch.no_grad():
        got = loaded(x).argmax(1)
        expected = _finetune.deployed(restored)(x).argmax(1)
    assert torch.equal(got, expected)
    # ...and its accuracy is the one the trial reported for the point on the front.
    y = torch.from_numpy(_data.load("cnn", "digits").y_val)
    assert float((got == y).float().mean()) == pytest.approx(small.values["val_accuracy"], abs=1e-6)
