"""The one training loop every built-in family shares.

A family file contributes a config (its options class in ``trainables/_options.py``,
a :class:`TrainConfig` subclass), a ``build(cfg, data) -> nn.Module``, a
``loss(model, batch, cfg)`` and an ``evaluate(model, val, cfg) -> metrics``,
bundled as a :class:`Recipe` named ``RECIPE``. This module owns everything else: parsing the config, seeding, data, device and
threads, the optimizer, mixed precision, the epoch loop, reporting, and
checkpoints (save, resume, PBT exploit). :func:`tune_function` makes the Ray Tune
function trainable that the registry (``trainables.get_trainable``) hands out.

Outside Ray Tune (tests, benchmarks, notebooks) call :func:`run`::

    >>> from trainables import cnn, _harness
    >>> history = _harness.run(cnn.RECIPE, {"epochs": 1, "train_samples": 256})
    >>> sorted(history[-1])
    ['epoch', 'train_loss', 'val_accuracy', 'val_loss']

Checkpoints are one ``state.pt`` written with ``torch.save`` and read with
``torch.load(weights_only=True)`` only: tensors, numbers, strings, lists and
dicts; never arbitrary pickled objects. RNG states are stored as tensors and
lists of ints.
"""
from __future__ import annotations

import copy
import functools
import math
import os
import pickle
import random
import shutil
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
from pydantic import ValidationError
from torch import nn

from hpsearch.exceptions import HpsearchError, SpecError
from hpsearch.options import problems_of
from trainables import RESERVED_KEYS
from trainables import _compress, _data, _distill, _media
from trainables._compress import Deploy
from trainables._options import OPTIMIZERS, Common

CHECKPOINT_FILE = "state.pt"
CHECKPOINT_FORMAT = 1
EVAL_SEED = 0

Batch = tuple[torch.Tensor, ...]
Reporter = Callable[[dict, str], None]  # (metrics, checkpoint directory)


class CheckpointError(HpsearchError):
    """A checkpoint cannot be loaded (corrupt, foreign, unsafe or for another model)."""


# A family's config is its options class in trainables/_options.py (pydantic): the
# spec validator checks a spec against the same class before any trial starts.
TrainConfig = Common


@dataclass(frozen=True)
class Recipe:
    """What a family file contributes; the harness supplies the rest.

    ``train_step(model, batch, cfg, step, index)`` is needed only by families
    with several optimizers (the GAN): it calls ``step(name, loss)`` for each
    update and returns the logs to average over the epoch. Otherwise the
    harness steps the single optimizer ``"model"`` on ``loss``.
    ``param_groups(model)`` names the optimizers and their parameters.
    ``deploy`` says which part of the model inference uses (compression and
    footprint metrics apply to it) and whether ``static_int8`` can trace it.
    """

    name: str
    Config: type[TrainConfig]
    build: Callable[[Any, _data.Data], nn.Module]
    evaluate: Callable[[nn.Module, "Split", Any], dict[str, float]]
    loss: Callable[[nn.Module, Batch, Any], tuple[torch.Tensor, dict]] | None = None
    train_step: Callable[..., dict] | None = None
    param_groups: Callable[[nn.Module], dict[str, list]] = lambda m: {"model": list(m.parameters())}
    deploy: Deploy = Deploy()
    # ``media(setup) -> {name: image array | plotly figure}``, recorded at chosen epochs
    # (trainables/_media.py); None: the family records none.
    media: Callable[["Setup"], dict[str, Any]] | None = None

    def parse(self, config: Mapping[str, Any]) -> TrainConfig:
        cfg = parse_config(self.Config, config)
        # The family's options refuse static_int8 where deploy.static is False (so does
        # the spec validator); this guards a Recipe whose options class forgot to.
        if cfg.quantize == "static_int8" and not self.deploy.static:
            raise SpecError(f"static_int8 cannot trace the {self.name} model; valid: none, "
                            f"dynamic_int8, got {cfg.quantize!r}", "quantize")
        _distill.check_reference(cfg.distill_from)  # resolved by the orchestrator by now
        return cfg


