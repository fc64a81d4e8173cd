"""Each family's registry entry agrees with what it trains and reports."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import trainables
from hpsearch.exceptions import SpecError
from trainables import _harness, cnn

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", sorted(trainables.BUILTIN))
def test_entry_is_consistent(name):
    info = trainables.get_trainable(name)
    assert info.name == name and callable(info.fn) and info.fn.__name__ == name
    assert info.default_metric in info.metrics and info.default_mode in ("min", "max")
    assert info.default_dataset == info.datasets[0]
    template = info.template
    assert template["trainable"] == name and template["metric"] == info.default_metric
    for key in [*template["space"], *template["fixed"]]:
        assert key in info.hyperparameters
    for key in ("optimizer", "lr", "weight_decay", "batch_size", "epochs", "betas", "rho", "momentum"):
        assert key in info.hyperparameters
    assert not set(trainables.RESERVED_KEYS) & set(info.hyperparameters)


@pytest.mark.parametrize("name", sorted(trainables.BUILTIN))
def test_example_file_is_the_template_and_validates(name):
    """examples/<family>.yaml, where a family has one, is a copy of its registry template
    (the web form and the tests read the registry; the file is for people)."""
    info = trainables.get_trainable(name)
    path = EXAMPLES / f"{name}.yaml"
    example = yaml.safe_load(path.read_text()) if path.exists() else info.template
    assert example == info.template
    spec = pytest.importorskip("hpsearch.spec")
    assert spec.validate(example).metric == info.default_metric


def test_one_template_point_reports_the_listed_metrics():
    info = trainables.get_trainable("cnn")
    history = _harness.run(cnn.RECIPE, {**info.template["fixed"], "epochs": 1, "train_samples": 64},
                           device="cpu")
    assert set(history[0]) - {"epoch"} <= set(info.metrics)


def test_config_coercion_and_errors():
    cfg = cnn.RECIPE.parse({"channels": np.int64(8), "batch_size": 32.0, "lr": np.float32(0.01),
                            "batch_norm": 0, "betas": [0.8, 0.9], "dataset": None, "seed": 3})
    assert (cfg.channels, cfg.batch_size, cfg.batch_norm, cfg.beta1, cfg.beta2) == (8, 32, False, 0.8, 0.9)
    assert isinstance(cfg.lr, float) and cfg.seed == 3
    with pytest.raises(SpecError, match="unknown hyperparameter 'chanels'"):
        cnn.RECIPE.parse({"chanels": 8})
    with pytest.raises(SpecError, match="channels: Input should be a valid integer, got 8.5"):
        cnn.RECIPE.parse({"channels": 8.5})
    with pytest.raises(SpecError, match="optimizer: Input should be 'adam', .*got 'lbfgs'"):
        cnn.RECIPE.parse({"optimizer": "lbfgs"})
    with pytest.raises(SpecError, match="lr: Input should be greater than 0, got 0"):
        cnn.RECIPE.parse({"lr": 0})
