"""Trials that checkpoint every epoch: hpsearch against bare Ray Tune as the study grows (#21 §0).

The built-in families save a checkpoint with every epoch's report. Here each trial is 4
reports, each with a checkpoint (a one-file directory), and nothing else: what is measured
is the driver's work per trial and per checkpoint. hpsearch (SQLite) and bare Ray Tune
(the same trainable, `CheckpointConfig(num_to_keep=2)` as hpsearch sets it, 2 trials at
once, actor reuse) run in turn on one local Ray, at each size.

Reported per size: each one's wall time, the ratio hpsearch / bare Ray Tune, the time per
trial (flat as the study grows, or not), and how often Tune saved its whole experiment
state (``TuneController.save_to_dir``, counted in this process) and the seconds that took.
Tune as shipped forces that save whenever a trial has checkpointed ``num_to_keep`` times
since the last one; hpsearch never restores that state and turns the forced save off
(hpsearch/tune_state.py).

    .venv/bin/python -m benchmarks.checkpointing                 # results/checkpointing.md
    .venv/bin/python -m benchmarks.checkpointing --quick --out /tmp/r
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks import _common as C

TRAINABLE = "bench-ckpt"
EPOCHS = 4
CONCURRENCY = 2
KEEP = 2  # checkpoints kept per trial: hpsearch's setting (hpsearch/orchestration.py)


def _make_trainable():
    # Built in a function so cloudpickle ships it by value to the Ray workers.
    def ckpt(config: dict) -> None:
        import json
        import tempfile as tf

        from ray import tune

        for epoch in range(1, int(config.get("epochs", EPOCHS)) + 1):
            with tf.TemporaryDirectory() as d:
                with open(os.path.join(d, "state.json"), "w") as f:
                    json.dump({"epoch": epoch}, f)
                tune.report({"loss": float(config["x"]) ** 2 / epoch},
                            checkpoint=tune.Checkpoint.from_directory(d))

    return ckpt


class _Saves:
    """Tune's experiment-state saves in this process while inside (count and seconds)."""

    def __enter__(self):
        from ray.tune.execution.tune_controller import TuneController

        self.n, self.s, self._original = 0, 0.0, TuneController.save_to_dir
        original = self._original

        def save_to_dir(controller):
            t = time.perf_counter()
            try:
                return original(controller)
            finally:
                self.n += 1
                self.s += time.perf_counter() - t

        TuneController.save_to_dir = save_to_dir
        return self

    def __exit__(self, *exc):
        from ray.tune.execution.tune_controller import TuneController

        TuneController.save_to_dir = self._original


def run_hpsearch(n: int, work: Path) -> dict:
    import hpsearch
    import trainables
    from hpsearch.store import TrialStatus

    trainables.register(TRAINABLE, _make_trainable(), metrics=("loss",), metric="loss", mode="min")
    spec = {"name": f"ckpt-{uuid.uuid4().hex[:8]}", "trainable": TRAINABLE, "metric": "loss",
            "mode": "min", "space": {"x": {"uniform": [-1.0, 1.0]}},
            "fixed": {"epochs": EPOCHS}, "searcher": {"type": "random"},
            "budget": {"trials": n, "max_concurrent": CONCURRENCY}, "resources": {"cpu": 1},
            "seed": 0}
    url = f"sqlite:///{work / f'ckpt-{n}.db'}"
    with _Saves() as saves:
        t = time.perf_counter()
        study = hpsearch.run(spec, db=url, progress=False)
        wall = time.perf_counter() - t
    done = sum(1 for tr in study.trials if tr.status == TrialStatus.COMPLETED)
    study.store.dispose()
    if done != n:
        raise RuntimeError(f"hpsearch completed {done} trials, expected {n}")
    return {"wall": wall, "saves": saves.n, "save_s": saves.s}


