"""User datasets (.npz, .csv): the good paths and clear shape errors."""
from __future__ import annotations

import numpy as np
import pytest

from hpsearch.exceptions import SpecError
from trainables import _data, _harness, autoencoder, cnn, rnn


@pytest.fixture
def digits():
    images, labels = _data._digits()
    return images[:300], labels[:300]


def test_builtin_names_and_defaults():
    for family in _data.KIND_OF:
        _data.check_dataset(family, None, {})
    _data.check_dataset("rnn", "sine", {})
    with pytest.raises(SpecError, match="valid: digits_rows, sine") as err:
        _data.check_dataset("rnn", "digits", {})
    assert err.value.problems[0][0] == "dataset"


def test_npz_images_train_a_cnn(tmp_path, digits):
    x, y = digits
    np.savez(tmp_path / "imgs.npz", X=x * 255, y=y)  # unscaled pixels: scaled on load
    _data.check_dataset("cnn", str(tmp_path / "imgs.npz"), {})
    history = _harness.run(cnn.RECIPE, {"dataset": str(tmp_path / "imgs.npz"), "epochs": 2},
                           device="cpu")
    assert history[-1]["val_accuracy"] > 0.2


def test_csv_rows_with_named_target(tmp_path, digits):
    x, y = digits
    header = ",".join([f"p{i}" for i in range(64)] + ["digit"])
    rows = np.column_stack([x.reshape(len(x), -1) * 16, y])
    np.savetxt(tmp_path / "d.csv", rows, delimiter=",", header=header, comments="", fmt="%g")
    name = f"{tmp_path / 'd.csv'}#digit"
    _data.check_dataset("cnn", name, {})  # 64 columns read as one 8x8 image
    _data.check_dataset("autoencoder", name, {})  # the target column is dropped
    data = _data.load("cnn", name)
    assert data.input_shape == (1, 8, 8) and data.n_outputs == 10 and data.task == "classify"
    assert _data.load("autoencoder", name).input_shape == (64,)
    with pytest.raises(SpecError, match="no target column 'label'"):
        _data.check_dataset("cnn", str(tmp_path / "d.csv"), {})


def test_rnn_task_follows_the_target_dtype(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 12, 2))
    np.savez(tmp_path / "forecast.npz", X=x, y=x[:, -1, :1] * 2.0)
    np.savez(tmp_path / "classes.npz", X=x, y=(x[:, -1, 0] > 0).astype(np.int64))
    assert _data.load("rnn", str(tmp_path / "forecast.npz")).task == "forecast"
    assert _data.load("rnn", str(tmp_path / "classes.npz")).task == "classify"
    history = _harness.run(rnn.RECIPE, {"dataset": str(tmp_path / "forecast.npz"), "epochs": 1},
                           device="cpu")
    assert set(history[0]) == {"epoch", "train_loss", "val_loss", "val_mse", "params", "model_kb",
                               "latency_ms"}


@pytest.mark.parametrize("family, arrays, message", [
    ("cnn", {"X": np.zeros((40, 10)), "y": np.zeros(40, int)}, "10 features is not a square"),
    ("cnn", {"X": np.zeros((40, 8, 8)), "y": np.zeros(39, int)}, "X has 40 samples but y has 39"),
    ("cnn", {"X": np.zeros((40, 8, 8))}, "no array 'y'"),
    ("cnn", {"X": np.zeros((40, 8, 8)), "y": np.full(40, 0.5)}, "integer class labels"),
    ("cnn", {"X": np.zeros((40, 1, 2, 8, 8)), "y": np.zeros(40, int)}, r"\(N, H, W\) or \(N, C, H, W\)"),
    ("rnn", {"X": np.zeros((40, 4, 4, 4)), "y": np.zeros(40)}, r"\(N, T\) or \(N, T, F\)"),
    ("autoencoder", {"y": np.zeros(40)}, "no array 'X'"),
    ("autoencoder", {"X": np.zeros((5, 3))}, "N >= 10"),
    ("autoencoder", {"X": np.full((40, 3), np.nan)}, "NaN"),
])
def test_npz_shape_mismatch_is_a_clear_spec_error(tmp_path, family, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SpecError, match=message) as err:
        _data.check_dataset(family, str(tmp_path / "bad.npz"), {})
    assert err.value.problems[0][0] == "dataset"


def test_missing_files_and_pickled_arrays_are_refused(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        _data.check_dataset("vae", str(tmp_path / "nope.npz"), {})
    np.savez(tmp_path / "objects.npz", X=np.array([{"a": 1}] * 20, dtype=object))
    with pytest.raises(SpecError, match="cannot read"):  # object arrays need pickle: never
        _data.check_dataset("vae", str(tmp_path / "objects.npz"), {})
    (tmp_path / "text.csv").write_text("a,b,label\nx,1,0\ny,2,1\n")
    with pytest.raises(SpecError, match="non-numeric feature columns: a"):
        _data.check_dataset("autoencoder", str(tmp_path / "text.csv"), {})


def test_train_samples_slices_training_only():
    full, part = _data.load("autoencoder", None), _data.load("autoencoder", None, train_samples=100)
    assert len(part.x_train) == 100 and len(part.x_val) == len(full.x_val)
    assert autoencoder.RECIPE.parse({"train_samples": 100}).train_samples == 100
