"""A fully connected GAN scored by Fréchet distance (``val_fid``).

The discriminator takes a step on every batch, the generator on every
``d_steps``-th batch. Real labels are ``1 - label_smoothing`` (one-sided
smoothing). Each epoch, as many samples as the validation split holds are
drawn from fixed noise and compared with it on the features of
:mod:`trainables._fid`; ``d_loss`` and ``g_loss`` are training means.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainables import _fid, _media
from trainables import _options
from trainables._compress import Deploy
from trainables._harness import Recipe, Split, eval_noise
from trainables._layers import mlp


Config = _options.GAN  # its hyperparameters, declared in trainables/_options.py


class GAN(nn.Module):
    def __init__(self, cfg: Config, n_features: int):
        super().__init__()
        self.latent_size = cfg.latent_size
        # Batch norm in the generator is what keeps this small GAN from collapsing
        # to one mode on digits (without it val_fid stalls near its untrained value).
        g = cfg.g_hidden
        self.generator = nn.Sequential(
            nn.Linear(cfg.latent_size, g), nn.BatchNorm1d(g), nn.ReLU(),
            nn.Linear(g, g), nn.BatchNorm1d(g), nn.ReLU(), nn.Linear(g, n_features), nn.Sigmoid())
        self.discriminator = mlp([n_features, cfg.d_hidden, cfg.d_hidden, 1], "leaky_relu")  # logits

    def sample(self, n: int, noise: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        return self.generator(torch.randn(n, self.latent_size, device=device, generator=noise))


def build(cfg: Config, data) -> nn.Module:
    return GAN(cfg, data.input_shape[0])


def param_groups(model: GAN) -> dict[str, list]:
    return {"d": list(model.discriminator.parameters()), "g": list(model.generator.parameters())}


def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def train_step(model: GAN, batch, cfg: Config, step, index: int) -> dict:
    (real,) = batch
    fake = model.sample(len(real))
    d_loss = (_bce(model.discriminator(real), 1.0 - cfg.label_smoothing)
              + _bce(model.discriminator(fake.detach()), 0.0))
    step("d", d_loss)
    logs = {"d_loss": d_loss}
    if (index + 1) % cfg.d_steps == 0:
        g_loss = _bce(model.discriminator(fake), 1.0)
        step("g", g_loss)
        logs["g_loss"] = g_loss
    return logs


def evaluate(model: GAN, val: Split, cfg: Config) -> dict[str, float]:
    features = _fid.feature_fn(val.data)
    noise = eval_noise(val.x.device)
    fake = model.sample(len(val.x), noise)
    return {"val_fid": _fid.frechet_distance(features(val.x), features(fake))}


def media(s) -> dict:
    """Samples from the same fixed noise every epoch (trainables/_media.py)."""
    z = _media.fixed_noise(_media.N_SAMPLES, s.model.latent_size, s.val.x.device)
    images = _media.as_images(s.model.generator(z))
    return {} if images is None else {"samples": _media.grid(images, cols=4)}


def noise_for(model: GAN, x: torch.Tensor) -> tuple[torch.Tensor]:
    """The generator's input for a batch like ``x``: fixed noise (seed 0), on the CPU."""
    return (torch.randn(len(x), model.latent_size, generator=torch.Generator().manual_seed(0)),)


RECIPE = Recipe(name="gan", Config=Config, build=build, evaluate=evaluate, train_step=train_step,
                param_groups=param_groups, media=media,
                deploy=Deploy(path="generator", inputs=noise_for))  # deployed: the generator

