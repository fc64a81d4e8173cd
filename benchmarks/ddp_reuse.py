"""Data-parallel trials one after another: how long a trial waits for its workers (#21 §2).

Two studies of two-worker trials (``resources: {workers: 2, cpu: 1}``, gloo), 2 at once,
on one local Ray, each trial ``benchmarks._trials:ddp_sleeper`` (every worker sleeps
1 s a round and reports; rank 0 records when its loop started):

- ``fifo``: 6 trials of 5 rounds;
- ``asha``: 10 trials of 6 rounds under ASHA (grace 1, reduction factor 3): most are
  stopped after their first round.

For each trial, from the store: its start, its end, and the seconds from its start to
its workers' first round (a new Ray Train run's start, or next to nothing on workers
an earlier trial of the same trial process left: hpsearch/ddp.py). Reported: the
study's span (first start to last end), and those waits for the trials that took over
workers (first round within 5 s) and for the others.

    .venv/bin/python -m benchmarks.ddp_reuse              # writes results/ddp_reuse.md
    .venv/bin/python -m benchmarks.ddp_reuse --quick --out /tmp/r   # 4 trials of 2 rounds each
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks import _common as C

TOOK_OVER_S = 5.0  # sooner: the trial trained on workers it found (a new run takes 15 s or more
# here; a trial after a stopped one waits for the round its workers are in, 1 s)


def spec(name: str, trials: int, rounds: int, scheduler: dict) -> dict:
    return {"name": name, "trainable": "benchmarks._trials:ddp_sleeper", "metric": "loss",
            "mode": "min", "space": {"x": {"uniform": [0, 1]}},
            "fixed": {"epochs": rounds, "sleep": 1.0}, "searcher": {"type": "random"},
            "scheduler": scheduler, "budget": {"trials": trials, "max_concurrent": 2},
            "resources": {"workers": 2, "cpu": 1}, "seed": 0}


STUDIES = {"fifo": spec("fifo", 6, 5, {"type": "fifo"}),
           "asha": spec("asha", 10, 6, {"type": "asha", "grace_period": 1,
                                         "reduction_factor": 3})}


def measure(name: str, work: Path, quick: bool = False) -> dict:
    import hpsearch
    from hpsearch.store import Store

    study_spec = dict(STUDIES[name])
    if quick:  # a smoke run: 4 trials of 2 rounds
        study_spec = {**study_spec, "fixed": {"epochs": 2, "sleep": 1.0},
                      "budget": {"trials": 4, "max_concurrent": 2}}
    home = os.environ.get("HPSEARCH_HOME")
    os.environ["HPSEARCH_HOME"] = str(work / name)  # this study's own SQLite store
    try:
        t0 = time.time()
        study = hpsearch.run(study_spec, progress=False)
        wall = time.time() - t0
        store = Store()
    finally:
        if home is None:
            os.environ.pop("HPSEARCH_HOME", None)
        else:
            os.environ["HPSEARCH_HOME"] = home
    trials = []
    for t in store.trials(study.id):
        results = store.results(t.id)
        if not results or t.started_at is None or t.finished_at is None:
            continue
        start = t.started_at.timestamp()
        trials.append({"status": t.status.value if hasattr(t.status, "value") else str(t.status),
                       "start": start, "end": t.finished_at.timestamp(),
                       "wait": results[0].metrics["t_train0"] - start, "rounds": len(results)})
    store.dispose()
    span = max(t["end"] for t in trials) - min(t["start"] for t in trials)
    return {"study": name, "wall_s": wall, "span_s": span, "trials": trials}


def report(rows: list[dict], m: dict) -> str:
    table = []
    for r in rows:
        waits = [t["wait"] for t in r["trials"]]
        took = [w for w in waits if w < TOOK_OVER_S]
        new = [w for w in waits if w >= TOOK_OVER_S]
        statuses: dict[str, int] = {}
        for t in r["trials"]:
            statuses[t["status"]] = statuses.get(t["status"], 0) + 1
        table.append([r["study"], len(waits), ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
                      round(r["span_s"], 1), f"{len(took)} of {len(waits)}",
                      "-" if not took else f"{max(took):.2f}",
                      "-" if not new else f"{C.median(new):.1f}"])
    return "\n".join([
        "# Data-parallel trials one after another (#21 §2)", "", C.machine_line(m), "",
        "Two-worker trials (gloo, 1 CPU each), 2 at once, one local Ray; every round 1 s of "
        "sleep on each worker. Run: `python -m benchmarks.ddp_reuse`. A trial 'took over' "
        f"workers when its first round began within {TOOK_OVER_S:.0f} s of its start.", "",
        C.table(["study", "trials", "statuses", "first start to last end s",
                 "took over workers", "their wait, worst s", "the others' wait, median s"], table),
        ""])


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=C.RESULTS)
    parser.add_argument("--quick", action="store_true", help="4 trials of 2 rounds: a smoke run")
    args = parser.parse_args(argv)
    m = C.machine()
    C.start_ray()
    rows = []
    with tempfile.TemporaryDirectory(prefix="hps-ddp-reuse-") as work:
        for name in STUDIES:
            rows.append(measure(name, Path(work), args.quick))
            r = rows[-1]
            print(f"{name}: {r['span_s']:.1f} s, waits "
                  f"{[round(t['wait'], 1) for t in sorted(r['trials'], key=lambda t: t['start'])]}",
                  flush=True)
    C.write("ddp_reuse.md", report(rows, m), args.out)
    return rows


if __name__ == "__main__":
    main()