@dataclass(frozen=True)
class Split:
    """Validation (or training) tensors on the training device, plus what the model needs."""

    x: torch.Tensor
    y: torch.Tensor | None
    data: _data.Data

    def batches(self, size: int) -> Iterator[Batch]:
        for i in range(0, len(self.x), size):
            yield (self.x[i:i + size],) if self.y is None else (self.x[i:i + size], self.y[i:i + size])


# -- configuration ---------------------------------------------------------------

def parse_config(cls: type[TrainConfig], config: Mapping[str, Any]) -> TrainConfig:
    """Build ``cls`` from a flat Tune config; every problem names its hyperparameter."""
    try:
        return cls.model_validate(dict(config))
    except ValidationError as exc:
        raise SpecError(problems_of(exc, unknown="unknown hyperparameter {key}",
                                    valid=[n for n in cls.names() if n not in RESERVED_KEYS])) from None


# -- the loop ----------------------------------------------------------------------

@dataclass
class Setup:
    """Everything one training run holds: config, data on the device, model, optimizers."""

    recipe: Recipe
    cfg: TrainConfig
    device: torch.device
    train: Split
    val: Split
    model: nn.Module
    optimizers: dict[str, torch.optim.Optimizer]
    scaler: torch.amp.GradScaler
    teacher: _distill.Teacher | None = None
    # The model with its deployed part quantized (on the CPU), once compress() ran.
    quantized: nn.Module | None = None
    # Set on each worker of a data-parallel trial (resources.workers > 1).
    dist: "Distributed | None" = None
    # The deployed model's last latency measure (footprint(): measured again when it changes).
    latencies: dict = field(default_factory=dict)

    @property
    def amp(self) -> bool:
        return self.scaler.is_enabled()

    @property
    def lead(self) -> bool:
        """Whether this process evaluates, reports and checkpoints (rank 0, or the only one)."""
        return self.dist is None or self.dist.rank == 0


@dataclass
class Distributed:
    """One worker's place in a data-parallel trial (``torch.distributed`` is initialised
    by Ray Train). ``replica``: the model wrapped in DistributedDataParallel
    (``ray.train.torch.prepare_model``) for families trained through ``model(...)``;
    None for a family with its own ``train_step`` (the GAN), whose gradients the
    stepper averages across workers instead (see :func:`distribute`)."""

    rank: int
    world: int
    replica: nn.Module | None = None


def prepare(recipe: Recipe, config: Mapping[str, Any], *, device: str | torch.device | None = None,
            num_threads: int | None = None) -> Setup:
    """Parse ``config``, seed, load the data and build a fresh (untrained) model."""
    cfg = recipe.parse(config)
    dev = torch.device(device) if device is not None else _default_device()
    if dev.type == "cpu":
        torch.set_num_threads(max(1, int(num_threads or 1)))
    seed_everything(cfg.seed)
    data = _data.load(recipe.name, cfg.dataset, cfg.train_samples)
    train, val = _to_device(data, dev)
    model = recipe.build(cfg, data).to(dev)
    optimizers = {name: make_optimizer(cfg, params) for name, params in recipe.param_groups(model).items()}
    scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and dev.type == "cuda")
    s = Setup(recipe, cfg, dev, train, val, model, optimizers, scaler)
    if cfg.distill_from is not None:
        s.teacher = _distill.load_teacher(s)
    return s