def run_bare(n: int, work: Path) -> dict:
    import searchers
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    from hpsearch.space import Space

    space = {"x": {"uniform": [-1.0, 1.0]}}
    searcher = searchers.create_searcher("random", Space.from_spec(space), metric="loss",
                                         mode="min", seed=0, max_trials=n)
    tuner = tune.Tuner(
        tune.with_resources(_make_trainable(), {"cpu": 1}),
        param_space={"epochs": EPOCHS},
        tune_config=tune.TuneConfig(search_alg=ConcurrencyLimiter(searcher, CONCURRENCY),
                                    num_samples=n, reuse_actors=True),
        run_config=tune.RunConfig(name=f"bare-ckpt-{uuid.uuid4().hex[:6]}",
                                  storage_path=str(work), verbose=0,
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=KEEP)))
    with _Saves() as saves:
        t = time.perf_counter()
        grid = tuner.fit()
        wall = time.perf_counter() - t
    if len(grid) != n or grid.errors:
        raise RuntimeError(f"bare Ray Tune ran {len(grid)} trials ({len(grid.errors)} errors), "
                           f"expected {n}")
    return {"wall": wall, "saves": saves.n, "save_s": saves.s}


def measure(sizes: list[int], work: Path, log=print) -> list[dict]:
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = []
    for n in sizes:
        row = {"trials": n}
        # bare first at each size: its workers warm for neither more than the other
        for name, fn in (("bare", run_bare), ("hpsearch", run_hpsearch)):
            row[name] = fn(n, work)
            log(f"{n} trials, {name}: {row[name]['wall']:.1f} s, {row[name]['saves']} saves "
                f"({row[name]['save_s']:.2f} s)")
        row["ratio"] = row["hpsearch"]["wall"] / row["bare"]["wall"]
        rows.append(row)
    return rows


def targets(rows: list[dict]) -> list[tuple[str, float | None, str]]:
    """For information (no target of its own; #21 §0's is the no-op trials' <= 1.10)."""
    out = []
    for r in rows:
        out.append((f"hpsearch / bare Ray Tune, {r['trials']} trials of {EPOCHS} checkpoints",
                    round(r["ratio"], 3), "for information: lower is faster than bare Ray Tune"))
    return out


def report(rows: list[dict], m: dict) -> str:
    lines = ["# Trials that checkpoint every epoch: hpsearch and bare Ray Tune", "",
             f"- {C.machine_line(m)}",
             f"- {EPOCHS} reports per trial, each with a checkpoint; {CONCURRENCY} trials at once; "
             f"`num_to_keep={KEEP}` for both; one local Ray; hpsearch on SQLite", "",
             "| trials | bare Ray Tune s | its state saves (s) | hpsearch s | its state saves (s) "
             "| hpsearch / bare | ms per trial, bare / hpsearch |",
             "|---:|---:|---|---:|---|---:|---|"]
    for r in rows:
        b, h, n = r["bare"], r["hpsearch"], r["trials"]
        lines.append(f"| {n} | {b['wall']:.1f} | {b['saves']} ({b['save_s']:.2f}) | "
                     f"{h['wall']:.1f} | {h['saves']} ({h['save_s']:.2f}) | {r['ratio']:.2f} | "
                     f"{1000 * b['wall'] / n:.0f} / {1000 * h['wall'] / n:.0f} |")
    lines += ["", "Tune as shipped saves its whole experiment state (every trial's state, "
              "pickled) each time a trial has checkpointed `num_to_keep` times since the last "
              "save, so its time per trial grows with the study. hpsearch does not restore "
              "that state (SQL is its record) and saves it at a study's start and end only "
              "(hpsearch/tune_state.py).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,400", help="comma-separated trial counts")
    parser.add_argument("--quick", action="store_true", help="10 and 30 trials: a smoke run")
    parser.add_argument("--out", type=Path, default=C.RESULTS)
    args = parser.parse_args(argv)
    sizes = [10, 30] if args.quick else [int(s) for s in args.sizes.split(",")]
    os.environ.setdefault("HPSEARCH_HOME", tempfile.mkdtemp(prefix="hps-ckpt-home-"))
    with tempfile.TemporaryDirectory(prefix="hps-ckpt-") as work:
        rows = measure(sizes, Path(work), log=lambda s: print(s, flush=True))
    C.write("checkpointing.md" if not args.quick else "checkpointing_quick.md",
            report(rows, C.machine()), args.out)
    return rows


if __name__ == "__main__":
    main()
