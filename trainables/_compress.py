"""Model compression and footprint metrics for every built-in family.

Three hyperparameters that any family reads (see :class:`CompressConfig`):

* ``prune``: the fraction of weights removed by global magnitude (L1) pruning
  over every weight matrix / kernel (``dim >= 2``) of the deployed model, done
  with :mod:`torch.nn.utils.prune` after the last training epoch, followed by
  ``prune_finetune_epochs`` passes of fine-tuning with the mask applied, after
  which the mask is made permanent (``prune.remove``).
* ``quantize``: ``none | dynamic_int8 | static_int8``, post-training with
  PyTorch's quantization tooling on the CPU backend (x86/fbgemm): dynamic swaps
  Linear, Conv and LSTM/GRU layers for int8 ones (activations quantized on the
  fly); static traces the model with FX, calibrates observers on training
  batches and converts it. A family whose model FX cannot trace (RNNs, the
  VAE's sampling) declares ``static_int8`` unsupported and the spec is refused.
* Distillation lives in :mod:`trainables._distill`.

And three metrics every family reports at every epoch (:func:`footprint`):

* ``params``: non-zero parameters of the deployed model (weights and biases,
  not batch-norm statistics);
* ``model_kb``: the size of the deployed model's ``state_dict`` saved with
  ``torch.save`` and deflate-compressed (zlib level 9), in KiB, so that pruned
  zeros count as the saving they are on disk (the saved records without the
  random id torch adds to each file, so the same model always has one size);
* ``latency_ms``: the median of 25 timed batch-1 forward passes (after 5
  warm-up ones) on the CPU with one thread, in eval mode without gradients.
  Always the CPU and one thread, whatever the trial ran on: quantized models
  run only there, and trials must compare with each other.

The *deployed model* is the part of a family's model that inference uses:
the whole model, except for the GAN (its generator); a family says so with
a :class:`Deploy` in its recipe.
"""
from __future__ import annotations

import copy
import io
import statistics
import time
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import torch
from torch import nn

from trainables._options import FOOTPRINT_METRICS, QUANTIZE_MODES  # noqa: F401 - declared there

if TYPE_CHECKING:
    from trainables._harness import Split

LATENCY_WARMUP = 5
LATENCY_REPEATS = 25
CALIBRATION_BATCHES = 8
CALIBRATION_BATCH_SIZE = 64
_BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass(frozen=True)
class Deploy:
    """Which part of a family's model is deployed, and what it takes as input.

    ``path`` names the submodule (``""``: the whole model); ``inputs(model, x)``
    turns a batch of data ``x`` into the deployed module's positional inputs
    (a generator takes noise, not data); ``static`` says whether FX can trace
    it for ``static_int8``.
    """

    path: str = ""
    inputs: Callable[[nn.Module, torch.Tensor], tuple] = lambda model, x: (x,)
    static: bool = True

    def module(self, model: nn.Module) -> nn.Module:
        return model.get_submodule(self.path) if self.path else model

    def replace(self, model: nn.Module, module: nn.Module) -> nn.Module:
        """``model`` with its deployed part swapped for ``module`` (in place when a submodule)."""
        if not self.path:
            return module
        parent, _, name = self.path.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, name, module)
        return model


# -- pruning -----------------------------------------------------------------------

def prunable(module: nn.Module) -> list[tuple[nn.Module, str]]:
    """Every weight matrix or kernel (``dim >= 2``): Linear, Conv and RNN weights, not
    biases or batch-norm scales."""
    return [(m, name) for m in module.modules() for name, p in m.named_parameters(recurse=False)
            if p.dim() >= 2]


def prune_global(module: nn.Module, amount: float) -> list[tuple[nn.Module, str]]:
    """Mask the ``amount`` smallest-magnitude weights across all of ``module``'s weight
    tensors (one global threshold). The masks stay on (as forward pre-hooks) until
    :func:`make_permanent`, so fine-tuning keeps pruned weights at zero."""
    from torch.nn.utils import prune

    targets = prunable(module)
    if targets and amount > 0:
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=float(amount))
    return targets


def make_permanent(targets: list[tuple[nn.Module, str]]) -> None:
    """Fold each mask into its weight and drop the pruning reparametrisation."""
    from torch.nn.utils import prune

    for module, name in targets:
        if prune.is_pruned(module):
            prune.remove(module, name)


# -- quantization --------------------------------------------------------------------