def run(recipe: Recipe, config: Mapping[str, Any], *, reporter: Reporter | None = None,
        resume_from: str | os.PathLike | None = None,
        checkpoint_dir: str | os.PathLike | None = None,
        device: str | torch.device | None = None, num_threads: int | None = None,
        distributed: bool = False) -> list[dict]:
    """Train ``recipe`` with ``config`` and return every epoch's metrics.

    Each epoch writes a checkpoint and calls ``reporter(metrics, directory)``
    (inside Ray Tune: ``tune.report``). The checkpoint goes into
    ``checkpoint_dir`` when given (overwritten each epoch), else into a
    temporary directory removed once the reporter returns. ``resume_from`` is
    a checkpoint directory to continue from (its epoch counts toward
    ``epochs``; a changed config, as PBT makes, takes effect). ``device``
    defaults to CUDA when available; ``num_threads`` (CPU only) to 1.

    ``distributed``: this is one worker of a data-parallel trial (inside a Ray Train
    run, :func:`distribute`): it trains on its shard of each epoch with gradients
    averaged across workers every step; rank 0 alone evaluates, compresses and writes
    checkpoints, and every worker calls ``reporter`` once per epoch (rank 0 with the
    metrics and the checkpoint, the others with ``({"epoch": n}, None)``).
    """
    s = prepare(recipe, config, device=device, num_threads=num_threads)
    before: dict[str, float] = {}
    if resume_from is not None:
        start = load_checkpoint(resume_from, s)
    else:
        start = 0
        if s.cfg.init_checkpoint:  # cold start (trainables/_finetune.py)
            from trainables import _finetune
            _finetune.start_from(s)
            # Reported with the first epoch: the loaded model before any training.
            before = {f"start_{k}": v for k, v in evaluate(s).items()}
    if distributed:
        distribute(s, start)
    history = []
    for epoch in range(start + 1, s.cfg.epochs + 1):
        logs = train_epoch(s, epoch)
        if not s.lead:
            if reporter is not None:
                reporter({"epoch": epoch}, None)  # Ray Train's barrier: rank 0's result counts
            continue
        if epoch == s.cfg.epochs:
            dist, s.dist = s.dist, None  # rank 0 alone compresses (its own fine-tuning passes)
            try:
                logs = compress(s, epoch) or logs
            finally:
                s.dist = dist
        metrics = {**evaluate(s), **logs, **footprint(s), **gpu_usage(s.device), "epoch": epoch,
                   **before}
        before = {}
        history.append(metrics)
        _media.record(s, epoch)
        _save_and_report(s, epoch, metrics, reporter, checkpoint_dir)
    return history


def train_epoch(s: Setup, epoch: int) -> dict[str, float]:
    """One pass over the shuffled training split (this worker's shard of it in a
    data-parallel trial); the sample-weighted mean of each log (over all workers)."""
    s.model.train()
    dist = s.dist
    step = _Stepper(s.optimizers, s.scaler, average=dist is not None and dist.replica is None)
    train_step = s.recipe.train_step or _single_step(s.recipe, s.teacher)
    model = _Replica(dist.replica) if dist is not None and dist.replica is not None else s.model
    batches = _shuffled(s.train, s.cfg, epoch) if dist is None else _sharded(s.train, s.cfg, epoch, dist)
    first = (epoch - 1) * math.ceil(len(s.train.x) / (dist.world if dist else 1) / s.cfg.batch_size)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for i, batch in enumerate(batches):
        with _autocast(s.amp):
            logs = train_step(model, batch, s.cfg, step, first + i)
        for key, value in logs.items():  # summed on the device: one sync per epoch
            sums[key] = sums.get(key, 0.0) + torch.as_tensor(value).detach().float() * len(batch[0])
            counts[key] = counts.get(key, 0) + len(batch[0])
    if dist is not None:
        sums, counts = _all_workers(sums, counts, s.device)
        _share_buffers(s.model)
    return {key: float(sums[key]) / counts[key] for key in sums}


# -- data-parallel workers (resources.workers > 1; hpsearch/ddp.py) ------------------

def distribute(s: Setup, start: int) -> None:
    """Make ``s`` one worker of the data-parallel trial Ray Train runs it in.

    A family trained through ``model(...)`` (its ``loss``) trains through
    ``ray.train.torch.prepare_model``'s DistributedDataParallel, which starts every
    worker from rank 0's weights and averages gradients in each backward pass. A
    family with its own ``train_step`` (the GAN) steps parts of its model with
    several optimizers and calls the parts directly, which DistributedDataParallel
    cannot follow (each forward through it must be followed by its own backward), so
    rank 0's weights are broadcast once and each ``step(name, loss)`` averages the
    gradients of that optimizer's parameters across workers (an all-reduce, what
    DistributedDataParallel does) before stepping. Either way the weights stay equal
    on every worker after every step.
    """
    import ray.train.torch
    import torch.distributed as torch_dist

    from hpsearch import ddp

    rank, world = ddp.rank(), ddp.world_size()
    if world == 1:  # one worker: nothing to share
        return
    replica = None
    if s.recipe.train_step is None:
        # prepare_model moves the model (already on get_device()) and wraps it; the
        # wrapper shares the module's parameters, so s.model trains with it.
        replica = ray.train.torch.prepare_model(s.model, move_to_device=False)
    else:
        for tensor in s.model.state_dict().values():
            torch_dist.broadcast(tensor, src=0)
    if rank > 0:  # dropout masks and sampled noise differ per worker; rank 0 keeps its RNG
        torch.manual_seed(hash((s.cfg.seed, rank, start)) % 2**63)
    s.dist = Distributed(rank, world, replica)


