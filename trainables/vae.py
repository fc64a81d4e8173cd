"""A variational autoencoder with a Bernoulli decoder and a ``beta``-weighted KL term.

Training minimises ``recon + beta * KL`` per sample. ``val_elbo`` is the
negative ELBO (``recon + KL``, with beta = 1 whatever the trained beta, so
that trials with different betas compare on the same scale); ``val_recon`` is
the summed Bernoulli cross-entropy per sample and ``val_kl`` the KL divergence
to the standard normal prior. Validation draws its noise from a fixed seed (the same for every trial).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainables import _media, _options
from trainables._compress import Deploy
from trainables._harness import Recipe, Split, eval_noise, mean_over_batches
from trainables._layers import ACTIVATIONS, mlp, widths


Config = _options.VAE  # its hyperparameters, declared in trainables/_options.py


class VAE(nn.Module):
    def __init__(self, cfg: Config, n_features: int):
        super().__init__()
        hidden = widths(cfg.hidden_size, cfg.hidden_layers, floor=cfg.latent_size)
        self.encoder = nn.Sequential(mlp([n_features, *hidden], cfg.activation),
                                     ACTIVATIONS[cfg.activation]()) if hidden else nn.Identity()
        self.to_stats = nn.Linear(hidden[-1] if hidden else n_features, 2 * cfg.latent_size)
        self.decoder = mlp([cfg.latent_size, *hidden[::-1], n_features], cfg.activation)  # logits

    def forward(self, x: torch.Tensor, noise: torch.Generator | None = None):
        mu, logvar = self.to_stats(self.encoder(x)).float().chunk(2, dim=1)
        logvar = logvar.clamp(-10, 10)
        eps = torch.randn(mu.shape, device=mu.device, generator=noise)
        return self.decoder(mu + eps * (0.5 * logvar).exp()), mu, logvar


def terms(model: VAE, x: torch.Tensor, noise: torch.Generator | None = None):
    """Per-sample reconstruction (summed BCE) and KL terms."""
    logits, mu, logvar = model(x, noise)
    recon = F.binary_cross_entropy_with_logits(logits.float(), x.float(), reduction="none").sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)
    return recon, kl


def build(cfg: Config, data) -> nn.Module:
    return VAE(cfg, data.input_shape[0])


def loss(model: nn.Module, batch, cfg: Config):
    (x,) = batch
    recon, kl = terms(model, x)
    value = (recon + cfg.beta * kl).mean()
    return value, {"train_loss": value}


def evaluate(model: nn.Module, val: Split, cfg: Config) -> dict[str, float]:
    noise = eval_noise(val.x.device)

    def per_sample(batch):
        recon, kl = terms(model, batch[0], noise)
        return {"val_elbo": recon + kl, "val_recon": recon, "val_kl": kl}
    return mean_over_batches(per_sample, val)


def media(s) -> dict:
    """Samples decoded from fixed noise, and the first validation inputs over their
    reconstructions (decoded from the posterior mean), every recorded epoch."""
    model = s.model
    z = _media.fixed_noise(_media.N_SAMPLES, model.to_stats.out_features // 2, s.val.x.device)
    out = {}
    samples = _media.as_images(torch.sigmoid(model.decoder(z)))
    if samples is not None:
        out["samples"] = _media.grid(samples, cols=4)
    x = s.val.x[:_media.N_RECON]
    mu, _ = model.to_stats(model.encoder(x)).float().chunk(2, dim=1)
    return {**out, **_media.beside(x, torch.sigmoid(model.decoder(mu)))}


# The sampling step (randn with a generator, shapes from tensors) does not trace with FX.
RECIPE = Recipe(name="vae", Config=Config, build=build, loss=loss, evaluate=evaluate, media=media,
                deploy=Deploy(static=False))

