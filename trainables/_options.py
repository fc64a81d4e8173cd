"""Each built-in model family's hyperparameters and registry entry, declared once.

Light on purpose (pydantic only, no torch): the spec validator checks a spec's
``space`` and ``fixed`` against these schemas before anything runs, and the
training harness parses every trial's config with the same classes, so what
validation accepts is exactly what a trial accepts. A family's module
(``trainables/cnn.py``) uses its class here as its ``Config``.

Adding a family: write ``trainables/NAME.py`` (model, loss, evaluate, ``RECIPE``)
and add its options class and one :class:`Family` to :data:`REGISTRY` below.
Adding a hyperparameter: one line in its family's class.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from hpsearch.options import Bool, Float, Int, Options

OPTIMIZERS = ("adam", "adagrad", "adadelta", "sgd", "rmsprop")  # trainables/_harness.py builds them
ACTIVATIONS = ("relu", "tanh", "gelu", "elu", "leaky_relu", "silu")  # trainables/_layers.py
QUANTIZE_MODES = ("none", "dynamic_int8", "static_int8")  # trainables/_compress.py
FOOTPRINT_METRICS = ("params", "model_kb", "latency_ms")  # reported by every family
# Built-in datasets for each kind of input a family reads (trainables/_data.py loads them).
DATASETS: dict[str, tuple[str, ...]] = {
    "image": ("digits",),
    "sequence": ("digits_rows", "sine"),
    "flat": ("digits",),
}
Unit = Annotated[Float, Field(ge=0, lt=1)]  # a fraction in [0, 1)


class Common(Options):
    """Hyperparameters every family reads; each family's class adds its own.

    ``betas: [b1, b2]`` sets ``beta1`` and ``beta2``. ``rho`` is Adadelta's ``rho``
    and RMSprop's ``alpha`` (None: PyTorch's default); ``momentum`` applies to SGD
    and RMSprop. ``train_samples > 0`` trains on that many samples only. ``amp``
    turns on mixed precision on CUDA. ``prune``, ``prune_finetune_epochs`` and
    ``quantize`` compress the model after its last epoch (trainables/_compress.py);
    ``distill_from``, ``distill_alpha`` and ``distill_temperature`` train it against
    a teacher (trainables/_distill.py). ``dataset``, ``seed`` and the cold-start keys
    are filled in by the orchestrator (reserved: a spec never sets them in fixed).
    """

    optimizer: Literal[OPTIMIZERS] = "adam"
    lr: Float = Field(1e-3, gt=0, le=10)
    weight_decay: Float = Field(0.0, ge=0, le=10)
    batch_size: Int = Field(64, ge=1, le=1_000_000)
    epochs: Int = Field(5, ge=1, le=100_000)
    beta1: Unit = 0.9
    beta2: Unit = 0.999
    betas: list[Unit] | None = Field(None, min_length=2, max_length=2)
    momentum: Float = Field(0.0, ge=0, le=1)
    rho: Float | None = Field(None, ge=0, le=1)
    train_samples: Int = Field(0, ge=0, le=100_000_000, description="0: all")
    amp: Bool = True
    prune: Float = Field(0.0, ge=0, lt=1, description="fraction of weights pruned at the end")
    prune_finetune_epochs: Int = Field(0, ge=0, le=1000)
    quantize: Literal[QUANTIZE_MODES] = "none"
    # In a spec {study, trial: best|N}; the orchestrator resolves it to {checkpoint, config}.
    distill_from: dict[str, Any] | None = None
    distill_alpha: Float = Field(0.5, ge=0, le=1)
    distill_temperature: Float = Field(4.0, gt=0, le=1000)
    # Reserved: filled in by the orchestrator (the data, the seed, cold start's source:
    # checkpoint directory, a fresh output layer, frozen layer groups comma-separated).
    dataset: str | None = None
    seed: Int = 0
    init_checkpoint: str | None = None
    reset_head: Bool = False
    freeze: str | None = None

    @model_validator(mode="after")
    def _split_betas(self) -> "Common":
        if self.betas is not None:
            fields = self.model_fields_set
            self.beta1 = self.beta1 if "beta1" in fields else self.betas[0]
            self.beta2 = self.beta2 if "beta2" in fields else self.betas[1]
        return self


class CNN(Common):
    conv_layers: Int = Field(2, ge=1, le=8)
    channels: Int = Field(16, ge=1, le=1024)
    kernel_size: Int = Field(3, ge=1, le=15)
    dropout: Unit = 0.1
    batch_norm: Bool = True


class RNN(Common):
    lr: Float = Field(3e-3, gt=0, le=10)
    quantize: Literal["none", "dynamic_int8"] = "none"  # FX cannot trace LSTM/GRU
    cell: Literal["lstm", "gru", "rnn"] = "gru"
    hidden_size: Int = Field(64, ge=1, le=4096)
    num_layers: Int = Field(1, ge=1, le=8)
    bidirectional: Bool = False
    dropout: Unit = 0.0


class Autoencoder(Common):
    latent_size: Int = Field(8, ge=1, le=1024)
    hidden_size: Int = Field(64, ge=1, le=8192)
    hidden_layers: Int = Field(1, ge=0, le=8)
    activation: Literal[ACTIVATIONS] = "relu"


class VAE(Autoencoder):
    """The autoencoder's knobs (wider by default) plus ``beta``, the KL weight."""

    hidden_size: Int = Field(128, ge=1, le=8192)
    beta: Float = Field(1.0, ge=0, le=1000)
    quantize: Literal["none", "dynamic_int8"] = "none"  # FX cannot trace the sampling step