class _Replica:
    """The family's model as its ``loss`` sees it in a data-parallel trial: calls go
    through DistributedDataParallel, attributes (``model.task``, parts) are the module's."""

    def __init__(self, replica: nn.Module):
        self._replica = replica

    def __call__(self, *args, **kwargs):
        return self._replica(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self._replica.module, name)


def _sharded(train: Split, cfg: TrainConfig, epoch: int, dist: Distributed) -> Iterator[Batch]:
    # DistributedSampler's shard of the epoch's permutation (seeded by the trial's seed,
    # the same on every worker, padded so that every worker has as many batches): each
    # worker takes a disjoint batch_size samples per step, a global batch of
    # batch_size * workers.
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(range(len(train.x)), num_replicas=dist.world, rank=dist.rank,
                                 shuffle=True, seed=cfg.seed * 1_000_003, drop_last=False)
    sampler.set_epoch(epoch)
    order = torch.tensor(list(sampler), dtype=torch.long).to(train.x.device)
    for i in range(0, len(order), cfg.batch_size):
        idx = order[i:i + cfg.batch_size]
        if len(idx) < 2 and len(order) > 1:
            continue  # as in _shuffled; every worker skips the same step
        yield (train.x[idx],) if train.y is None else (train.x[idx], train.y[idx])


def _all_workers(sums: dict[str, torch.Tensor], counts: dict[str, int],
                 device: torch.device) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """The epoch's log sums and counts added up over every worker (one all-reduce)."""
    import torch.distributed as torch_dist

    keys = sorted(sums)
    if not keys:
        return sums, counts
    flat = torch.stack([torch.as_tensor(sums[k], device=device).float() for k in keys]
                       + [torch.tensor(float(counts[k]), device=device) for k in keys])
    torch_dist.all_reduce(flat)
    n = len(keys)
    return ({k: flat[i] for i, k in enumerate(keys)},
            {k: int(flat[n + i].item()) for i, k in enumerate(keys)})


def _share_buffers(model: nn.Module) -> None:
    """Rank 0's buffers (batch-norm running statistics) on every worker, so that the
    workers' state is the same at each epoch's end (DistributedDataParallel shares them
    before each forward; a family with its own train_step has no such hook)."""
    import torch.distributed as torch_dist

    for buffer in model.buffers():
        torch_dist.broadcast(buffer, src=0)


def evaluate(s: Setup) -> dict[str, float]:
    """The family's validation metrics for the model as it stands (no state changes);
    once quantized, for the quantized model on the CPU."""
    if s.quantized is not None:
        val = Split(s.val.x.cpu(), None if s.val.y is None else s.val.y.cpu(), s.val.data)
        with torch.no_grad():
            return {key: float(value) for key, value in s.recipe.evaluate(s.quantized, val, s.cfg).items()}
    s.model.eval()
    with torch.no_grad(), _autocast(s.amp):
        return {key: float(value) for key, value in s.recipe.evaluate(s.model, s.val, s.cfg).items()}


def compress(s: Setup, epoch: int) -> dict[str, float]:
    """After the last epoch: prune (and fine-tune ``prune_finetune_epochs`` passes with the
    mask on, then make it permanent), then quantize. Returns the last fine-tuning pass's
    training logs (empty without one). The fine-tuning passes are not reported as epochs,
    so a trial still reports ``epochs`` results and schedulers' ``max_t`` holds."""
    logs: dict[str, float] = {}
    if s.cfg.prune > 0:
        targets = _compress.prune_global(s.recipe.deploy.module(s.model), s.cfg.prune)
        for extra in range(1, s.cfg.prune_finetune_epochs + 1):
            logs = train_epoch(s, epoch + extra)  # its own shuffle order
        _compress.make_permanent(targets)
    if s.cfg.quantize != "none":
        deploy = s.recipe.deploy
        s.model.eval()
        calibration = _compress.calibration_inputs(deploy, s.model, s.train)
        quantized = _compress.quantize(deploy.module(s.model), s.cfg.quantize, calibration)
        host = copy.deepcopy(s.model).cpu() if deploy.path else None
        s.quantized = deploy.replace(host, quantized) if host is not None else quantized
        s.quantized.eval()
    return logs


