"""Models from trained weights: cold start for a new study, and restoring a trial's model.

``start_from(setup)`` runs before the first epoch of a trial whose config names
an ``init_checkpoint``: it loads that checkpoint's weights (not its optimizer or
RNG state: the new trial's own hyperparameters and seed apply), builds a fresh
output layer when ``reset_head`` is set, and freezes the ``freeze`` groups.
Freezing holds a group's parameters (``requires_grad=False``, so no optimizer
moves them, weight decay included) and its batch-norm running statistics
(momentum 0); the groups each family offers are in :mod:`trainables._transfer`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn

from trainables import _data, _transfer
from trainables._harness import (CHECKPOINT_FILE, Recipe, Setup, TrainConfig, load_weights,
                                 read_checkpoint)


def start_from(s: Setup) -> None:
    """Load ``s.cfg.init_checkpoint``'s weights into ``s.model``; reset the head, freeze groups."""
    transfer = _transfer.get(s.recipe.name)
    path = os.path.join(s.cfg.init_checkpoint, CHECKPOINT_FILE)
    weights = read_checkpoint(s.cfg.init_checkpoint, s.recipe.name, s.device)["model"]
    if s.cfg.reset_head and transfer.head:
        # The freshly built head (seeded like any new model) replaces the source's.
        weights = {k: v for k, v in weights.items() if not k.startswith(transfer.head)}
        missing = [k for k in s.model.state_dict() if k not in weights]
        if any(not k.startswith(transfer.head) for k in missing):
            load_weights(s.model, weights, path)  # names the foreign keys
        load_weights(s.model, weights, path, strict=False)
    else:
        load_weights(s.model, weights, path)
    for group in groups(s.cfg):
        freeze(s.model, transfer.groups[group])


def groups(cfg: TrainConfig) -> list[str]:
    return [g for g in (cfg.freeze or "").split(",") if g]


def freeze(model: nn.Module, prefixes: tuple[str, ...]) -> None:
    """Hold every parameter and batch-norm statistic under ``prefixes``."""
    for name, param in model.named_parameters():
        if name.startswith(prefixes):
            param.requires_grad_(False)
    for name, module in model.named_modules():
        if (name + ".").startswith(prefixes) and isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = 0.0  # running stats stay: (1 - 0) * old + 0 * batch


@dataclass(frozen=True)
class Restored:
    """A trial's trained model, in eval mode on the CPU, with what it was trained on."""

    recipe: Recipe
    cfg: TrainConfig
    data: _data.Data
    model: nn.Module
    state: dict


def restore(family: str, config: Mapping[str, Any], checkpoint: str | os.PathLike) -> Restored:
    """Build ``family``'s model for ``config`` (a trial's full config) and load ``checkpoint``."""
    import importlib

    from trainables import BUILTIN

    _transfer.get(family)  # a SpecError for anything but a built-in family
    recipe: Recipe = importlib.import_module(BUILTIN[family]).RECIPE
    cfg = recipe.parse({k: v for k, v in config.items()
                        if k not in ("init_checkpoint", "reset_head", "freeze")})
    data = _data.load(family, cfg.dataset)
    torch.manual_seed(0)
    model = recipe.build(cfg, data)
    state = read_checkpoint(checkpoint, family)
    load_weights(model, state["model"], os.path.join(str(checkpoint), CHECKPOINT_FILE))
    return Restored(recipe, cfg, data, model.eval(), state)


def deployed(r: Restored) -> nn.Module:
    """``r``'s model as its trial deployed and measured it: with the trial's int8
    quantization applied again on the CPU when it had one (exact: the same weights and, for
    ``static_int8``, the same calibration samples as :func:`trainables._harness.compress`),
    else the restored model itself."""
    import copy

    import numpy as np

    from trainables import _compress
    from trainables._harness import Split

    mode = (r.state.get("compression") or {}).get("quantize", "none")
    if mode == "none":
        return r.model
    deploy = r.recipe.deploy
    data = _data.load(r.recipe.name, r.cfg.dataset, r.cfg.train_samples)  # the trial's split
    train = Split(torch.from_numpy(np.ascontiguousarray(data.x_train)), None, data)
    quantized = _compress.quantize(deploy.module(r.model), mode,
                                   _compress.calibration_inputs(deploy, r.model, train))
    model = deploy.replace(copy.deepcopy(r.model).cpu(), quantized) if deploy.path else quantized
    return model.eval()