@contextmanager
def _quiet():
    """torch.ao.quantization warns that it is deprecated in favour of torchao on every call;
    it is PyTorch's own post-training tooling and works: keep trial logs readable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def quantize(module: nn.Module, mode: str, calibration: Iterator[tuple] = iter(())) -> nn.Module:
    """A quantized CPU copy of ``module`` (``module`` itself is left alone).

    ``calibration`` yields input tuples (training batches) for ``static_int8``.
    """
    if mode == "none":
        return module
    module = copy.deepcopy(module).cpu().eval()
    with _quiet():
        return QUANTIZERS[mode](module, calibration)


def _dynamic_int8(module: nn.Module, calibration: Iterator[tuple]) -> nn.Module:
    import torch.ao.nn.quantized.dynamic as nnqd
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    mapping = {nn.Linear: nnqd.Linear, nn.LSTM: nnqd.LSTM, nn.GRU: nnqd.GRU,
               nn.Conv1d: nnqd.Conv1d, nn.Conv2d: nnqd.Conv2d, nn.Conv3d: nnqd.Conv3d}
    return quantize_dynamic(module, {kind: default_dynamic_qconfig for kind in mapping},
                            mapping=mapping, dtype=torch.qint8)


def _static_int8(module: nn.Module, calibration: Iterator[tuple]) -> nn.Module:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    batches = list(calibration)
    if not batches:
        raise ValueError("static_int8 needs calibration batches")
    torch.backends.quantized.engine = _engine()
    prepared = prepare_fx(module, get_default_qconfig_mapping(torch.backends.quantized.engine),
                          batches[0])
    with torch.no_grad():
        for inputs in batches:
            prepared(*inputs)
    return convert_fx(prepared)


def _engine() -> str:
    engines = torch.backends.quantized.supported_engines
    return next((e for e in ("x86", "fbgemm", "qnnpack") if e in engines), engines[-1])


QUANTIZERS: dict[str, Callable[[nn.Module, Iterator[tuple]], nn.Module]] = {
    "dynamic_int8": _dynamic_int8,
    "static_int8": _static_int8,
}


def calibration_inputs(deploy: Deploy, model: nn.Module, train: "Split") -> Iterator[tuple]:
    """Up to 512 training samples (the first ones; the split is already shuffled) as CPU inputs."""
    x = train.x[:CALIBRATION_BATCHES * CALIBRATION_BATCH_SIZE].cpu()
    for i in range(0, len(x), CALIBRATION_BATCH_SIZE):
        yield tuple(t.cpu() for t in deploy.inputs(model, x[i:i + CALIBRATION_BATCH_SIZE]))


# -- footprint -----------------------------------------------------------------------

def _tensors(value) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _tensors(v)


def nonzero_params(module: nn.Module) -> int:
    """Non-zero weights and biases, read from the state dict so that quantized layers
    (whose weights are packed, not parameters) count too; a quantized LSTM/GRU keeps
    its weights in opaque packed objects and is asked for them (``_weight_bias``)."""
    packed: dict[str, nn.Module] = {}
    for name, m in module.named_modules():  # outermost only: a Linear's packed params nest
        if hasattr(m, "_weight_bias") and not any(name.startswith(f"{p}.") for p in packed):
            packed[name] = m
    values = [v for key, v in module.state_dict().items()
              if key.rsplit(".", 1)[-1] not in _BN_BUFFERS
              and not any(key.startswith(f"{name}.") for name in packed)]
    for m in packed.values():
        found = m._weight_bias()  # (w, b) for Linear/Conv, {"weight": {...}, "bias": {...}} for RNNs
        values += [list(g.values()) for g in found.values()] if isinstance(found, dict) else [found]
    count = 0
    for t in _tensors(values):
        if t.dim() == 0:  # scales, zero points
            continue
        t = t.dequantize() if t.is_quantized else t
        if t.is_floating_point():
            count += int(torch.count_nonzero(t))
    return count


def model_kb(module: nn.Module) -> float:
    """KiB of ``torch.save(module.state_dict())``'s records, deflate-compressed (zlib level 9).

    The records (the pickle and each tensor's bytes, by name), not the zip file around them:
    torch writes a random ``serialization_id`` record (and its CRC) into every file, which made
    the same model's size differ by a few bytes from one save to the next.
    """
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    with zipfile.ZipFile(buffer) as archive:
        records = b"".join(info.filename.encode() + archive.read(info)
                           for info in archive.infolist()
                           if not info.filename.endswith("serialization_id"))
    return len(zlib.compress(records, 9)) / 1024


def latency_ms(module: nn.Module, inputs: tuple) -> float:
    """Median batch-1 forward time on the CPU, one thread (see the module docstring)."""
    module = module if _on_cpu(module) else copy.deepcopy(module).cpu()
    inputs = tuple(t.cpu() for t in inputs)
    was_training, threads = module.training, torch.get_num_threads()
    module.eval()
    torch.set_num_threads(1)
    times = []
    try:
        with torch.no_grad():
            for i in range(LATENCY_WARMUP + LATENCY_REPEATS):
                start = time.perf_counter()
                module(*inputs)
                if i >= LATENCY_WARMUP:
                    times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
        module.train(was_training)
    return statistics.median(times) * 1000


def _on_cpu(module: nn.Module) -> bool:
    return all(t.device.type == "cpu" for t in module.state_dict().values()
               if isinstance(t, torch.Tensor))


def footprint(deploy: Deploy, model: nn.Module, example_x: torch.Tensor,
              latencies: dict | None = None) -> dict[str, float]:
    """``params``, ``model_kb`` and ``latency_ms`` of ``model``'s deployed part;
    ``example_x`` is one sample of data (a batch of 1) that :attr:`Deploy.inputs`
    turns into its input.

    ``latencies``: a trial's memo of its last latency. Latency times the deployed model's
    structure, not its weights' values, so it is measured again only when that structure
    may have changed: another module (quantization makes one) or another count of nonzero
    parameters (pruning). Measuring it every epoch (30 batch-1 forward passes on the CPU, the
    model copied there first) cost a tenth of a small model's training, the GPU idle
    meanwhile (benchmarks/results/gpu_busy.md)."""
    deployed = deploy.module(model)
    with _quiet():
        params = float(nonzero_params(deployed))
        key = (id(deployed), params)
        if latencies is not None and key in latencies:
            latency = latencies[key]
        else:
            latency = latency_ms(deployed, deploy.inputs(model, example_x))
            if latencies is not None:
                latencies.clear()
                latencies[key] = latency
        return {"params": params, "model_kb": model_kb(deployed), "latency_ms": latency}