def gpu_usage(device: torch.device) -> dict[str, float]:
    """On a GPU: ``gpu_mem_mb``, the most memory this process's allocator held during the
    epoch (its peak is reset for the next), and ``gpu_util``, the device's utilisation in
    percent now (when NVML is installed: pynvml / nvidia-ml-py, an optional dependency).
    On the CPU: nothing, so CPU trials report exactly what they always did."""
    if device.type != "cuda":
        return {}
    out = {"gpu_mem_mb": torch.cuda.max_memory_allocated(device) / 2**20}
    torch.cuda.reset_peak_memory_stats(device)
    try:
        out["gpu_util"] = float(torch.cuda.utilization(device))
    except Exception:  # noqa: BLE001 - no NVML (pynvml not installed, or no driver access)
        pass
    return out


def footprint(s: Setup) -> dict[str, float]:
    """``params``, ``model_kb``, ``latency_ms`` of the deployed model as it stands (latency
    measured again only when the model's structure changed: :func:`_compress.footprint`)."""
    return _compress.footprint(s.recipe.deploy, s.quantized if s.quantized is not None else s.model,
                               s.val.x[:1], latencies=s.latencies)


def _single_step(recipe: Recipe, teacher: _distill.Teacher | None = None) -> Callable[..., dict]:
    loss_fn = _distill.loss(teacher) if teacher is not None else recipe.loss

    def train_step(model, batch, cfg, step, index):
        loss, logs = loss_fn(model, batch, cfg)
        step("model", loss)
        return logs
    return train_step


class _Stepper:
    """``step(name, loss)``: one update of optimizer ``name`` (with loss scaling on CUDA).
    ``average``: average the gradients across data-parallel workers before the update."""

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer], scaler: torch.amp.GradScaler,
                 average: bool = False):
        self.optimizers, self.scaler, self.average = optimizers, scaler, average

    def __call__(self, name: str, loss: torch.Tensor) -> None:
        optimizer = self.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.average:
            _average_gradients(optimizer)
        self.scaler.step(optimizer)
        self.scaler.update()


def _average_gradients(optimizer: torch.optim.Optimizer) -> None:
    """The mean of each parameter's gradient over the workers (one all-reduce per step)."""
    import torch.distributed as torch_dist

    params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch_dist.all_reduce(flat)
    flat /= torch_dist.get_world_size()
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(g).clone()
        offset += n


def _autocast(enabled: bool):
    return torch.autocast(device_type="cuda", dtype=torch.float16) if enabled else nullcontext()


def _shuffled(train: Split, cfg: TrainConfig, epoch: int) -> Iterator[Batch]:
    # The order depends on (seed, epoch) only, so a resumed run sees the same batches.
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch)
    order = torch.randperm(len(train.x), generator=gen).to(train.x.device)
    for i in range(0, len(order), cfg.batch_size):
        idx = order[i:i + cfg.batch_size]
        if len(idx) < 2 and len(order) > 1:
            continue  # a batch of one breaks batch norm and adds nothing
        yield (train.x[idx],) if train.y is None else (train.x[idx], train.y[idx])


def _to_device(data: _data.Data, dev: torch.device) -> tuple[Split, Split]:
    def tensor(a):
        return None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(dev)
    return (Split(tensor(data.x_train), tensor(data.y_train), data),
            Split(tensor(data.x_val), tensor(data.y_val), data))


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    """The optimizer ``cfg.optimizer`` with the config's knobs."""
    common = {"lr": cfg.lr, "weight_decay": cfg.weight_decay}
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, betas=(cfg.beta1, cfg.beta2), **common)
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(params, **common)
    if cfg.optimizer == "adadelta":
        return torch.optim.Adadelta(params, rho=0.9 if cfg.rho is None else cfg.rho, **common)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, momentum=cfg.momentum, **common)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, alpha=0.99 if cfg.rho is None else cfg.rho,
                                   momentum=cfg.momentum, **common)
    raise SpecError(f"unknown optimizer {cfg.optimizer!r}; valid: {', '.join(OPTIMIZERS)}", "optimizer")


