"""A small convolutional classifier, on the 8x8 digits by default.

Each conv block is conv (same padding) -> batch norm (optional) -> ReLU ->
2x2 max-pool while the image is at least 2 pixels wide; channels double per
block. Global average pooling, dropout and a linear layer make the head.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainables import _media, _options
from trainables._harness import Recipe, Split, mean_over_batches


Config = _options.CNN  # its hyperparameters, declared in trainables/_options.py


class CNN(nn.Module):
    def __init__(self, cfg: Config, in_channels: int, size: int, n_classes: int):
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for i in range(cfg.conv_layers):
            out = cfg.channels * 2 ** i
            layers += [nn.Conv2d(channels, out, cfg.kernel_size, padding=cfg.kernel_size // 2,
                                 bias=not cfg.batch_norm)]
            layers += [nn.BatchNorm2d(out)] if cfg.batch_norm else []
            layers += [nn.ReLU()]
            if size >= 2:
                layers += [nn.MaxPool2d(2)]
                size //= 2
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(cfg.dropout),
                                  nn.Linear(channels, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build(cfg: Config, data) -> nn.Module:
    channels, height, width = data.input_shape
    return CNN(cfg, channels, min(height, width), data.n_outputs)


def loss(model: nn.Module, batch, cfg: Config):
    x, y = batch
    value = F.cross_entropy(model(x), y)
    return value, {"train_loss": value}


def evaluate(model: nn.Module, val: Split, cfg: Config) -> dict[str, float]:
    def per_sample(batch):
        x, y = batch
        logits = model(x).float()
        return {"val_loss": F.cross_entropy(logits, y, reduction="none"),
                "val_accuracy": (logits.argmax(1) == y).float()}
    return mean_over_batches(per_sample, val)


# Media: a confusion matrix and the most confidently misclassified digits (trainables/_media.py).
RECIPE = Recipe(name="cnn", Config=Config, build=build, loss=loss, evaluate=evaluate,
                media=_media.classifier)
