"""ASHA against FIFO on the CNN family (digits): epochs spent and accuracy reached.

Both schedulers get the same searcher (random), the same seeds and the same
budget (trials x epochs). With the same seed the random searcher proposes the
same configurations to both, so the difference is only what the scheduler
stops. For each run the store gives: the total training epochs spent (the sum
of every trial's reported iterations), the best ``val_accuracy`` any result
reached, and the epochs spent (results in the order they were stored) until
the study first reached a common target and FIFO's own best for that seed::

    .venv/bin/python -m benchmarks.asha_vs_fifo            # 3 seeds x 12 trials x 9 epochs
    .venv/bin/python -m benchmarks.asha_vs_fifo --quick    # 3 seeds x 8 trials x 6 epochs

Runs in a temporary HPSEARCH_HOME (its own SQLite and Ray results) and writes
``benchmarks/results/asha_vs_fifo.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TARGET = 0.95
SPACE = {
    "lr": {"loguniform": [1.0e-4, 3.0e-2]},
    "optimizer": {"choice": ["adam", "rmsprop", "sgd"]},
    "conv_layers": {"int": [1, 3]},
    "channels": {"logint": [8, 32]},
    "dropout": {"uniform": [0.0, 0.5]},
}
SCHEDULERS = {"fifo": {"type": "fifo"},
              "asha": {"type": "asha", "grace_period": 1, "reduction_factor": 3}}


def spec(name: str, scheduler: dict, seed: int, trials: int, epochs: int) -> dict:
    return {"name": name, "trainable": "cnn", "dataset": "digits", "metric": "val_accuracy",
            "mode": "max", "space": SPACE,
            "fixed": {"epochs": epochs, "batch_size": 64, "kernel_size": 3, "momentum": 0.9},
            "searcher": {"type": "random"}, "scheduler": scheduler,
            "budget": {"trials": trials, "max_concurrent": 2}, "seed": seed}


def measure(store, study_id: int) -> dict:
    """Epochs spent, best accuracy, and the stored results in order (for epochs-to-target)."""
    trials = store.trials(study_id)
    rows = sorted((r for t in trials for r in store.results(t.id)), key=lambda r: (r.created_at, r.id))
    statuses: dict[str, int] = {}
    for t in trials:
        statuses[t.status] = statuses.get(t.status, 0) + 1
    return {"epochs": len(rows), "best": max((r.value for r in rows if r.value is not None), default=None),
            "curve": [r.value for r in rows], "statuses": statuses}


def epochs_to(curve: list, target: float) -> int | None:
    for i, v in enumerate(curve, 1):
        if v is not None and v >= target - 1e-12:
            return i
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 seeds x 8 trials x 6 epochs")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    trials, epochs = (8, 6) if args.quick else (12, 9)
    seeds = list(range(args.seeds))

    os.environ["HPSEARCH_HOME"] = tempfile.mkdtemp(prefix="hpsearch-bench-")
    os.environ.pop("HPSEARCH_DB", None)
    import hpsearch
    from hpsearch.orchestration import ensure_ray
    from hpsearch.store import Store

    ensure_ray(num_cpus=2)
    store = Store()
    runs: dict[tuple[str, int], dict] = {}
    for seed in seeds:
        for name, sched in SCHEDULERS.items():
            t0 = time.perf_counter()
            study = hpsearch.run(spec(f"{name}-{seed}", sched, seed, trials, epochs), progress=False)
            m = measure(store, study.id)
            m["wall_s"] = time.perf_counter() - t0
            m["status"] = study.status
            runs[(name, seed)] = m
            print(f"{name} seed {seed}: {study.status}, {m['epochs']} epochs, best {m['best']:.4f}, "
                  f"{m['wall_s']:.0f} s, {m['statuses']}", flush=True)
    write_report(runs, seeds, trials, epochs, args.quick)


def _fmt(v) -> str:
    if v is None:
        return "not reached"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def write_report(runs: dict, seeds: list[int], trials: int, epochs: int, quick: bool) -> None:
    lines = [
        "# ASHA vs FIFO on the CNN family (digits)",
        "",
        f"`.venv/bin/python -m benchmarks.asha_vs_fifo{' --quick' if quick else ''}` on "
        f"{platform.machine()}, {os.cpu_count()} CPUs, no GPU; {time.strftime('%Y-%m-%d')}.",
        "",
        f"Same searcher (random), seeds {seeds}, {trials} trials of up to {epochs} epochs each "
        f"(budget {trials * epochs} epochs), 2 trials at a time. ASHA: grace_period 1, "
        f"reduction_factor 3, max_t {epochs}. Epochs spent = every result the store holds; "
        "\"epochs to X\" counts results in the order they were stored until one reached X.",
        "",
        f"| scheduler | seed | epochs spent | best val_accuracy | epochs to {TARGET} | "
        "epochs to FIFO's best | trials (status) | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for seed in seeds:
        fifo_best = runs[("fifo", seed)]["best"]
        for name in SCHEDULERS:
            m = runs[(name, seed)]
            st = ", ".join(f"{k} {v}" for k, v in sorted(m["statuses"].items()))
            lines.append(f"| {name} | {seed} | {m['epochs']} | {_fmt(m['best'])} | "
                         f"{_fmt(epochs_to(m['curve'], TARGET))} | {_fmt(epochs_to(m['curve'], fifo_best))} | "
                         f"{st} | {m['wall_s']:.0f} |")
    lines += ["", "Means over seeds:", "", "| scheduler | epochs spent | best val_accuracy | wall s |",
              "|---|---|---|---|"]
    for name in SCHEDULERS:
        ms = [runs[(name, s)] for s in seeds]
        lines.append(f"| {name} | {statistics.mean(m['epochs'] for m in ms):.1f} | "
                     f"{statistics.mean(m['best'] for m in ms):.4f} | "
                     f"{statistics.mean(m['wall_s'] for m in ms):.0f} |")
    fifo_e = statistics.mean(runs[("fifo", s)]["epochs"] for s in seeds)
    asha_e = statistics.mean(runs[("asha", s)]["epochs"] for s in seeds)
    lines += ["", f"ASHA spent {asha_e / fifo_e:.0%} of FIFO's epochs."]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "asha_vs_fifo.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
