"""Export a trial's model: TorchScript, ONNX or a plain state dict, with a model card.

    >>> card = export_trial(store, "cnn-digits", fmt="onnx", out="model/")   # doctest: +SKIP
    >>> card["sha256"], card["verification"]["max_abs_diff"]                  # doctest: +SKIP

``out`` receives the model file and ``model_card.json`` / ``model_card.md``
(family, hyperparameters, metrics, the data's shape and preprocessing, the
source study and trial, compression, checksums). Every export is checked
before it is kept: the written file is loaded back (TorchScript by
``torch.jit.load``, ONNX by onnxruntime, a state dict into a freshly built
model) and run on validation samples; its outputs must match the PyTorch
model's within ``|a - b| <= ATOL + RTOL * |b|``, or the export fails.
"""
from __future__ import annotations

import json
import platform
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from hpsearch import transfer
from hpsearch.exceptions import HpsearchError, SpecError
from hpsearch.store import Store

ATOL = 1e-5
RTOL = 1e-4
SAMPLES = 8
CARD_VERSION = 1


class ExportError(HpsearchError):
    """The exported file does not reproduce the model (or cannot be written)."""


@dataclass(frozen=True)
class Format:
    """One export format: its file name, a writer, and a loader that runs the written file."""

    filename: str
    write: Callable[[Any, Any, Path], None]            # (model, sample batch, path)
    run: Callable[[Path, Any, Any], Any]               # (path, model, batch) -> outputs (numpy)
    runtime: Callable[[], str]


def _write_torchscript(model, sample, path: Path) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice
        torch.jit.save(torch.jit.trace(model, sample), str(path))


def _run_torchscript(path: Path, model, batch):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return loaded(batch).numpy()


def _write_onnx(model, sample, path: Path) -> None:
    import torch

    batch = torch.export.Dim("batch", min=1, max=1_000_000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (sample,), dynamo=True, input_names=["input"],
                                    output_names=["output"], dynamic_shapes=({0: batch},),
                                    verbose=False)
        program.save(str(path))


def _run_onnx(path: Path, model, batch):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": batch.numpy()})[0]


def _write_state_dict(model, sample, path: Path) -> None:
    import torch

    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, str(path))


def _run_state_dict(path: Path, model, batch):
    import copy

    import torch

    fresh = copy.deepcopy(model)
    for p in fresh.parameters():
        p.data.zero_()  # so that only what the file holds can give the outputs
    fresh.load_state_dict(torch.load(str(path), weights_only=True))
    with torch.no_grad():
        return fresh.eval()(batch).numpy()


def _torch_version() -> str:
    import torch
    return f"torch {torch.__version__}"


def _ort_version() -> str:
    import onnxruntime
    return f"onnxruntime {onnxruntime.__version__}"


FORMATS: dict[str, Format] = {
    "torchscript": Format("model.pt", _write_torchscript, _run_torchscript, _torch_version),
    "onnx": Format("model.onnx", _write_onnx, _run_onnx, _ort_version),
    "state_dict": Format("state_dict.pt", _write_state_dict, _run_state_dict, _torch_version),
}


def check_format(fmt: str) -> Format:
    try:
        return FORMATS[fmt]
    except KeyError:
        raise SpecError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}", "format") from None


def export_trial(store: Store, study: str | int, trial: int | str | None = "best", *,
                 fmt: str = "torchscript", out: str | Path) -> dict:
    """Write trial ``trial`` (default: the best) of ``study`` to ``out`` as ``fmt``; return the card."""
    check_format(fmt)
    tm = transfer.pick(store, study, trial)
    from trainables import _transfer
    if not _transfer.get(tm.family).predicts:
        raise SpecError(f"{tm.family!r} models cannot be exported (their forward pass is not a "
                        f"prediction from an input); exportable: {', '.join(_transfer.exportable())}",
                        "study")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    return write_model(tm, form_name=fmt, out=out, store=store)


