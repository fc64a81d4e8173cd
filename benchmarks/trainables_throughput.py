"""Training throughput (samples/s) of each built-in family on this machine.

Each case builds the family's default model (its config defaults plus the
template's fixed values) on its default dataset, trains one warm-up epoch,
then times ``--epochs`` epochs of training alone (samples/s) and one
validation pass. Threads: 1 (a ``cpu: 1`` trial) and every core::

    .venv/bin/python -m benchmarks.trainables_throughput            # ~1 min on 2 cores
    .venv/bin/python -m benchmarks.trainables_throughput --quick    # smoke run
    benchmarks/gpu.sh                                               # the same on CUDA
"""
from __future__ import annotations

import argparse
import importlib
import os
import platform
import time
from pathlib import Path

import torch

import trainables
from trainables import _harness

RESULTS = Path(__file__).resolve().parent / "results"
CASES = {  # label -> (family, extra config)
    "cnn": ("cnn", {}),
    "rnn (digits_rows)": ("rnn", {}),
    "rnn (sine)": ("rnn", {"dataset": "sine"}),
    "autoencoder": ("autoencoder", {}),
    "vae": ("vae", {}),
    "gan": ("gan", {}),
}


def measure(family: str, extra: dict, *, device: str, threads: int, epochs: int,
            batch_size: int | None) -> dict:
    recipe = importlib.import_module(trainables.BUILTIN[family]).RECIPE
    fixed = {k: v for k, v in trainables.get_trainable(family).template["fixed"].items()
             if k != "epochs"}
    config = {**fixed, **extra, **({"batch_size": batch_size} if batch_size else {})}
    s = _harness.prepare(recipe, config, device=device, num_threads=threads)
    _harness.train_epoch(s, 1)  # warm-up: allocator, kernels, the GAN's feature network
    _harness.evaluate(s)
    sync = torch.cuda.synchronize if s.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for epoch in range(2, epochs + 2):
        _harness.train_epoch(s, epoch)
    sync()
    train_s = time.perf_counter() - start
    start = time.perf_counter()
    _harness.evaluate(s)
    sync()
    eval_s = time.perf_counter() - start
    n = len(s.train.x)
    return {"batch_size": s.cfg.batch_size, "train_samples": n, "samples_per_s": n * epochs / train_s,
            "epoch_s": train_s / epochs, "eval_s": eval_s,
            "params": sum(p.numel() for p in s.model.parameters())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", default=None,
                        help="comma-separated thread counts for CPU (default: 1 and all cores)")
    parser.add_argument("--batch-sizes", default="",
                        help="comma-separated batch sizes (default: each template's)")
    parser.add_argument("--quick", action="store_true", help="one epoch, one thread count")
    parser.add_argument("--out", type=Path, default=RESULTS / "trainables.md")
    args = parser.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch.cuda.is_available() is false")
    cores = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cores})
    if device == "cuda" or args.quick:
        threads = threads[:1]
    epochs = 1 if args.quick else args.epochs
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b] or [None]

    hardware = (torch.cuda.get_device_name() if device == "cuda"
                else f"{platform.processor() or platform.machine()}, {cores} cores")
    lines = [
        "# Training throughput of the built-in families",
        "",
        f"Device: {device} ({hardware}); torch {torch.__version__}; {epochs} timed epochs after "
        "one warm-up epoch; default model and dataset of each family (config defaults plus the "
        "template's fixed values). samples/s counts training samples through forward, backward "
        "and the optimizer step (the GAN's discriminator and generator steps together); eval is "
        "one validation pass (the GAN's includes the Fréchet distance).",
        "",
        "Produced by `python -m benchmarks.trainables_throughput"
        + (f" --device {device}" if device != "cpu" else "") + "`.",
        "",
        "| family | threads | batch | params | train samples | samples/s | s/epoch | eval s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, (family, extra) in CASES.items():
        for batch_size in batch_sizes:
            for n_threads in threads:
                r = measure(family, extra, device=device, threads=n_threads, epochs=epochs,
                            batch_size=batch_size)
                row = (f"| {label} | {n_threads if device == 'cpu' else '-'} | {r['batch_size']} | "
                       f"{r['params']:,} | {r['train_samples']} | {r['samples_per_s']:,.0f} | "
                       f"{r['epoch_s']:.3f} | {r['eval_s']:.3f} |")
                print(row, flush=True)
                lines.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
