"""Compression in the shared harness: pruning, int8 quantization and the footprint metrics
(params, model_kb, latency_ms) that every family reports."""
from __future__ import annotations

import importlib

import pytest
import torch

from hpsearch.exceptions import SpecError
from trainables import BUILTIN, _harness, get_trainable

SMALL = {"train_samples": 128, "epochs": 1}
STATIC = ("cnn", "autoencoder", "gan")  # the families whose model FX traces


def recipe(family: str) -> _harness.Recipe:
    return importlib.import_module(BUILTIN[family]).RECIPE


def final(family: str, **config) -> dict:
    return _harness.run(recipe(family), {**SMALL, **config}, device="cpu")[-1]


@pytest.mark.parametrize("family", BUILTIN)
def test_pruning_and_int8_shrink_every_family(family):
    base = final(family)
    pruned = final(family, prune=0.5, prune_finetune_epochs=1)
    dynamic = final(family, quantize="dynamic_int8")
    assert set(get_trainable(family).metrics) >= {"params", "model_kb", "latency_ms"}
    # Half of the weight matrices are zero: the count halves (biases and norms stay), and
    # the compressed file shrinks by at least a quarter.
    assert pruned["params"] <= 0.6 * base["params"], (base, pruned)
    assert pruned["model_kb"] <= 0.75 * base["model_kb"], (base, pruned)
    # int8 weights: at most half the compressed size of float32 ones.
    assert dynamic["model_kb"] <= 0.5 * base["model_kb"], (base, dynamic)
    assert dynamic["params"] >= 0.9 * base["params"]  # quantizing removes (almost) nothing
    for m in (base, pruned, dynamic):
        assert m["latency_ms"] > 0 and m["epoch"] == 1
    if family in STATIC:
        static = final(family, quantize="static_int8")
        assert static["model_kb"] <= 0.5 * base["model_kb"], (base, static)
    else:
        with pytest.raises(SpecError) as refused:
            final(family, quantize="static_int8")
        assert refused.value.problems[0][0] == "quantize"


def test_int8_quarters_a_wide_model_and_keeps_it():
    # A 2048-wide autoencoder: int8 weights are a quarter of float32 ones, so the compressed
    # file is well under half. Its batch-1 latency (faster with int8 at this width) is
    # measured in benchmarks/compression.py: tests do not time.
    wide = {"hidden_size": 2048, "hidden_layers": 2, "train_samples": 64}
    base = final("autoencoder", **wide)
    dynamic = final("autoencoder", quantize="dynamic_int8", **wide)
    assert dynamic["model_kb"] < 0.35 * base["model_kb"], (base, dynamic)
    assert dynamic["val_recon_loss"] < 1.1 * base["val_recon_loss"]  # and still the same model


def test_pruning_mask_is_permanent_and_the_final_checkpoint_loads(tmp_path):
    history = _harness.run(recipe("cnn"), {**SMALL, "epochs": 2, "prune": 0.5,
                                           "prune_finetune_epochs": 1}, device="cpu",
                           checkpoint_dir=tmp_path)
    assert [m["epoch"] for m in history] == [1, 2]  # fine-tuning adds no reported epoch
    assert history[1]["params"] < 0.6 * history[0]["params"]  # compressed after the last one
    state = torch.load(tmp_path / _harness.CHECKPOINT_FILE, weights_only=True)
    assert state["compression"] == {"prune": 0.5, "quantize": "none"}
    assert not any(k.endswith(("_orig", "_mask")) for k in state["model"])
    weights = [v for k, v in state["model"].items() if v.dim() >= 2]
    zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
    assert zeros == pytest.approx(0.5, abs=0.01)
    fresh = _harness.prepare(recipe("cnn"), SMALL, device="cpu")
    _harness.load_checkpoint(tmp_path, fresh)
    again = _harness.evaluate(fresh)
    assert again["val_accuracy"] == history[-1]["val_accuracy"]


def test_quantized_trial_checkpoint_is_a_safe_float_checkpoint(tmp_path):
    history = _harness.run(recipe("rnn"), {**SMALL, "quantize": "dynamic_int8"}, device="cpu",
                           checkpoint_dir=tmp_path)
    state = torch.load(tmp_path / _harness.CHECKPOINT_FILE, weights_only=True)
    assert state["compression"]["quantize"] == "dynamic_int8"
    assert all(not v.is_quantized for v in state["model"].values())
    assert history[-1]["model_kb"] < 0.5 * _harness.run(recipe("rnn"), SMALL, device="cpu")[-1]["model_kb"]


@pytest.mark.parametrize("config, field", [
    ({"prune": 1.0}, "prune"), ({"prune": -0.1}, "prune"),
    ({"prune_finetune_epochs": -1}, "prune_finetune_epochs"),
    ({"quantize": "fp4"}, "quantize"),
])
def test_bad_compression_values_are_field_errors(config, field):
    with pytest.raises(SpecError) as refused:
        recipe("cnn").parse(config)
    assert refused.value.problems[0][0] == field


def test_latency_is_measured_again_only_when_the_deployed_model_changes(monkeypatch):
    """Latency times the deployed model's structure, not its weights' values: measured at the
    first epoch and again once compression changed the model (after the last epoch), not
    at every epoch between (30 batch-1 forward passes each, a tenth of a small model's
    training, the GPU idle meanwhile)."""
    from trainables import _compress

    measured = []
    real = _compress.latency_ms

    def timed(module, inputs):
        measured.append(type(module).__name__)
        return real(module, inputs)

    monkeypatch.setattr(_compress, "latency_ms", timed)
    history = _harness.run(recipe("cnn"), {**SMALL, "epochs": 4, "quantize": "dynamic_int8"},
                           device="cpu")
    assert len(history) == 4 and len(measured) == 2, measured  # epoch 1; the int8 model
    assert history[0]["latency_ms"] == history[1]["latency_ms"] == history[2]["latency_ms"] > 0
    assert history[3]["latency_ms"] > 0
    measured.clear()
    pruned = _harness.run(recipe("cnn"), {**SMALL, "epochs": 3, "prune": 0.5}, device="cpu")
    assert len(measured) == 2, measured  # epoch 1; the pruned model (fewer nonzero weights)
    assert pruned[-1]["params"] < pruned[0]["params"]
