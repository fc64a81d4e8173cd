"""Multi-objective search and compression (#17): hypervolume at a fixed budget.

Two parts, each written to ``benchmarks/results/multiobjective.md`` (distillation, a student
against the same student alone, is ``benchmarks/distillation.py``):

1. **Test problems.** ZDT1 and ZDT2 (2 objectives, 6 variables) and DTLZ2 (3 objectives,
   7 variables). Each method is driven directly (suggest, then the result; one trial at a
   time; no Ray): our ``genetic`` (NSGA-II), ``bayesian`` (ParEGO) and ``random`` against
   Optuna's ``NSGAIISampler`` and multi-objective ``TPESampler``. The table gives the
   median hypervolume (and quartiles) over seeds after N evaluations, against a fixed
   reference point per problem (ZDT: (1.1, 11); DTLZ2: (2.5, 2.5, 2.5)), computed with
   :func:`hpsearch.pareto.hypervolume`.
2. **A real case.** The CNN on digits, ``val_accuracy`` (max) against ``model_kb`` (min),
   with ``prune``, ``quantize`` and the width searched besides the learning rate; NSGA-II
   and ParEGO against random search at the same budget (training through the harness in
   this process; the front and hypervolume as the read model computes them). Beside the
   spec's hypervolume: one against a tight size reference, the best accuracy, and the
   hypervolume of each front retrained with fresh seeds (accuracy after 3 epochs on 600
   samples depends on the initialisation as much as on the configuration).

    nice -n 10 .venv/bin/python -m benchmarks.multiobjective            # ~25 min on 2 cores
    nice -n 10 .venv/bin/python -m benchmarks.multiobjective --quick    # smoke run, ~1 min
"""
from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from benchmarks import _common as C
from hpsearch import pareto as mo

METHODS = ("genetic", "bayesian", "random", "optuna-nsga2", "optuna-tpe")


@dataclass(frozen=True)
class Problem:
    name: str
    n_vars: int
    n_obj: int
    f: Callable[[np.ndarray], tuple[float, ...]]
    reference: tuple[float, ...]


def zdt1(x: np.ndarray) -> tuple[float, float]:
    g = 1 + 9 * x[1:].sum() / (len(x) - 1)
    return float(x[0]), float(g * (1 - math.sqrt(x[0] / g)))


def zdt2(x: np.ndarray) -> tuple[float, float]:
    g = 1 + 9 * x[1:].sum() / (len(x) - 1)
    return float(x[0]), float(g * (1 - (x[0] / g) ** 2))


def dtlz2(x: np.ndarray, m: int = 3) -> tuple[float, ...]:
    g = float(((x[m - 1:] - 0.5) ** 2).sum())
    f = []
    for i in range(m):
        v = 1 + g
        for xj in x[:m - 1 - i]:
            v *= math.cos(xj * math.pi / 2)
        if i > 0:
            v *= math.sin(x[m - 1 - i] * math.pi / 2)
        f.append(float(v))
    return tuple(f)


PROBLEMS = [Problem("ZDT1", 6, 2, zdt1, (1.1, 11.0)), Problem("ZDT2", 6, 2, zdt2, (1.1, 11.0)),
            Problem("DTLZ2", 7, 3, dtlz2, (2.5, 2.5, 2.5))]


def run_ours(method: str, p: Problem, budget: int, seed: int) -> list[tuple[float, ...]]:
    from hpsearch.space import Space
    from searchers import create_searcher

    space = Space.from_spec({f"x{i}": {"uniform": [0.0, 1.0]} for i in range(p.n_vars)})
    objectives = [(f"f{k}", "min") for k in range(p.n_obj)]
    options = {"genetic": {"population_size": 12, "elitism": 4}, "bayesian": {}, "random": {}}[method]
    s = create_searcher(method, space, metric="f0", mode="min", seed=seed, max_trials=budget,
                        objectives=objectives, **options)
    points = []
    for i in range(budget):
        config = s.suggest(str(i))
        f = p.f(np.array([config[f"x{k}"] for k in range(p.n_vars)]))
        points.append(f)
        s.on_trial_complete(str(i), {f"f{k}": v for k, v in enumerate(f)})
    return points


def run_optuna(method: str, p: Problem, budget: int, seed: int) -> list[tuple[float, ...]]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (optuna.samplers.NSGAIISampler(seed=seed, population_size=12) if method == "optuna-nsga2"
               else optuna.samplers.TPESampler(seed=seed))
    study = optuna.create_study(directions=["minimize"] * p.n_obj, sampler=sampler)
    points = []

    def objective(trial):
        x = np.array([trial.suggest_float(f"x{k}", 0.0, 1.0) for k in range(p.n_vars)])
        f = p.f(x)
        points.append(f)
        return f

    study.optimize(objective, n_trials=budget)
    return points


