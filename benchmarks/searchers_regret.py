"""Simple regret of the searchers against Optuna's TPE on three test functions.

Each searcher is driven directly (suggest, then on_trial_complete, one trial at
a time; no Ray) on Branin (2-D), Hartmann-6 and a 4-D Rosenbrock, for several
seeds at the same budget. Writes a table of the median and quartiles of simple
regret (best value found minus the known optimum) after 25/50/100 evaluations
and a plot of the median curve with its interquartile band::

    .venv/bin/python -m benchmarks.searchers_regret            # 10 seeds, ~5-10 min on 2 cores
    .venv/bin/python -m benchmarks.searchers_regret --quick    # smoke run, ~1 min

``--warping`` measures bayesian's ``warping: logit`` against ``none`` instead, at 50
evaluations 2 in parallel, on Hartmann-6 (optimum inside the box) and on
Rosenbrock-4 over [1, 3]^4 (optimum on a corner: every parameter on its bound),
and writes that section of ``results/searchers_regret.md``.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from benchmarks import _common as C
from hpsearch.space import Float, Space

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("bayesian", "tpe", "genetic", "random")


@dataclass(frozen=True)
class Problem:
    name: str
    bounds: tuple[tuple[float, float], ...]
    f: Callable[[np.ndarray], float]
    optimum: float


def branin(x: np.ndarray) -> float:
    x1, x2 = x
    b, c, t = 5.1 / (4 * math.pi ** 2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                 [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                        [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])


def hartmann6(x: np.ndarray) -> float:
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(_H_A * (x - _H_P) ** 2, axis=1))))


def rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


# Optimum on a bound (measured by --warping only): Rosenbrock's minimum (1, 1, 1, 1) is a corner.
BOUND_PROBLEMS = {
    "rosenbrock4-corner": Problem("rosenbrock4-corner", ((1.0, 3.0),) * 4, rosenbrock, 0.0),
}

PROBLEMS = {
    "branin": Problem("branin", ((-5.0, 10.0), (0.0, 15.0)), branin, 0.397887357729739),
    "hartmann6": Problem("hartmann6", ((0.0, 1.0),) * 6, hartmann6, -3.32236801141551),
    "rosenbrock4": Problem("rosenbrock4", ((-2.0, 2.0),) * 4, rosenbrock, 0.0),
}


def run_one(method: str, problem_name: str, seed: int, budget: int) -> tuple[str, str, int, list[float], float]:
    """Best-so-far regret after each evaluation, and the wall time."""
    problem = PROBLEMS[problem_name]
    names = [f"x{i}" for i in range(len(problem.bounds))]
    values: list[float] = []
    start = time.perf_counter()
    if method == "tpe":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        for _ in range(budget):
            trial = study.ask()
            x = np.array([trial.suggest_float(n, lo, hi) for n, (lo, hi) in zip(names, problem.bounds)])
            values.append(problem.f(x))
            study.tell(trial, values[-1])
    else:
        from searchers import create_searcher

        space = Space([Float(n, lo, hi) for n, (lo, hi) in zip(names, problem.bounds)])
        # The budget and concurrency a study passes: genetic sizes its population from them.
        searcher = create_searcher(method, space, metric="value", mode="min", seed=seed,
                                   max_trials=budget, max_concurrent=1)
        for i in range(budget):
            config = searcher.suggest(str(i))
            values.append(problem.f(np.array([config[n] for n in names])))
            searcher.on_trial_complete(str(i), {"value": values[-1]})
    best = np.minimum.accumulate(values) - problem.optimum
    return method, problem_name, seed, [max(float(r), 0.0) for r in best], time.perf_counter() - start


def _star(args: tuple) -> tuple:
    return run_one(*args)


WARPING_PROBLEMS = ("hartmann6", "rosenbrock4-corner")
WARPING_HEADING = "## Input warping: bayesian `warping: logit` against `none`"


def _warping_run(task: tuple) -> dict:
    """One bayesian run, 25 rounds of 2: final regret and the share of model suggestions
    with two or more parameters within 0.5% of the range of a bound."""
    from searchers import create_searcher

    warping, problem_name, seed = task
    problem = {**PROBLEMS, **BOUND_PROBLEMS}[problem_name]
    names = [f"x{i}" for i in range(len(problem.bounds))]
    space = Space([Float(n, lo, hi) for n, (lo, hi) in zip(names, problem.bounds)])
    s = create_searcher("bayesian", space, metric="value", mode="min", seed=seed, max_trials=50,
                        max_concurrent=2, warping=warping)
    start = time.perf_counter()
    values, on_bound = [], []
    for r in range(25):
        configs = {f"{r}-{i}": s.suggest(f"{r}-{i}") for i in range(2)}
        for t, config in configs.items():
            if len(values) >= s.n_initial:  # the model's suggestions, not the design's
                unit = [(config[n] - lo) / (hi - lo) for n, (lo, hi) in zip(names, problem.bounds)]
                on_bound.append(sum(u < 0.005 or u > 0.995 for u in unit) >= 2)
            values.append(problem.f(np.array([config[n] for n in names])))
            s.on_trial_complete(t, {"value": values[-1]})
    return {"warping": warping, "problem": problem_name, "seed": seed,
            "regret": max(min(values) - problem.optimum, 0.0), "on_bound": float(np.mean(on_bound)),
            "seconds": time.perf_counter() - start}


def warping(seeds: int, jobs: int, out: Path) -> str:
    """Runs the warping comparison and writes its section into searchers_regret.md."""
    tasks = [(w, p, s) for p in WARPING_PROBLEMS for s in range(seeds) for w in ("none", "logit")]
    started, load, stamp = time.perf_counter(), os.getloadavg()[0], time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        runs = list(pool.imap_unordered(_warping_run, tasks))
    lines = [WARPING_HEADING, "",
             f"Command: `.venv/bin/python -m benchmarks.searchers_regret --warping --seeds {seeds}`: "
             f"bayesian with its defaults otherwise, 25 rounds of 2 in parallel (50 evaluations), "
             f"{seeds} seeds, {jobs} worker process(es); started {stamp} UTC, "
             f"load average at start {load:.1f}, wall time {time.perf_counter() - started:.0f} s. "
             "Hartmann-6's optimum is inside the box; Rosenbrock-4 over [1, 3]^4 has its optimum "
             "on a corner. 'On a bound': the share of the model's suggestions (after the design) "
             "with two or more parameters within 0.5% of the range of a bound.", "",
             "| function | warping | median regret [25th-75th] | mean regret | on a bound | s / run |",
             "|---|---|---|---|---|---|"]
    for p in WARPING_PROBLEMS:
        for w in ("none", "logit"):
            rs = [r for r in runs if r["problem"] == p and r["warping"] == w]
            reg = [r["regret"] for r in rs]
            q1, med, q3 = np.percentile(reg, [25, 50, 75])
            lines.append(f"| {p} | {w} | {med:.3g} [{q1:.3g}-{q3:.3g}] | {np.mean(reg):.3g} | "
                         f"{100 * np.mean([r['on_bound'] for r in rs]):.0f}% | "
                         f"{np.mean([r['seconds'] for r in rs]):.1f} |")
    section = "\n".join(lines) + "\n"
    path = out / "searchers_regret.md"
    text = path.read_text() if path.exists() else ""
    text = text.split(WARPING_HEADING)[0].rstrip("\n")
    path.write_text((text + "\n\n" if text else "") + section)
    return section


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, 50 evaluations: a smoke run")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--warping", action="store_true", help="bayesian warping: logit against none")
    args = parser.parse_args(argv)
    if args.warping:
        print(warping(args.seeds, args.jobs, args.out))
        return
    seeds, budget = (3, 50) if args.quick else (args.seeds, args.budget)
    checkpoints = [n for n in (25, 50, 100) if n <= budget]

    # The bayesian runs dominate: start them first so the pool ends together.
    tasks = [(m, p, s, budget) for m in METHODS for p in PROBLEMS for s in range(seeds)]
    started, at_start = time.perf_counter(), C.machine()
    # One BLAS thread per worker: the processes already use the cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        runs = list(pool.imap_unordered(_star, tasks))
    elapsed = time.perf_counter() - started

    curves: dict[tuple[str, str], np.ndarray] = {}
    seconds: dict[tuple[str, str], float] = {}
    for method, problem, _seed, regret, wall in sorted(runs, key=lambda r: r[:3]):
        curves.setdefault((method, problem), []).append(regret)
        seconds[method, problem] = seconds.get((method, problem), 0.0) + wall
    curves = {k: np.array(v) for k, v in curves.items()}

    args.out.mkdir(parents=True, exist_ok=True)
    table = _table(curves, seconds, checkpoints, seeds, budget, elapsed, args, at_start)
    old = (args.out / "searchers_regret.md").read_text() if (args.out / "searchers_regret.md").exists() else ""
    kept = old[old.index(WARPING_HEADING):] if WARPING_HEADING in old else ""  # --warping's section
    (args.out / "searchers_regret.md").write_text(table + ("\n" + kept if kept else ""))
    _plot(curves, args.out / "searchers_regret.png")
    print(table)


def _flags(args) -> str:
    if args.quick:
        return " --quick"
    return (f" --seeds {args.seeds}" if args.seeds != 10 else "") + (f" --budget {args.budget}" if args.budget != 100 else "")


def _table(curves, seconds, checkpoints, seeds, budget, elapsed, args, at_start) -> str:
    lines = [
        "# Searcher regret benchmark",
        "",
        f"Command: `.venv/bin/python -m benchmarks.searchers_regret{_flags(args)}`. "
        f"{seeds} seeds, {budget} sequential evaluations per run, default options of every searcher "
        "with the budget and concurrency (1) a study passes (bayesian: GP, gp_hedge, a Sobol design of "
        "d + 2 points; genetic: population 1.5 x sqrt(budget) within [4, 20]), Optuna "
        f"`TPESampler(seed=s)` with its defaults. {args.jobs} worker processes; total wall time "
        f"{elapsed:.0f} s. " + C.machine_line(at_start),
        "",
        "Simple regret = best value found so far minus the known minimum; "
        "median [25th-75th percentile] over seeds. Lower is better.",
        "",
    ]
    for problem in PROBLEMS:
        lines += [f"## {problem}", "", "| searcher | " + " | ".join(f"after {n}" for n in checkpoints)
                  + " | s / run |", "|---|" + "---|" * (len(checkpoints) + 1)]
        for method in METHODS:
            c = curves[method, problem]
            cells = []
            for n in checkpoints:
                q1, med, q3 = np.percentile(c[:, n - 1], [25, 50, 75])
                cells.append(f"{med:.3g} [{q1:.3g}-{q3:.3g}]")
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {seconds[method, problem] / len(c):.1f} |")
        lines.append("")
    return "\n".join(lines)


def _plot(curves, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PROBLEMS), figsize=(5 * len(PROBLEMS), 4), constrained_layout=True)
    for ax, problem in zip(axes, PROBLEMS):
        for method in METHODS:
            c = np.maximum(curves[method, problem], 1e-8)
            x = np.arange(1, c.shape[1] + 1)
            q1, med, q3 = np.percentile(c, [25, 50, 75], axis=0)
            ax.plot(x, med, label=method)
            ax.fill_between(x, q1, q3, alpha=0.2)
        ax.set(title=problem, xlabel="evaluations", ylabel="simple regret", yscale="log")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
