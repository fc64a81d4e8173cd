"""A recurrent network over sequences: classification or next-value forecasting.

The task follows the data: ``digits_rows`` (digits read row by row) is
classified, ``sine`` is forecast; for user data integer targets mean
classification and float targets forecasting. The head reads the last
layer's final hidden state (both directions when bidirectional).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from trainables import _media, _options
from trainables._compress import Deploy
from trainables._harness import Recipe, Split, mean_over_batches

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


Config = _options.RNN  # its hyperparameters, declared in trainables/_options.py


class RNN(nn.Module):
    def __init__(self, cfg: Config, n_features: int, n_outputs: int, task: str):
        super().__init__()
        self.task = task  # "classify" or "forecast": picks the loss
        self.directions = 2 if cfg.bidirectional else 1
        # PyTorch applies dropout between stacked layers only; the head adds its own.
        self.rnn = CELLS[cfg.cell](n_features, cfg.hidden_size, num_layers=cfg.num_layers,
                                   batch_first=True, bidirectional=cfg.bidirectional,
                                   dropout=cfg.dropout if cfg.num_layers > 1 else 0.0)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout),
                                  nn.Linear(cfg.hidden_size * self.directions, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, hidden = self.rnn(x)
        if isinstance(hidden, tuple):  # LSTM: (h, c)
            hidden = hidden[0]
        last = torch.cat(list(hidden[-self.directions:]), dim=1)
        return self.head(last)


def build(cfg: Config, data) -> nn.Module:
    return RNN(cfg, data.input_shape[-1], data.n_outputs, data.task)


def _loss(out: torch.Tensor, y: torch.Tensor, task: str, reduction: str = "mean") -> torch.Tensor:
    if task == "classify":
        return F.cross_entropy(out, y, reduction=reduction)
    per_element = F.mse_loss(out, y, reduction="none")
    return per_element.mean() if reduction == "mean" else per_element.mean(1)


def loss(model: nn.Module, batch, cfg: Config):
    x, y = batch
    value = _loss(model(x), y, model.task)
    return value, {"train_loss": value}


def evaluate(model: nn.Module, val: Split, cfg: Config) -> dict[str, float]:
    def per_sample(batch):
        x, y = batch
        out = model(x).float()
        value = _loss(out, y, model.task, reduction="none")
        if model.task == "classify":
            return {"val_loss": value, "val_accuracy": (out.argmax(1) == y).float()}
        return {"val_loss": value, "val_mse": value}
    return mean_over_batches(per_sample, val)


def media(s) -> dict:
    """A classifier's confusion matrix and worst mistakes, or a forecaster's forecasts
    against the truth on the first validation windows (trainables/_media.py)."""
    return _media.classifier(s) if s.model.task == "classify" else _media.forecast(s)


# FX cannot trace through nn.LSTM/GRU for static quantization; dynamic int8 covers them.
RECIPE = Recipe(name="rnn", Config=Config, build=build, loss=loss, evaluate=evaluate, media=media,
                deploy=Deploy(static=False))