def test_problems(budget: int, seeds: int, log) -> list[dict]:
    rows = []
    for p in PROBLEMS:
        for method in METHODS:
            t0 = time.time()
            hvs = []
            for seed in range(seeds):
                run = run_optuna if method.startswith("optuna") else run_ours
                hvs.append(mo.hypervolume(run(method, p, budget, seed), p.reference))
            rows.append({"problem": p.name, "method": method, "hv": hvs, "s": time.time() - t0})
            log(f"{p.name:6} {method:13} median HV {statistics.median(hvs):.4f} "
                f"({time.time() - t0:.0f} s)")
    return rows


# -- the real case: CNN on digits, accuracy against size ------------------------------------

CNN_SPACE = {
    "lr": {"loguniform": [1e-3, 2e-2]},
    "channels": {"logint": [4, 32]},
    "prune": {"uniform": [0.0, 0.9]},
    "quantize": {"choice": ["none", "dynamic_int8", "static_int8"]},
}
CNN_FIXED = {"epochs": 3, "train_samples": 600, "conv_layers": 2, "prune_finetune_epochs": 1}
CNN_REFERENCE = {"val_accuracy": 0.0, "model_kb": 200.0}


CNN_TIGHT_KB = 20.0  # a second reference, for diagnosis: only the small-model end counts
# Each front configuration trained again with these seeds (never a run's own): the front's
# hypervolume on their mean accuracy is the search's, not one initialisation's luck.
CNN_RESEEDS = (1001, 1002, 1003)


def cnn_case(budgets: list[int], seeds: int, log) -> list[dict]:
    from hpsearch.space import Space
    from searchers import create_searcher
    from trainables import _harness, cnn

    space = Space.from_spec(CNN_SPACE)
    objectives = mo.Objectives.parse([{"metric": "val_accuracy", "mode": "max", "reference": 0.0},
                                      {"metric": "model_kb", "mode": "min", "reference": 200.0}])
    rows = []
    for budget in budgets:
        for method in ("genetic", "bayesian", "random"):
            for seed in range(seeds):
                t0 = time.time()
                # As a study with this spec builds it: each objective with its reference.
                s = create_searcher(method, space, metric="val_accuracy", mode="max", seed=seed,
                                    max_trials=budget,
                                    objectives=[(o.metric, o.mode, o.reference) for o in objectives.items],
                                    **({"population_size": 6, "elitism": 2} if method == "genetic" else
                                       {"n_initial_points": 5} if method == "bayesian" else {}))
                vectors, configs = [], []
                for i in range(budget):
                    config = s.suggest(str(i))
                    last = _harness.run(cnn.RECIPE, {**CNN_FIXED, **config, "seed": seed}, device="cpu")[-1]
                    if objectives.to_min(last):
                        vectors.append(objectives.to_min(last))
                        configs.append(config)
                    s.on_trial_complete(str(i), last)
                hv = mo.hypervolume(vectors, objectives.reference_min())
                tight = mo.hypervolume(vectors, (0.0, CNN_TIGHT_KB))
                on_front = mo.nondominated(vectors)
                front = [vectors[i] for i in on_front]
                again = []
                for i in on_front:
                    runs = [objectives.to_min(_harness.run(cnn.RECIPE, {**CNN_FIXED, **configs[i], "seed": r},
                                                           device="cpu")[-1]) for r in CNN_RESEEDS]
                    again.append(tuple(float(np.mean(col)) for col in zip(*runs)))
                rows.append({"budget": budget, "method": method, "seed": seed, "hv": hv, "tight": tight,
                             "best": -min(v[0] for v in vectors), "front": sorted(front),
                             "hv_again": mo.hypervolume(again, objectives.reference_min()),
                             "tight_again": mo.hypervolume(again, (0.0, CNN_TIGHT_KB)),
                             "s": time.time() - t0})
                log(f"CNN {budget} {method:9} seed {seed}: HV {hv:.2f} (<= {CNN_TIGHT_KB:g} KiB: {tight:.2f}; "
                    f"front retrained: {rows[-1]['hv_again']:.2f}, {rows[-1]['tight_again']:.2f}), "
                    f"front {[(round(-a, 3), round(k, 1)) for a, k in sorted(front)]} ({time.time() - t0:.0f} s)")
    return rows


# -- report ----------------------------------------------------------------------------------

def _q(values: list[float]) -> str:
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return f"{med:.4g} ({q1:.4g}-{q3:.4g})"


