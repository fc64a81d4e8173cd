"""Datasets for the built-in families: built-in offline sets and user files.

Built-in (nothing is downloaded):

- ``digits``: scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10
  classes), pixels scaled to [0, 1].
- ``digits_rows``: the same digits read row by row, a sequence of 8 steps of
  8 features (sequence classification).
- ``sine``: noisy sums of three sines generated in-package; 32 past steps
  predict the next value (sequence forecasting).

User data is a path in the spec's ``dataset`` field:

- ``.npz`` holding arrays ``X`` and (for the supervised families) ``y``;
  loaded with ``allow_pickle=False``.
- ``.csv`` with a header row; the target column is named after ``#``
  (``dataset: data/train.csv#label``), or is the column ``label`` when no
  ``#column`` is given. Every other column is a feature.

Shapes each family accepts (N samples):

- ``cnn``: X ``(N, H, W)``, ``(N, C, H, W)``, or ``(N, D)`` with D a square
  number (read as one ``sqrt(D) x sqrt(D)`` channel; this is how CSV rows are
  read); y ``(N,)`` integer class labels.
- ``rnn``: X ``(N, T)`` (one feature per step; CSV rows) or ``(N, T, F)``;
  y ``(N,)`` integers (classification) or floats ``(N,)``/``(N, K)``
  (forecasting): the dtype of y decides the task.
- ``autoencoder``, ``vae``, ``gan``: X of any shape ``(N, ...)``, flattened;
  y is not needed (a CSV target column, if any, is dropped).

User features are scaled to [0, 1] with the training split's minimum and
maximum (per column for flat data, one pair for images and sequences); float
targets are standardised with the training split's mean and deviation.

The train/validation split is fixed (seed :data:`SPLIT_SEED`, 20 % validation)
and does not depend on the trial's seed, so that every trial of a study is
scored on the same validation samples. :func:`check_dataset` runs these checks
without training, for the spec validator.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpsearch.exceptions import SpecError
from trainables._options import DATASETS, REGISTRY

SPLIT_SEED = 0
VAL_FRACTION = 0.2
MIN_SAMPLES = 10

# Built-in datasets each input kind accepts, and each family's input kind: both are
# declared with the families in trainables/_options.py.
BUILTIN = DATASETS
KIND_OF = {name: family.kind for name, family in REGISTRY.items()}
NEEDS_LABELS = {"image": True, "sequence": True, "flat": False}


@dataclass(frozen=True)
class Data:
    """Train and validation arrays, ready for a model (float32 inputs)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray | None
    x_val: np.ndarray
    y_val: np.ndarray | None
    task: str  # "classify", "forecast" or "reconstruct"
    n_outputs: int  # classes, forecast width, or 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def check_dataset(family_name: str, dataset: str | None, config: dict | None = None) -> None:
    """Check that ``dataset`` exists and fits family ``family_name``, without training.

    Raises :class:`~hpsearch.exceptions.SpecError` on field ``dataset`` naming the
    problem. ``config`` (the spec's fixed values) is accepted for future checks
    that depend on hyperparameters; none do today.

    >>> check_dataset("cnn", "digits")
    >>> check_dataset("rnn", "digits")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    hpsearch.exceptions.SpecError: dataset: unknown dataset 'digits' for 'rnn'; ...
    """
    kind = _kind(family_name)
    name = default_dataset(family_name) if dataset is None else dataset
    if name in BUILTIN[kind]:
        return
    if not _is_path(name):
        raise _unknown(family_name, name)
    x, y = _read_user(name, needs_labels=NEEDS_LABELS[kind])
    _shape_for(kind, name, x, y)


def default_dataset(family_name: str) -> str:
    return BUILTIN[_kind(family_name)][0]


def load(family_name: str, dataset: str | None, train_samples: int = 0) -> Data:
    """The split data for a family; ``train_samples > 0`` keeps that many training samples."""
    name = default_dataset(family_name) if dataset is None else dataset
    data = _load_cached(family_name, name, _mtime(name))
    if 0 < train_samples < len(data.x_train):
        data = Data(data.name, data.x_train[:train_samples],
                    None if data.y_train is None else data.y_train[:train_samples],
                    data.x_val, data.y_val, data.task, data.n_outputs)
    return data


def describe(family_name: str, dataset: str | None) -> dict:
    """The data a model of ``family_name`` is fed, as a model card states it: input shape
    and dtype (one sample), the task, the outputs, and how raw inputs were scaled."""
    name = default_dataset(family_name) if dataset is None else dataset
    data = load(family_name, name)
    kind = _kind(family_name)
    if name in BUILTIN[kind]:
        scaling = {"sine": "none (generated in-package)"}.get(
            name, "pixel values / 16 (scikit-learn's 8x8 digits, 0..16), so in [0, 1]")
        pre = {"kind": "builtin", "description": scaling}
    else:
        x, y = _read_user(name, needs_labels=NEEDS_LABELS[kind])
        x, _ = _shape_for(kind, name, x, y)
        tr, _ = _split(len(x))
        lo, hi = x[tr].astype(np.float32).min(axis=0 if kind == "flat" else None), \
            x[tr].astype(np.float32).max(axis=0 if kind == "flat" else None)
        pre = {"kind": "minmax", "min": np.asarray(lo).tolist(), "max": np.asarray(hi).tolist(),
               "clip": [-1.0, 2.0],
               "description": "x' = clip((x - min) / (max - min), -1, 2) with the training "
                              "split's min and max" + (" per feature" if kind == "flat" else "")}
        if data.task == "forecast":
            pre["targets"] = "standardised with the training split's mean and deviation"
    return {"dataset": name, "input_shape": list(data.input_shape), "input_dtype": "float32",
            "task": data.task, "outputs": data.n_outputs, "train_samples": len(data.x_train),
            "val_samples": len(data.x_val), "preprocessing": pre}


