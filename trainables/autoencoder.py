"""A fully connected autoencoder: encoder -> latent code -> decoder, MSE reconstruction.

Encoder widths halve from ``hidden_size`` over ``hidden_layers`` layers (never
below ``latent_size``); the decoder mirrors them and ends in a sigmoid, since
inputs are scaled to [0, 1].
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainables import _media, _options
from trainables._harness import Recipe, Split, mean_over_batches
from trainables._layers import ACTIVATIONS, mlp, widths


Config = _options.Autoencoder  # its hyperparameters, declared in trainables/_options.py


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


def media(s) -> dict:
    """The first validation inputs over their reconstructions (trainables/_media.py)."""
    x = s.val.x[:_media.N_RECON]
    return _media.beside(x, s.model(x))


RECIPE = Recipe(name="autoencoder", Config=Config, build=build, loss=loss, evaluate=evaluate,
                media=media)
