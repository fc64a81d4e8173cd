"""Suggestion latency of each searcher against the number of observations.

For each searcher and each history size N, a fresh searcher is warm-started
with N finished random configurations of a mixed 7-parameter space (log-real,
real, int, log-int, two categoricals, a grid parameter), then asked for
suggestions one at a time, each completed before the next. Reported: the first
suggestion after the warm start (for bayesian it includes optimising the GP
hyperparameters from scratch, its worst case) and the median and maximum of
the following ones (for bayesian these include its scheduled hyperparameter
refits)::

    .venv/bin/python -m benchmarks.searchers_latency           # ~2 min
    .venv/bin/python -m benchmarks.searchers_latency --quick   # smoke run
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import time
from pathlib import Path

import numpy as np

from hpsearch.space import Categorical, Float, Int, Space
from searchers import create_searcher

RESULTS = Path(__file__).resolve().parent / "results"
SEARCHERS = ("bayesian", "genetic", "random", "grid")
TARGETS_S = {"bayesian": (300, 1.0)}  # searcher -> (N, seconds); others: 10 ms at 1000
OTHER_TARGET_S = (1000, 0.010)


def space() -> Space:
    return Space([
        Float("lr", 1e-5, 1e-1, log=True), Float("dropout", 0.0, 0.5), Int("layers", 1, 6),
        Int("hidden", 8, 512, log=True), Categorical("optimizer", ("adam", "sgd", "rmsprop")),
        Categorical("bn", (False, True)), Categorical("batch", (32, 64, 128), grid=True),
    ])


def objective(c: dict) -> float:
    return ((math.log10(c["lr"]) + 3) ** 2 + (c["dropout"] - 0.1) ** 2 * 10
            + (c["layers"] - 3) ** 2 / 4 + (c["optimizer"] != "adam") + 0.1 * c["bn"])


def measure(name: str, n_obs: int, n_asks: int, seed: int = 0) -> tuple[float, float, float]:
    s = space()
    options = {"repeats": 1000} if name == "grid" else {}  # the most the schema allows
    searcher = create_searcher(name, s, metric="loss", mode="min", seed=seed, **options)
    rng = np.random.default_rng(seed + 1)
    for _ in range(n_obs):
        config = s.sample(rng)
        searcher.observe(config, objective(config))
    times = []
    for i in range(n_asks + 1):
        start = time.perf_counter()
        config = searcher.suggest(str(i))
        times.append(time.perf_counter() - start)
        searcher.on_trial_complete(str(i), {"loss": objective(config)})
    rest = times[1:]
    return times[0], float(np.median(rest)), max(rest)


def main(argv: list[str] | None = None) -> list[tuple]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and asks: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sizes = (10, 100) if args.quick else (10, 100, 300, 1000)
    rows = []
    for name in SEARCHERS:
        n_asks = (5 if args.quick else 30) if name == "bayesian" else 200
        for n in sizes:
            first, median, worst = measure(name, n, n_asks)
            rows.append((name, n, n_asks, first, median, worst))
            print(f"{name:9s} N={n:5d}  first {first * 1e3:9.2f} ms  median {median * 1e3:9.2f} ms  "
                  f"max {worst * 1e3:9.2f} ms", flush=True)
    text = _table(rows, args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "searchers_latency.md").write_text(text)
    if not args.quick:
        plot(rows, args.out / "searchers_latency.png")
    print(text)
    return rows


def targets(rows) -> list[tuple[str, float | None, str]]:
    """Per searcher: the worst suggestion (first or max) at its target's N, and the verdict."""
    out = []
    for name in SEARCHERS:
        target_n, target_s = TARGETS_S.get(name, OTHER_TARGET_S)
        got = [r for r in rows if r[0] == name and r[1] == target_n]
        if not got:
            out.append((f"{name} suggestion at N={target_n}", None, "not measured"))
            continue
        _, _, _, first, median, worst = got[0]
        # bayesian: its worst case (the first ask refits the GP from scratch); the sub-ms
        # searchers: the median, since one sample in 200 on a shared 2-core machine can be
        # preempted for longer than the whole target (their max is in the table).
        value = max(first, worst) if name == "bayesian" else median
        how = "worst of first and max" if name == "bayesian" else "median"
        ok = value <= target_s
        out.append((f"{name} suggestion at N={target_n} ({how})", value,
                    f"{'met' if ok else 'MISSED'} ({value * 1e3:.3g} ms vs <= {target_s * 1e3:g} ms; "
                    f"{abs(value / target_s - 1) * 100:.0f}% {'under' if ok else 'over'})"))
    return out


def plot(rows, path: Path) -> None:
    """The bayesian cost curve (first, median, max vs N) beside every searcher's median."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    bayes = [r for r in rows if r[0] == "bayesian"]
    ns = [r[1] for r in bayes]
    for idx, label in ((3, "first after warm start"), (4, "median"), (5, "max")):
        ax1.plot(ns, [r[idx] * 1e3 for r in bayes], marker="o", label=label)
    target_n, target_s = TARGETS_S["bayesian"]
    ax1.axhline(target_s * 1e3, color="grey", linestyle="--", linewidth=1,
                label=f"target at N={target_n}")
    ax1.set(xscale="log", xlabel="observations", ylabel="ms per suggestion",
            title="bayesian (GP) suggestion cost")
    ax1.legend(fontsize=8)
    for name in SEARCHERS:
        got = [r for r in rows if r[0] == name]
        ax2.plot([r[1] for r in got], [max(r[4], 1e-6) * 1e3 for r in got], marker="o", label=name)
    ax2.axhline(OTHER_TARGET_S[1] * 1e3, color="grey", linestyle="--", linewidth=1,
                label="target for others (10 ms)")
    ax2.set(xscale="log", yscale="log", xlabel="observations", ylabel="median ms",
            title="median suggestion latency")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _table(rows, args) -> str:
    lines = [
        "# Searcher suggestion latency",
        "",
        f"Command: `.venv/bin/python -m benchmarks.searchers_latency{' --quick' if args.quick else ''}`. "
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs (shared with "
        "other work while measured, so single maxima are noisy). N = observations before measuring "
        "(warm start); 'first' = the first suggestion after it; median and max over the next "
        "suggestions (each completed before the next, so N grows slightly). Target verdicts: "
        "bayesian on its worst (first or max), the others on the median (a single max on a "
        "shared machine measures preemption, not the searcher).",
        "",
        "| searcher | N | first (ms) | median (ms) | max (ms) | next asks | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, n, n_asks, first, median, worst in rows:
        target_n, target_s = TARGETS_S.get(name, OTHER_TARGET_S)
        target = ""
        if n == target_n:
            ok = (max(first, worst) if name == "bayesian" else median) <= target_s
            target = f"{'met' if ok else 'MISSED'}: <= {target_s * 1e3:.0f} ms"
        lines.append(f"| {name} | {n} | {first * 1e3:.2f} | {median * 1e3:.2f} | {worst * 1e3:.2f} "
                     f"| {n_asks} | {target} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