class GAN(Common):
    beta1: Unit = 0.5  # the usual GAN setting: less momentum keeps the game stable
    latent_size: Int = Field(16, ge=1, le=1024)
    g_hidden: Int = Field(128, ge=1, le=8192)
    d_hidden: Int = Field(128, ge=1, le=8192)
    d_steps: Int = Field(1, ge=1, le=10)
    label_smoothing: Float = Field(0.1, ge=0, lt=0.5)


@dataclass(frozen=True)
class Family:
    """A built-in family: what the core needs to know without importing torch.

    ``module`` defines ``RECIPE`` (imported only to train). ``kind`` is the input it
    reads (a key of :data:`DATASETS`). ``space`` and ``fixed`` make its template: a
    complete, runnable spec (``examples/NAME.yaml`` is a copy of it).
    """

    module: str
    options: type[Common]
    kind: str
    metrics: tuple[str, ...]
    metric: str
    mode: Literal["min", "max"]
    description: str
    space: dict[str, Any]
    fixed: dict[str, Any] = field(default_factory=dict)
    trials: int = 8

    @property
    def datasets(self) -> tuple[str, ...]:
        return DATASETS[self.kind]


REGISTRY: dict[str, Family] = {
    "cnn": Family(
        "trainables.cnn", CNN, "image",
        metrics=("val_accuracy", "val_loss", "train_loss"), metric="val_accuracy", mode="max",
        description="Small convolutional classifier (conv blocks, optional batch norm, dropout) "
                    "on 8x8 digits or user images.",
        space={
            "lr": {"loguniform": [1.0e-4, 3.0e-2]},
            "optimizer": {"choice": ["adam", "rmsprop", "sgd"]},
            "conv_layers": {"int": [1, 3]},
            "channels": {"logint": [8, 32]},
            "dropout": {"uniform": [0.0, 0.5]},
            "batch_norm": {"choice": [True, False]},
        },
        fixed={"epochs": 5, "batch_size": 64, "kernel_size": 3, "momentum": 0.9}),
    "rnn": Family(
        "trainables.rnn", RNN, "sequence",
        # val_loss (cross-entropy or MSE) exists for both tasks, so it is the default.
        metrics=("val_loss", "val_accuracy", "val_mse", "train_loss"), metric="val_loss",
        mode="min",
        description="LSTM/GRU/RNN over sequences: digits read row by row (classification), "
                    "noisy multi-sine forecasting, or user sequences.",
        space={
            "lr": {"loguniform": [3.0e-4, 3.0e-2]},
            "optimizer": {"choice": ["adam", "rmsprop"]},
            "cell": {"choice": ["lstm", "gru", "rnn"]},
            "hidden_size": {"logint": [16, 64]},
            "num_layers": {"int": [1, 2]},
            "bidirectional": {"choice": [True, False]},
            "dropout": {"uniform": [0.0, 0.3]},
        },
        fixed={"epochs": 5, "batch_size": 64}),
    "autoencoder": Family(
        "trainables.autoencoder", Autoencoder, "flat",
        metrics=("val_recon_loss", "train_loss"), metric="val_recon_loss", mode="min",
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
        fixed={"epochs": 5, "batch_size": 64}),
    "vae": Family(
        "trainables.vae", VAE, "flat",
        metrics=("val_elbo", "val_recon", "val_kl", "train_loss"), metric="val_elbo", mode="min",
        description="Variational autoencoder (Bernoulli decoder, beta-weighted KL) on flattened "
                    "digits or user features; val_elbo is the negative ELBO.",
        space={
            "lr": {"loguniform": [3.0e-4, 1.0e-2]},
            "latent_size": {"logint": [2, 16]},
            "hidden_size": {"logint": [32, 256]},
            "beta": {"loguniform": [0.25, 4.0]},
            "activation": {"choice": ["relu", "elu", "tanh"]},
        },
        fixed={"epochs": 5, "batch_size": 64, "optimizer": "adam"}),
    "gan": Family(
        "trainables.gan", GAN, "flat",
        metrics=("val_fid", "d_loss", "g_loss"), metric="val_fid", mode="min",
        description="Fully connected GAN on flattened digits or user features, scored by Fréchet "
                    "distance on features of a small digits classifier (val_fid).",
        space={
            "lr": {"loguniform": [3.0e-4, 3.0e-3]},
            "latent_size": {"logint": [4, 32]},
            "g_hidden": {"logint": [64, 256]},
            "d_hidden": {"logint": [64, 256]},
            "d_steps": {"int": [1, 3]},
            "label_smoothing": {"uniform": [0.0, 0.2]},
        },
        fixed={"epochs": 10, "batch_size": 32, "optimizer": "adam", "betas": [0.5, 0.999]}),
}