def _unknown(family_name: str, name: str) -> SpecError:
    return SpecError(f"unknown dataset {name!r} for {family_name!r}; valid: "
                     f"{', '.join(BUILTIN[_kind(family_name)])}, or a path to a .npz or .csv "
                     "file", "dataset")


def _kind(family_name: str) -> str:
    try:
        return KIND_OF[family_name]
    except KeyError:
        raise SpecError(f"no built-in data loader for {family_name!r}", "trainable") from None


def _mtime(name: str) -> int:
    """Part of the cache key, so that an edited user file is read again."""
    path = Path(name.split("#", 1)[0]).expanduser()
    return path.stat().st_mtime_ns if _is_path(name) and path.is_file() else 0


@functools.lru_cache(maxsize=8)
def _load_cached(family_name: str, name: str, mtime: int) -> Data:
    kind = _kind(family_name)
    if name in BUILTIN[kind]:
        return _builtin(kind, name)
    if not _is_path(name):
        raise _unknown(family_name, name)
    x, y = _read_user(name, needs_labels=NEEDS_LABELS[kind])
    x, task = _shape_for(kind, name, x, y)
    return _split_and_scale(name, kind, x, y, task)


# -- built-in data -------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    # The file sklearn.datasets.load_digits reads, bundled with scikit-learn (no
    # download); read directly because importing sklearn.datasets costs seconds
    # at the start of every trial.
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    table = np.loadtxt(path, delimiter=",")
    images = (table[:, :-1] / 16.0).reshape(-1, 8, 8).astype(np.float32)
    return images, table[:, -1].astype(np.int64)


def _sine(n: int = 2000, steps: int = 32, seed: int = 1234) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``sum_k a_k sin(w_k t + phi_k) + noise``; target: the next value."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps + 1, dtype=np.float64)[None, :, None]
    amp = rng.uniform(0.2, 1.0, size=(n, 1, 3))
    freq = rng.uniform(0.1, 0.6, size=(n, 1, 3))
    phase = rng.uniform(0, 2 * math.pi, size=(n, 1, 3))
    series = (amp * np.sin(freq * t + phase)).sum(-1) + rng.normal(0, 0.05, size=(n, steps + 1))
    return series[:, :steps, None].astype(np.float32), series[:, steps:].astype(np.float32)


def _builtin(kind: str, name: str) -> Data:
    if name == "sine":
        x, y = _sine()
        tr, va = _split(len(x))
        return Data(name, x[tr], y[tr], x[va], y[va], "forecast", 1)
    images, labels = _digits()
    x = {"image": images[:, None], "sequence": images, "flat": images.reshape(len(images), -1)}[kind]
    tr, va = _split(len(x))
    if kind == "flat":
        return Data(name, x[tr], None, x[va], None, "reconstruct", 0)
    return Data(name, x[tr], labels[tr], x[va], labels[va], "classify", 10)