def report(problems: list[dict], cnn_rows: list[dict], args, machine: dict) -> str:
    out = ["# Multi-objective search and compression (#17)", "",
           f"`python -m benchmarks.multiobjective{' --quick' if args.quick else ''}"
           f"{' --only ' + args.only if args.only else ''}` "
           f"({C.machine_line(machine)}).", ""]
    if problems:
        out += [f"## Hypervolume after {args.budget} evaluations, median (quartiles) over {args.seeds} seeds",
                "", "Higher is better. Reference points: ZDT (1.1, 11), DTLZ2 (2.5, 2.5, 2.5). "
                "Each method suggests one point at a time (no Ray); genetic = NSGA-II (population 12), "
                "bayesian = ParEGO on a GP, Optuna's NSGAIISampler (population 12) and TPESampler "
                "(multi-objective) with their defaults otherwise.", "",
                "| problem | " + " | ".join(METHODS) + " | best of ours / best Optuna |",
                "|---|" + "---|" * (len(METHODS) + 1)]
        for name in dict.fromkeys(r["problem"] for r in problems):
            by = {r["method"]: r["hv"] for r in problems if r["problem"] == name}
            ours = max(statistics.median(by[m]) for m in ("genetic", "bayesian", "random"))
            theirs = max(statistics.median(by[m]) for m in ("optuna-nsga2", "optuna-tpe"))
            out.append(f"| {name} | " + " | ".join(_q(by[m]) for m in METHODS)
                       + f" | {ours / theirs:.3f} |")
        times = {m: sum(r["s"] for r in problems if r["method"] == m) for m in METHODS}
        out += ["", "Wall time per method over all problems and seeds: "
                + ", ".join(f"{m} {t:.0f} s" for m, t in times.items()) + ".", ""]
    budgets = list(dict.fromkeys(r["budget"] for r in cnn_rows))
    title = f"## CNN on digits: val_accuracy (max) against model_kb (min), {args.cnn_seeds} seeds"
    out += [] if not cnn_rows else [title,
            "", f"Searched: {CNN_SPACE}; fixed: {CNN_FIXED}. Hypervolume against the spec's "
            "reference (val_accuracy 0, model_kb 200), which the searchers are told as a study "
            "would tell them; each trial trained through the harness in this process with the "
            "run's seed, so the front is that of the trials' last reports. For diagnosis also the "
            f"hypervolume against (0, {CNN_TIGHT_KB:g} KiB), where only the small models count, and "
            "the best accuracy found at any size. *Front retrained*: each front configuration trained "
            f"again with seeds {CNN_RESEEDS} (never a run's own) and the hypervolume taken on its mean "
            "accuracy and size, so that a front is scored for its configurations, not for one "
            "initialisation's luck.", ""]
    for budget in budgets:
        out += [f"### {budget} trials", "",
                f"| method | median HV (ref 200 KiB) | per seed | median HV (ref {CNN_TIGHT_KB:g} KiB) "
                "| median best accuracy | front retrained: median HV (ref 200; ref "
                f"{CNN_TIGHT_KB:g}) | front points (accuracy, KiB), seed 0 |", "|---|---|---|---|---|---|---|"]
        for method in ("genetic", "bayesian", "random"):
            rows = [r for r in cnn_rows if r["method"] == method and r["budget"] == budget]
            hvs = [r["hv"] for r in rows]
            front = ", ".join(f"({-a:.3f}, {k:.1f})" for a, k in rows[0]["front"])
            out.append(f"| {method} | {statistics.median(hvs):.2f} | {', '.join(f'{h:.1f}' for h in hvs)} "
                       f"| {statistics.median(r['tight'] for r in rows):.2f} "
                       f"| {statistics.median(r['best'] for r in rows):.3f} "
                       f"| {statistics.median(r['hv_again'] for r in rows):.2f}; "
                       f"{statistics.median(r['tight_again'] for r in rows):.2f} | {front} |")
        out.append("")
    out += ["", "Distillation (a student against the same student alone): "
            "[distillation.md](distillation.md).", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (tiny budgets, 2 seeds)")
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--cnn-budgets", default="16,40", help="comma-separated trial budgets")
    parser.add_argument("--cnn-seeds", type=int, default=5)
    parser.add_argument("--only", choices=("problems", "cnn"), help="run one part only")
    parser.add_argument("--out", default=str(C.RESULTS / "multiobjective.md"))
    args = parser.parse_args(argv)
    if args.quick:
        args.budget, args.seeds, args.cnn_budgets, args.cnn_seeds = 16, 2, "6", 1
    log = lambda s: print(s, flush=True)  # noqa: E731
    machine = C.machine()
    problems = [] if args.only == "cnn" else test_problems(args.budget, args.seeds, log)
    cnn_rows = ([] if args.only == "problems" else
                cnn_case([int(b) for b in args.cnn_budgets.split(",")], args.cnn_seeds, log))
    text = report(problems, cnn_rows, args, machine)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
