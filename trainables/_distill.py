"""Knowledge distillation: train a student on hard labels and a teacher's softened outputs.

``distill_from`` in a trainable's config is ``{"checkpoint": DIR, "config": {...}}``: a
checkpoint directory of the same family (its ``state.pt``) and the full config the teacher
trained with. In a spec the user writes ``distill_from: {study: NAME, trial: best|N}`` and
:mod:`hpsearch.teachers` resolves it into this form before the trials start.

The loss (Hinton et al., 2015) on a classification batch ``(x, y)``::

    (1 - alpha) * cross_entropy(s, y) + alpha * T**2 * KL(softmax(t / T) || softmax(s / T))

with ``s``, ``t`` the student's and teacher's logits, ``alpha = distill_alpha`` and
``T = distill_temperature`` (the ``T**2`` keeps the soft term's gradients on the scale of
the hard one). Only classification data has logits to soften; elsewhere ``distill_from``
is a field error.
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hpsearch.exceptions import SpecError

if TYPE_CHECKING:
    from trainables._harness import Recipe, Setup


@dataclass(frozen=True)
class Teacher:
    """A frozen teacher model and the mixing knobs."""

    model: nn.Module
    alpha: float
    temperature: float


def check_reference(value: Any) -> None:
    """``distill_from`` as the harness takes it: None or ``{checkpoint, config}``."""
    if value is None:
        return
    if not isinstance(value, dict) or not isinstance(value.get("checkpoint"), str) \
            or not isinstance(value.get("config"), dict):
        raise SpecError("must be {study: NAME, trial: best|N} in a spec (resolved to "
                        f"{{checkpoint, config}} before training), got {value!r}", "distill_from")


def load_teacher(s: "Setup") -> Teacher | None:
    """The teacher ``s.cfg.distill_from`` names, built on ``s``'s data and device, in eval mode."""
    from trainables._harness import load_weights, prepare, read_checkpoint

    ref = s.cfg.distill_from
    if ref is None:
        return None
    if s.recipe.loss is None or s.train.data.task != "classify":
        raise SpecError(f"distillation needs a classifier on classification data; {s.recipe.name} "
                        f"on {s.train.data.name!r} is a {s.train.data.task} task", "distill_from")
    config = {k: v for k, v in ref["config"].items() if k != "distill_from"}
    with _random_state_kept(s.device):  # building it seeds with the teacher's seed
        teacher = prepare(s.recipe, {**config, "epochs": max(1, int(config.get("epochs", 1)))},
                          device=s.device)
    if teacher.train.data.input_shape != s.train.data.input_shape \
            or teacher.train.data.n_outputs != s.train.data.n_outputs:
        raise SpecError(f"the teacher's data ({teacher.train.data.name!r}) does not fit the "
                        f"student's ({s.train.data.name!r})", "distill_from")
    state = read_checkpoint(ref["checkpoint"], s.recipe.name, s.device)
    load_weights(teacher.model, state["model"], ref["checkpoint"])  # weights only, not its RNG
    teacher.model.eval()
    for p in teacher.model.parameters():
        p.requires_grad_(False)
    return Teacher(teacher.model, s.cfg.distill_alpha, s.cfg.distill_temperature)


@contextmanager
def _random_state_kept(device: torch.device) -> Iterator[None]:
    """Python's, NumPy's and torch's random state as they were before the block: the
    student's dropout (and anything else it draws) follows the student's seed, not the
    teacher's (whose set-up reseeds every generator)."""
    py, npy = random.getstate(), np.random.get_state()
    cuda = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=cuda):
            yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)


def loss(teacher: Teacher) -> Callable:
    """A ``Recipe.loss`` for classification that mixes in ``teacher``'s soft targets."""

    def distill_loss(model: nn.Module, batch, cfg):
        x, y = batch
        student = model(x)
        with torch.no_grad():
            target = teacher.model(x)
        hard = F.cross_entropy(student, y)
        t = teacher.temperature
        soft = F.kl_div(F.log_softmax(student.float() / t, dim=1), F.softmax(target.float() / t, dim=1),
                        reduction="batchmean") * t * t
        value = (1 - teacher.alpha) * hard + teacher.alpha * soft
        return value, {"train_loss": value}

    return distill_loss