def eval_noise(device: torch.device) -> torch.Generator:
    """A generator for evaluation-time noise: the same for every trial and every epoch,
    so that validation metrics compare across trials and leave the training RNG alone."""
    return torch.Generator(device=device).manual_seed(EVAL_SEED)


def mean_over_batches(fn: Callable[[Batch], dict[str, torch.Tensor]], split: Split,
                      batch_size: int = 512) -> dict[str, float]:
    """Average ``fn``'s per-sample values (tensors of shape (n,)) over ``split``."""
    sums: dict[str, torch.Tensor] = {}
    for batch in split.batches(batch_size):
        for key, values in fn(batch).items():
            sums[key] = sums.get(key, 0.0) + values.float().sum()
    return {key: float(total) / len(split.x) for key, total in sums.items()}


# -- checkpoints -------------------------------------------------------------------

def save_checkpoint(directory: str | os.PathLike, s: Setup, epoch: int) -> Path:
    """Write ``state.pt`` (plain tensors and containers only) into ``directory``."""
    np_state = np.random.get_state()
    state = {
        "format": CHECKPOINT_FORMAT,
        "family": s.recipe.name,
        "epoch": epoch,
        "optimizer": s.cfg.optimizer,
        "model": s.model.state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in s.optimizers.items()},
        # How the deployed model was compressed: "model" holds its (pruned) float weights;
        # quantizing them again with this mode (static: calibrated on the same first training
        # samples) gives the int8 model back. Int8 weights of LSTM/GRU are opaque packed
        # objects that a weights-only load refuses, so they are not stored here.
        "compression": ({"prune": s.cfg.prune, "quantize": s.cfg.quantize}
                        if epoch == s.cfg.epochs else {}),
        "scaler": s.scaler.state_dict() if s.scaler.is_enabled() else {},
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                      int(np_state[3]), float(np_state[4])],
            "python": [list(random.getstate()[1]), random.getstate()[0]],
        },
    }
    path = Path(directory) / CHECKPOINT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint behind
    return path


def read_checkpoint(directory: str | os.PathLike, family: str,
                    device: str | torch.device = "cpu") -> dict:
    """The checked contents of ``directory``'s ``state.pt`` for a ``family`` model
    (plain tensors only; :class:`CheckpointError` when it is anything else)."""
    path = Path(directory) / CHECKPOINT_FILE
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no {CHECKPOINT_FILE} in checkpoint {str(directory)!r}") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointError(f"refusing checkpoint {str(path)!r}: not a plain-tensor hpsearch "
                              f"checkpoint ({str(exc).splitlines()[0]})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not an hpsearch checkpoint (format {CHECKPOINT_FORMAT})")
    if state.get("family") != family:
        raise CheckpointError(f"{str(path)!r} holds a {state.get('family')!r} model, not {family!r}")
    return state


def load_weights(model: nn.Module, weights: Mapping[str, torch.Tensor], path: str | os.PathLike,
                 *, strict: bool = True) -> None:
    """``model.load_state_dict(weights)``, a mismatch named as a :class:`CheckpointError`."""
    try:
        model.load_state_dict(weights, strict=strict)
    except RuntimeError as exc:  # e.g. PBT mutated an architecture hyperparameter
        raise CheckpointError(f"{str(path)!r} does not fit this model's architecture: "
                              f"{str(exc).splitlines()[0]}") from None