def _split(n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_val = max(1, int(round(n * VAL_FRACTION)))
    return order[n_val:], order[:n_val]


# -- user files ----------------------------------------------------------------

def _is_path(name: str) -> bool:
    return name.split("#", 1)[0].lower().endswith((".npz", ".csv"))


def _read_user(name: str, *, needs_labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    path_part, _, column = name.partition("#")
    path = Path(path_part).expanduser()
    if not path.is_file():
        raise SpecError(f"dataset file not found: {str(path)!r}", "dataset")
    if path.suffix.lower() == ".npz":
        if column:
            raise SpecError(f"'#column' applies to .csv files only, got {name!r}", "dataset")
        x, y = _read_npz(path, needs_labels)
    else:
        x, y = _read_csv(path, column or "label", explicit=bool(column), needs_labels=needs_labels)
    if not np.issubdtype(x.dtype, np.number) or x.dtype.kind == "c":
        raise SpecError(f"{path.name}: X must be real numbers, got dtype {x.dtype}", "dataset")
    if x.ndim < 2 or len(x) < MIN_SAMPLES:
        raise SpecError(f"{path.name}: X must have shape (N, ...) with N >= {MIN_SAMPLES}, "
                        f"got {x.shape}", "dataset")
    if not np.isfinite(x).all():
        raise SpecError(f"{path.name}: X contains NaN or infinite values", "dataset")
    if y is not None:
        if len(y) != len(x):
            raise SpecError(f"{path.name}: X has {len(x)} samples but y has {len(y)}", "dataset")
        if not np.issubdtype(y.dtype, np.number) or not np.isfinite(y).all():
            raise SpecError(f"{path.name}: y must be finite numbers, got dtype {y.dtype}", "dataset")
    return x, y


def _read_npz(path: Path, needs_labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        with np.load(path, allow_pickle=False) as f:
            if "X" not in f.files:
                raise SpecError(f"{path.name}: no array 'X'; it holds {', '.join(f.files) or 'nothing'}",
                                "dataset")
            if needs_labels and "y" not in f.files:
                raise SpecError(f"{path.name}: no array 'y' (labels/targets) for this family", "dataset")
            return f["X"], (f["y"] if "y" in f.files and needs_labels else None)
    except SpecError:
        raise
    except (OSError, ValueError) as exc:  # not a zip, or object arrays (pickles): refused
        raise SpecError(f"{path.name}: cannot read as .npz ({exc})", "dataset") from None


def _read_csv(path: Path, column: str, *, explicit: bool,
              needs_labels: bool) -> tuple[np.ndarray, np.ndarray | None]:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise SpecError(f"{path.name}: cannot read as CSV ({exc})", "dataset") from None
    has_target = column in frame.columns
    if (needs_labels or explicit) and not has_target:
        raise SpecError(f"{path.name}: no target column {column!r} (name it as "
                        f"'{path.name}#COLUMN'); columns: {', '.join(map(str, frame.columns[:20]))}",
                        "dataset")
    features = frame.drop(columns=[column]) if has_target else frame
    bad = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise SpecError(f"{path.name}: non-numeric feature columns: {', '.join(bad[:5])}", "dataset")
    y = frame[column].to_numpy() if has_target and needs_labels else None
    return features.to_numpy(), y


def _shape_for(kind: str, name: str, x: np.ndarray,
               y: np.ndarray | None) -> tuple[np.ndarray, str]:
    """Reshape X for the family's input kind and name the task; refuse what does not fit."""
    label = Path(name.split("#", 1)[0]).name
    if kind == "image":
        if x.ndim == 2:
            side = math.isqrt(x.shape[1])
            if side * side != x.shape[1]:
                raise SpecError(f"{label}: cnn needs images; X has shape {x.shape} and "
                                f"{x.shape[1]} features is not a square number (use an .npz "
                                "with X of shape (N, H, W) or (N, C, H, W))", "dataset")
            x = x.reshape(len(x), 1, side, side)
        elif x.ndim == 3:
            x = x[:, None]
        elif x.ndim != 4:
            raise SpecError(f"{label}: cnn needs X of shape (N, H, W) or (N, C, H, W), "
                            f"got {x.shape}", "dataset")
        _check_labels(label, y, "cnn")
        return x, "classify"
    if kind == "sequence":
        if x.ndim == 2:
            x = x[:, :, None]
        elif x.ndim != 3:
            raise SpecError(f"{label}: rnn needs X of shape (N, T) or (N, T, F), got {x.shape}",
                            "dataset")
        if y is not None and np.issubdtype(y.dtype, np.integer):
            _check_labels(label, y, "rnn")
            return x, "classify"
        if y is None or y.ndim not in (1, 2):
            raise SpecError(f"{label}: rnn needs y of shape (N,) or (N, K), got "
                            f"{None if y is None else y.shape}", "dataset")
        return x, "forecast"
    return x.reshape(len(x), -1), "reconstruct"


def _check_labels(label: str, y: np.ndarray | None, family: str) -> None:
    if y is None or y.ndim != 1:
        raise SpecError(f"{label}: {family} needs y of shape (N,) with class labels, got "
                        f"{None if y is None else y.shape}", "dataset")
    if not np.issubdtype(y.dtype, np.integer) and not np.all(np.mod(y, 1) == 0):
        raise SpecError(f"{label}: {family} needs integer class labels in y, got dtype {y.dtype}",
                        "dataset")
    if y.min() < 0 or len(np.unique(y)) < 2:
        raise SpecError(f"{label}: {family} needs labels 0..K-1 with at least 2 classes, got "
                        f"min {y.min()} and {len(np.unique(y))} distinct", "dataset")


def _split_and_scale(name: str, kind: str, x: np.ndarray, y: np.ndarray | None, task: str) -> Data:
    x = x.astype(np.float32)
    tr, va = _split(len(x))
    axis = 0 if kind == "flat" else None  # per column for flat data, one pair otherwise
    lo, hi = x[tr].min(axis=axis), x[tr].max(axis=axis)
    x = np.clip((x - lo) / np.where(hi > lo, hi - lo, 1.0), -1.0, 2.0).astype(np.float32)
    if task == "classify":
        y = y.astype(np.int64)
        return Data(name, x[tr], y[tr], x[va], y[va], task, int(y.max()) + 1)
    if task == "forecast":
        y = y.astype(np.float32).reshape(len(y), -1)
        mean, std = y[tr].mean(0), y[tr].std(0)
        y = ((y - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)
        return Data(name, x[tr], y[tr], x[va], y[va], task, y.shape[1])
    return Data(name, x[tr], None, x[va], None, task, 0)
