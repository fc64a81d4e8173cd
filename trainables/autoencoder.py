"""A fully connected autoencoder: encoder -> latent code -> decoder, MSE reconstruction.

Encoder widths halve from ``hidden_size`` over ``hidden_layers`` layers (never
below ``latent_size``); the decoder mirrors them and ends in a sigmoid, since
inputs are scaled to [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trainables._harness import Recipe, Split, TrainConfig, require, describe, mean_over_batches
from trainables._layers import ACTIVATIONS, mlp, widths


@dataclass
class Config(TrainConfig):
    latent_size: int = 8
    hidden_size: int = 64
    hidden_layers: int = 1
    activation: str = "relu"

    def check(self) -> None:
        super().check()
        require(1 <= self.latent_size <= 1024, "latent_size", "must be in [1, 1024]", self.latent_size)
        require(1 <= self.hidden_size <= 8192, "hidden_size", "must be in [1, 8192]", self.hidden_size)
        require(0 <= self.hidden_layers <= 8, "hidden_layers", "must be in [0, 8]", self.hidden_layers)
        require(self.activation in ACTIVATIONS, "activation",
                 f"must be one of {', '.join(ACTIVATIONS)}", self.activation)


class Autoencoder(nn.Module):
    def __init__(self, cfg: Config, n_features: int):
        super().__init__()
        hidden = widths(cfg.hidden_size, cfg.hidden_layers, floor=cfg.latent_size)
        self.encoder = mlp([n_features, *hidden, cfg.latent_size], cfg.activation)
        self.decoder = nn.Sequential(mlp([cfg.latent_size, *hidden[::-1], n_features], cfg.activation),
                                     nn.Sigmoid())
        # The encoder's last layer is linear; activate the code before decoding.
        self.code_activation = ACTIVATIONS[cfg.activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.code_activation(self.encoder(x)))


def build(cfg: Config, data) -> nn.Module:
    return Autoencoder(cfg, data.input_shape[0])


def loss(model: nn.Module, batch, cfg: Config):
    (x,) = batch
    value = F.mse_loss(model(x), x)
    return value, {"train_loss": value}


def evaluate(model: nn.Module, val: Split, cfg: Config) -> dict[str, float]:
    def per_sample(batch):
        (x,) = batch
        return {"val_recon_loss": F.mse_loss(model(x).float(), x, reduction="none").mean(1)}
    return mean_over_batches(per_sample, val)


RECIPE = Recipe(name="autoencoder", Config=Config, build=build, loss=loss, evaluate=evaluate)

FAMILY = describe(
    RECIPE,
    metrics=("val_recon_loss", "train_loss"),
    metric="val_recon_loss",
    mode="min",
    datasets=("digits",),
    description="Fully connected autoencoder (MSE reconstruction) on flattened digits or "
                "user features.",
    space={
        "lr": {"loguniform": [3.0e-4, 3.0e-2]},
        "optimizer": {"choice": ["adam", "rmsprop", "adagrad"]},
        "latent_size": {"logint": [2, 16]},
        "hidden_size": {"logint": [32, 128]},
        "hidden_layers": {"int": [1, 2]},
        "activation": {"choice": ["relu", "tanh", "gelu"]},
    },
    fixed={"epochs": 5, "batch_size": 64},
)
