"""Model families that hpsearch can tune, found by name.

A trainable is a function ``fn(config: dict) -> None`` run by Ray Tune. It reads
its hyperparameters from ``config``, reports metrics with ``ray.tune.report``
every epoch (with a checkpoint), and resumes from ``ray.tune.get_checkpoint()``.
Besides the searched and fixed hyperparameters, ``config`` carries two reserved
keys the orchestrator fills in: ``dataset`` and ``seed``.

Built-in families live one per module and are imported lazily, so that the CLI
and the web UI start without importing torch::

    >>> from trainables import get_trainable
    >>> info = get_trainable("cnn")        # imports trainables.cnn now
    >>> info.default_metric, info.default_mode
    ('val_accuracy', 'max')

Users register their own with :func:`register` (``@hpsearch.trainable("name")``
in a notebook) or name ``module:function`` in a local spec.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

from hpsearch.exceptions import SpecError

# Filled in by the orchestrator, never searched: the data, the seed, and cold start's source.
RESERVED_KEYS = ("dataset", "seed", "init_checkpoint", "reset_head", "freeze")

# name -> module that defines ``FAMILY`` (a TrainableInfo). Lazy: see get_trainable.
BUILTIN = {
    "cnn": "trainables.cnn",
    "rnn": "trainables.rnn",
    "autoencoder": "trainables.autoencoder",
    "vae": "trainables.vae",
    "gan": "trainables.gan",
}


@dataclass(frozen=True)
class TrainableInfo:
    """What the core needs to know about a trainable.

    ``metrics`` lists every metric the trainable reports (empty: unknown, for
    user functions), so a spec naming a metric it never reports is refused.
    ``hyperparameters`` lists the config keys it reads (empty: unknown).
    """

    name: str
    fn: Callable[[dict], None]
    metrics: tuple[str, ...] = ()
    default_metric: str | None = None
    default_mode: str | None = None
    default_dataset: str | None = None
    datasets: tuple[str, ...] = ()
    hyperparameters: tuple[str, ...] = ()
    description: str = ""
    template: dict = field(default_factory=dict)


_registered: dict[str, TrainableInfo] = {}
_loaded: dict[str, TrainableInfo] = {}


def names() -> list[str]:
    """Every trainable name that a spec may use (built-in and registered)."""
    return sorted(set(BUILTIN) | set(_registered))


def register(name: str, fn: Callable[[dict], None], *, metrics: tuple[str, ...] = (),
             metric: str | None = None, mode: str | None = None) -> TrainableInfo:
    """Register a user function as trainable ``name`` for this process."""
    if name in BUILTIN:
        raise SpecError(f"{name!r} is a built-in family and cannot be replaced", "trainable")
    info = TrainableInfo(name=name, fn=fn, metrics=tuple(metrics), default_metric=metric,
                         default_mode=mode)
    _registered[name] = info
    return info


def allowed_modules() -> set[str]:
    """Modules an admin allow-listed for ``module:function`` trainables from the network
    (``HPSEARCH_ALLOWED_MODULES``, comma-separated)."""
    import os

    return {m.strip() for m in os.environ.get("HPSEARCH_ALLOWED_MODULES", "").split(",") if m.strip()}


def get_trainable(name: str, *, allow_import: bool = False) -> TrainableInfo:
    """Look a trainable up by name.

    ``module:function`` names import the function, which is allowed only when
    ``allow_import`` is true (local runs; the web service passes an allow-list
    check first).
    """
    if name in _registered:
        return _registered[name]
    if name in BUILTIN:
        if name not in _loaded:
            _loaded[name] = importlib.import_module(BUILTIN[name]).FAMILY
        return _loaded[name]
    if ":" in name:
        if not allow_import and name.partition(":")[0] not in allowed_modules():
            raise SpecError(f"importing {name!r} is not allowed here; registered trainables: "
                            f"{', '.join(names())}", "trainable")
        module_name, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError, ValueError) as exc:
            raise SpecError(f"cannot import {name!r}: {exc}", "trainable") from None
        if not callable(fn):
            raise SpecError(f"{name!r} is not callable", "trainable")
        return TrainableInfo(name=name, fn=fn)
    raise SpecError(f"unknown trainable {name!r}; valid: {', '.join(names())} "
                    "(or module:function for local runs)", "trainable")
