"""Compression (#17): what pruning and int8 quantization do to size and batch-1 latency.

Each case trains one epoch through the harness (no Ray) and reads the metrics every trial
reports (``params``, ``model_kb``, ``latency_ms``: the median of 25 batch-1 forward passes
on the CPU with one thread). Each variant runs ``--repeats`` times, interleaved, and its
median is compared with the float model's of the same run (a ratio: the machine is shared).

Cases: the CNN at its defaults (a tiny model: int8 has little to win at batch 1), and a
2048-wide autoencoder, whose matrices are big enough for the int8 GEMM to beat the cost of
quantizing activations. Sizes are asserted in tests/trainables/test_compression.py; the
latency, which a test must not time, is measured here.

    .venv/bin/python -m benchmarks.compression [--quick]     # ~1 min on 2 cores
"""
from __future__ import annotations

import argparse
import importlib
import statistics
from pathlib import Path

from benchmarks import _common as C

CASES = {
    "cnn": ("cnn", {"train_samples": 128, "epochs": 1}),
    "autoencoder 2048 wide": ("autoencoder", {"train_samples": 64, "epochs": 1,
                                              "hidden_size": 2048, "hidden_layers": 2}),
}
VARIANTS = {"float": {}, "prune 0.5": {"prune": 0.5, "prune_finetune_epochs": 1},
            "dynamic_int8": {"quantize": "dynamic_int8"}, "static_int8": {"quantize": "static_int8"}}
INT8_TARGET = 0.8  # the wide autoencoder's int8 latency / float latency


def measure(repeats: int, log=print) -> list[dict]:
    from trainables import BUILTIN, _harness

    rows = []
    for case, (family, config) in CASES.items():
        recipe = importlib.import_module(BUILTIN[family]).RECIPE
        got: dict[str, list[dict]] = {v: [] for v in VARIANTS}
        for _ in range(repeats):  # interleaved: a burst of load hits every variant alike
            for variant, extra in VARIANTS.items():
                got[variant].append(_harness.run(recipe, {**config, **extra}, device="cpu")[-1])
        base = {k: statistics.median(m[k] for m in got["float"]) for k in ("model_kb", "latency_ms")}
        for variant, ms in got.items():
            kb = statistics.median(m["model_kb"] for m in ms)
            lat = statistics.median(m["latency_ms"] for m in ms)
            rows.append({"case": case, "variant": variant, "params": ms[0]["params"], "model_kb": kb,
                         "latency_ms": lat, "kb_ratio": kb / base["model_kb"],
                         "latency_ratio": lat / base["latency_ms"]})
            log(f"{case} {variant}: {kb:.1f} KiB ({kb / base['model_kb']:.2f}x), {lat:.3f} ms "
                f"({lat / base['latency_ms']:.2f}x)")
    return rows


def targets(rows: list[dict]) -> list[tuple[str, float, str]]:
    out = []
    for r in rows:
        if r["case"].startswith("autoencoder") and r["variant"] == "dynamic_int8":
            out.append(("batch-1 latency, dynamic int8 / float, 2048-wide autoencoder",
                        r["latency_ratio"], C.verdict(r["latency_ratio"], INT8_TARGET, False)))
        if r["case"] == "cnn" and r["variant"] in ("prune 0.5", "dynamic_int8"):
            out.append((f"model_kb, {r['variant']} / float, CNN", r["kb_ratio"],
                        C.verdict(r["kb_ratio"], 0.75 if r["variant"].startswith("prune") else 0.5,
                                  False)))
    return out


def report(rows: list[dict], machine: dict, repeats: int) -> str:
    return "\n".join([
        "# Compression: size and batch-1 latency (#17)", "",
        f"`python -m benchmarks.compression` ({C.machine_line(machine)}); median of {repeats} "
        "runs per variant, interleaved; ratios against the float model of the same case.", "",
        C.table(["case", "variant", "params", "model_kb", "latency_ms", "size / float",
                 "latency / float"],
                [[r["case"], r["variant"], f"{r['params']:,.0f}", f"{r['model_kb']:.1f}",
                  f"{r['latency_ms']:.3f}", f"{r['kb_ratio']:.2f}", f"{r['latency_ratio']:.2f}"]
                 for r in rows]), "",
        "Pruning removes weights (params, and the deflate-compressed size) but not time: the "
        "zeros are still multiplied (dense kernels). int8 quarters the weights; its batch-1 "
        "latency wins only where the matrices are large (the wide autoencoder); on the tiny CNN "
        "it is slower, honestly: quantizing and dequantizing the activations costs more than "
        "the int8 kernels save on such small layers.", ""])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one run per variant")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=C.RESULTS / "compression.md")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    machine = C.machine()
    rows = measure(repeats, log=lambda s: print(s, flush=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(rows, machine, repeats))
    return rows


if __name__ == "__main__":
    main()