def write_model(tm: transfer.TrialModel, *, form_name: str, out: Path, store: Store | None = None) -> dict:
    """Export ``tm`` into ``out`` (already a folder) and return its card (also written there)."""
    import numpy as np
    import torch

    from trainables import _data, _finetune, _transfer

    form = FORMATS[form_name]
    restored = _finetune.restore(tm.family, tm.config, tm.checkpoint)
    model = restored.model
    applied = restored.state.get("compression") or {}
    # TorchScript carries int8 modules: the file is the model the trial measured (its
    # model_kb, latency_ms), e.g. a point picked from the Pareto front. ONNX and the state
    # dict carry the float weights, and the card says to quantize again.
    quantized = form_name == "torchscript" and applied.get("quantize", "none") != "none"
    if quantized:
        model = _finetune.deployed(restored)
    sample = torch.from_numpy(np.ascontiguousarray(restored.data.x_val[:SAMPLES]))
    path = out / form.filename
    if quantized:
        try:
            form.write(model, sample, path)
        except Exception:  # noqa: BLE001 - a quantized module TorchScript cannot trace
            model, quantized = restored.model, False  # the float weights, as the card says
    try:
        if not quantized:
            form.write(model, sample, path)
    except Exception as exc:  # noqa: BLE001 - an exporter's failure, named
        raise ExportError(f"cannot export {tm.family!r} as {form_name}: {exc.__class__.__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    # Checked on other samples and another batch size than the ones traced with.
    check = torch.from_numpy(np.ascontiguousarray(restored.data.x_val[SAMPLES:2 * SAMPLES + 3]))
    with torch.no_grad():
        expected = model(check).numpy()
    got = form.run(path, model, check)
    diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else float("inf")
    if not np.allclose(got, expected, rtol=RTOL, atol=ATOL):
        raise ExportError(f"the {form_name} export does not reproduce the model: max |diff| {diff:.3g} "
                          f"over {len(check)} samples (tolerance atol {ATOL}, rtol {RTOL})")
    card = _card(tm, form_name, path, restored, _data.describe(tm.family, tm.dataset),
                 _transfer.get(tm.family).predicts, store, quantized)
    card["verification"] = {"samples": len(check), "max_abs_diff": diff, "atol": ATOL, "rtol": RTOL,
                            "runtime": form.runtime(), "reference": _torch_version()}
    (out / "model_card.json").write_text(json.dumps(card, indent=2, default=str) + "\n")
    (out / "model_card.md").write_text(card_markdown(card))
    return card


def _card(tm: transfer.TrialModel, fmt: str, path: Path, restored, data: dict, predicts: str,
          store: Store | None, quantized: bool = False) -> dict:
    from trainables import RESERVED_KEYS

    metrics: dict = {}
    init_source = None
    if store is not None:
        row = store.get_trial(tm.study_id, tm.trial)
        results = store.results(row.id)
        metrics = dict(results[-1].metrics) if results else {}
        metrics = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        init_source = getattr(store.get_study(tm.study_id), "init_source", None)
    return {
        "card_version": CARD_VERSION,
        "family": tm.family,
        "format": fmt,
        "file": path.name,
        "sha256": transfer.sha256_file(path),
        "bytes": path.stat().st_size,
        "source": {"study": tm.study, "study_id": tm.study_id, "trial": tm.trial,
                   "checkpoint": tm.checkpoint,
                   "checkpoint_sha256": transfer.sha256_file(Path(tm.checkpoint) / transfer.CHECKPOINT_FILE),
                   "epoch": int(restored.state.get("epoch", 0))},
        "params": {k: v for k, v in tm.config.items() if k not in RESERVED_KEYS},
        "metrics": {"objective": {"name": tm.metric, "mode": tm.mode, "value": tm.value},
                    "last_result": metrics},
        "data": data,
        "input": {"name": "input", "shape": ["N", *data["input_shape"]], "dtype": "float32"},
        "output": {"name": "output", "meaning": predicts},
        "compression": _compression(restored.state.get("compression"), quantized),
        "init_from": init_source,
        "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "exported_with": {"python": platform.python_version(), "torch": _torch_version()},
    }


def _compression(applied: dict | None, quantized: bool = False) -> dict:
    """What the trial's compression did, and what of it this file carries."""
    applied = dict(applied or {})
    if quantized:
        applied["in_this_file"] = (f"the {applied['quantize']} model the trial measured (its "
                                   "pruned weights, if pruning was applied, quantized again)")
    elif applied.get("quantize", "none") != "none":
        applied["in_this_file"] = ("the float weights (pruned, if pruning was applied); the int8 "
                                   "quantization is not part of the export: apply "
                                   f"{applied['quantize']} again at inference")
    elif applied.get("prune"):
        applied["in_this_file"] = "the pruned weights (zeros kept in place)"
    return applied or {"prune": 0.0, "quantize": "none"}


def card_markdown(card: dict) -> str:
    """The card as a short Markdown page (the JSON beside it is the complete record)."""
    src, data, ver = card["source"], card["data"], card.get("verification", {})
    obj = card["metrics"]["objective"]
    lines = [
        f"# Model card: {src['study']} trial {src['trial']} ({card['family']})", "",
        f"- **File**: `{card['file']}` ({card['format']}, {card['bytes']} bytes)",
        f"- **SHA-256**: `{card['sha256']}`",
        f"- **Source**: study `{src['study']}` (id {src['study_id']}), trial {src['trial']}, "
        f"epoch {src['epoch']}; checkpoint SHA-256 `{src['checkpoint_sha256']}`",
        f"- **Objective**: {obj['name']} ({obj['mode']}) = {obj['value']}",
        f"- **Input**: `input`, float32, shape {card['input']['shape']}",
        f"- **Output**: `output`, {card['output']['meaning']}",
        f"- **Compression**: {card['compression']}",
        f"- **Started from**: {_source_line(card.get('init_from'))}",
        "", "## Data", "",
        f"- Dataset: `{data['dataset']}` ({data['task']}, {data['outputs']} outputs; "
        f"{data['train_samples']} training, {data['val_samples']} validation samples)",
        f"- Preprocessing: {data['preprocessing']['description']}",
        "", "## Hyperparameters", "", "| name | value |", "|---|---|",
        *[f"| {k} | {v} |" for k, v in sorted(card["params"].items())],
        "", "## Metrics (last reported epoch)", "", "| name | value |", "|---|---|",
        *[f"| {k} | {v:.6g} |" for k, v in sorted(card["metrics"]["last_result"].items())],
        "", "## Verification", "",
        f"Outputs of the exported file ({ver.get('runtime')}) against the PyTorch model "
        f"({ver.get('reference')}) on {ver.get('samples')} validation samples: max |diff| "
        f"{ver.get('max_abs_diff')}, tolerance |a - b| <= {ver.get('atol')} + {ver.get('rtol')} * |b|.",
        "",
    ]
    return "\n".join(lines)


def _source_line(init: dict | None) -> str:
    if not init:
        return "random initialisation"
    return f"study `{init.get('study')}` trial {init.get('trial')} (cold start)"