def load_checkpoint(directory: str | os.PathLike, s: Setup) -> int:
    """Restore weights, optimizer state and RNG from ``directory`` into ``s``; return its epoch.

    The optimizers keep ``s.cfg``'s hyperparameters (lr, betas, ...), so that a
    PBT exploit continues with the mutated config; if the optimizer type
    changed, its state starts afresh.
    """
    state = read_checkpoint(directory, s.recipe.name, s.device)
    load_weights(s.model, state["model"], Path(directory) / CHECKPOINT_FILE)
    if state["optimizer"] == s.cfg.optimizer and set(state["optimizers"]) == set(s.optimizers):
        for name, optimizer in s.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
            for group in optimizer.param_groups:  # the new config's lr etc. win (PBT)
                group.update(optimizer.defaults)
    if s.scaler.is_enabled() and state["scaler"]:
        s.scaler.load_state_dict(state["scaler"])
    _restore_rng(state["rng"])
    return int(state["epoch"])


def _restore_rng(rng: dict) -> None:
    torch.set_rng_state(rng["torch"].cpu())
    if rng["cuda"] and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])
    keys, pos, has_gauss, gauss = rng["numpy"]
    np.random.set_state(("MT19937", keys.cpu().numpy().astype(np.uint32), pos, has_gauss, gauss))
    internal, version = rng["python"]
    random.setstate((version, tuple(internal), None))


def _save_and_report(s: Setup, epoch: int, metrics: dict, reporter: Reporter | None,
                     checkpoint_dir: str | os.PathLike | None) -> None:
    if checkpoint_dir is not None:
        save_checkpoint(checkpoint_dir, s, epoch)
        if reporter is not None:
            reporter(dict(metrics), str(checkpoint_dir))
        return
    if reporter is None:
        return
    tmp = tempfile.mkdtemp(prefix=f"hpsearch-{s.recipe.name}-")
    try:
        save_checkpoint(tmp, s, epoch)
        reporter(dict(metrics), tmp)  # tune.report copies the directory before returning
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- Ray Tune ----------------------------------------------------------------------

def tune_function(recipe: Recipe) -> Callable[[dict], None]:
    """The Ray Tune function trainable for ``recipe``: a thin wrapper around :func:`run`."""

    def trainable(config: dict) -> None:
        from ray import tune

        from hpsearch import ddp

        if ddp.workers() > 1:  # resources.workers: N data-parallel Ray Train workers
            threads = max(1, int(ddp.scaling().resources.get("CPU", 1)))
            ddp.run(functools.partial(_train_worker, recipe, threads), config)
            return
        resources = tune.get_context().get_trial_resources().required_resources
        use_gpu = (resources.get("GPU", 0) > 0 and torch.cuda.is_available()
                   and bool(os.environ.get("CUDA_VISIBLE_DEVICES")))

        def report(metrics: dict, directory: str) -> None:
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))

        kwargs = {"reporter": report, "device": "cuda" if use_gpu else "cpu",
                  "num_threads": max(1, int(resources.get("CPU", 1)))}
        checkpoint = tune.get_checkpoint()
        if checkpoint is None:
            run(recipe, config, **kwargs)
            return
        with checkpoint.as_directory() as directory:
            # Copy out: the loop outlives this context and the restored files.
            local = tempfile.mkdtemp(prefix=f"hpsearch-{recipe.name}-resume-")
            shutil.copytree(directory, local, dirs_exist_ok=True)
        try:
            run(recipe, config, resume_from=local, **kwargs)
        finally:
            shutil.rmtree(local, ignore_errors=True)

    trainable.__name__ = recipe.name
    return trainable


def _train_worker(recipe: Recipe, threads: int, config: dict) -> None:
    """One worker of a data-parallel trial (hpsearch/ddp.py): every worker starts from
    the same checkpoint (the run's latest after a worker failure, else the trial's)."""
    import ray.train.torch

    from hpsearch import ddp

    with ddp.checkpoint_dir() as directory:
        local = None
        if directory is not None:  # copied out: the loop outlives the restored files
            local = tempfile.mkdtemp(prefix=f"hpsearch-{recipe.name}-resume-")
            shutil.copytree(directory, local, dirs_exist_ok=True)
    try:
        def reporter(metrics: dict, directory: str | None) -> None:
            ddp.report(metrics, directory, final=metrics["epoch"] == epochs)

        epochs = recipe.parse(config).epochs
        run(recipe, config, reporter=reporter, resume_from=local, distributed=True,
            device=ray.train.torch.get_device(), num_threads=threads)
    finally:
        if local is not None:
            shutil.rmtree(local, ignore_errors=True)
