"""Sample quality for generative families: Fréchet distance on fixed features.

For the built-in digits the features are the 32-unit penultimate layer of a
small digits classifier, trained once, deterministically (seed 0, full batch,
on the fixed training split), and cached as plain tensors in
``$HPSEARCH_CACHE_DIR`` (default ``~/.cache/hpsearch``) and in memory. For
user data, where no classifier exists, the features are the top principal
components (at most 32) of the training split.
"""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from trainables import _data

FEATURES_FILE = "digits_features_v1.pt"
FEATURE_DIM = 32


def cache_dir() -> Path:
    from hpsearch.settings import settings

    return settings().cache_dir


def feature_fn(data: _data.Data) -> Callable[[torch.Tensor], torch.Tensor]:
    """Features ``(n, d) -> (n, k)`` for scoring samples of ``data``."""
    if data.name == "digits":
        net = _digits_features()
        return lambda x: net.to(x.device)(x.float())
    key = (data.name, data.x_train.shape)
    if key not in _PCA:
        _PCA[key] = _pca(data.x_train)
    mean, basis = _PCA[key]
    return lambda x: (x.float() - mean.to(x.device)) @ basis.to(x.device)


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2)`` of two feature sets."""
    a64, b64 = a.detach().double().cpu().numpy(), b.detach().double().cpu().numpy()
    mu_a, mu_b = a64.mean(0), b64.mean(0)
    cov_a, cov_b = np.cov(a64, rowvar=False), np.cov(b64, rowvar=False)
    vals, vecs = np.linalg.eigh(cov_a)
    root_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    cross = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace = np.trace(cov_a) + np.trace(cov_b) - 2 * np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + max(trace, 0.0))


def _classifier() -> nn.Sequential:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, FEATURE_DIM), nn.ReLU(),
                         nn.Linear(FEATURE_DIM, 10))


@functools.lru_cache(maxsize=1)
def _digits_features() -> nn.Module:
    net = _classifier()
    path = cache_dir() / FEATURES_FILE
    try:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (OSError, RuntimeError, ValueError, EOFError, KeyError, TypeError):
        # Missing or unreadable (e.g. a different version): train it again, deterministically.
        net.load_state_dict(_train_digits_classifier())
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        os.close(fd)
        torch.save(net.state_dict(), tmp)
        os.replace(tmp, path)  # atomic: concurrent trials never read half a file
    net.eval().requires_grad_(False)
    return net[:-1]  # drop the class layer: the features are the 32 hidden units


def _train_digits_classifier(steps: int = 200) -> dict:
    data = _data.load("cnn", "digits")  # labelled digits, the fixed training split
    x = torch.from_numpy(data.x_train.reshape(len(data.x_train), -1))
    y = torch.from_numpy(data.y_train)
    # Called from evaluation (no_grad): enable grads here; fork the RNG to leave the trial's alone.
    with torch.enable_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = _classifier()
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    return net.state_dict()


_PCA: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def _pca(x_train: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.from_numpy(x_train).double()
    mean = x.mean(0)
    _, _, v = torch.linalg.svd(x - mean, full_matrices=False)
    return mean.float(), v[:FEATURE_DIM].T.float()
