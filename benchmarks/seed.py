"""Seed a database with a big study and many small ones, fast (SQLAlchemy core bulk inserts).

The serving benchmark, and anyone tuning a slow page, needs the same data:
one study of ``trials`` finished trials with ``reports`` results each (six
mixed parameters, three metrics per result, a status history per trial) and
``studies - 1`` small studies of mixed status, so the studies page has
``studies`` rows. The schema comes from the store itself (``Store(url)``
upgrades an empty database), so the data is exactly what the service reads::

    .venv/bin/python -m benchmarks.seed --db sqlite:////tmp/big.db            # 10,000 x 20 + 1,000
    .venv/bin/python -m benchmarks.seed --db sqlite:////tmp/s.db --trials 200 --studies 20

    >>> from benchmarks.seed import seed                     # doctest: +SKIP
    >>> seed("sqlite:////tmp/big.db")["study_id"]            # doctest: +SKIP

It prints (and ``seed`` returns) the big study's id and name and the row counts.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import insert, select

from hpsearch.store import Store
from hpsearch.store.models import Result, Study, StudyStatus, Trial, TrialEvent, TrialStatus

BIG_NAME = "bench-big"
CHUNK = 20_000
T0 = datetime(2026, 1, 1)
OPTIMIZERS = ("adam", "sgd", "rmsprop")


def _spec(name: str, trials: int) -> dict:
    return {
        "name": name, "trainable": "cnn", "dataset": "digits", "metric": "val_loss", "mode": "min",
        "space": {"lr": {"loguniform": [1e-5, 1e-1]}, "dropout": {"uniform": [0.0, 0.5]},
                  "layers": {"int": [1, 6]}, "hidden": {"logint": [8, 512]},
                  "optimizer": {"choice": list(OPTIMIZERS)}, "batch_size": {"choice": [32, 64, 128]}},
        "fixed": {"epochs": 20}, "searcher": {"type": "random"}, "scheduler": {"type": "asha"},
        "budget": {"trials": trials, "max_concurrent": 8, "max_failures": 0},
        "resources": {"cpu": 1.0, "gpu": 0.0, "custom": {}}, "seed": 0, "warm_start": [],
        "description": "seeded by benchmarks/seed.py",
    }


def _study_row(name: str, trials: int, status: str, created: datetime) -> dict:
    done = status in StudyStatus.FINISHED
    return {"name": name, "status": status, "owner": "bench", "trainable": "cnn",
            "searcher": "random", "scheduler": "asha", "metric": "val_loss", "mode": "min",
            "n_trials": trials, "spec": _spec(name, trials), "spec_hash": "0" * 16,
            "created_at": created, "started_at": created,
            "finished_at": created + timedelta(hours=1) if done else None,
            "cancel_requested": False}


def _params(rng: np.random.Generator) -> dict:
    return {"lr": float(10 ** rng.uniform(-5, -1)), "dropout": float(rng.uniform(0, 0.5)),
            "layers": int(rng.integers(1, 7)), "hidden": int(round(2 ** rng.uniform(3, 9))),
            "optimizer": OPTIMIZERS[int(rng.integers(3))], "batch_size": int(rng.choice([32, 64, 128]))}


def _final_loss(p: dict) -> float:
    return (0.05 + 0.1 * (math.log10(p["lr"]) + 3) ** 2 + (p["dropout"] - 0.15) ** 2
            + 0.02 * abs(p["layers"] - 3) + 0.05 * (p["optimizer"] != "adam"))


def _trial_rows(study_id: int, n: int, reports: int, rng: np.random.Generator,
                start: datetime) -> tuple[list[dict], list[tuple[int, str, float, int]]]:
    """Trial rows, and per trial (number, status, final value, iterations) for its results."""
    rows, plan = [], []
    for number in range(n):
        p = _params(rng)
        u = rng.random()
        status = (TrialStatus.ERROR if u < 0.03 else
                  TrialStatus.EARLY_STOPPED if u < 0.33 else TrialStatus.COMPLETED)
        final = _final_loss(p) * float(rng.uniform(0.9, 1.1))
        iters = reports  # errors too: exactly trials x reports rows
        value = None if status == TrialStatus.ERROR else final
        t = start + timedelta(seconds=30 * number)
        rows.append({"study_id": study_id, "number": number, "ray_trial_id": f"{number:08x}",
                     "params": p, "status": status, "value": value,
                     "best_value": value, "iterations": iters if reports else 0,
                     "error": "Traceback (most recent call last):\nRuntimeError: diverged"
                     if status == TrialStatus.ERROR else None,
                     "started_at": t, "finished_at": t + timedelta(seconds=25), "heartbeat_at": t})
        plan.append((number, status, final, iters if reports else 0))
    return rows, plan


def _insert_chunks(conn, table, rows) -> None:
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(table), rows[i:i + CHUNK])


def _fill_trials(conn, study_id: int, n: int, reports: int, rng: np.random.Generator,
                 start: datetime) -> int:
    """Insert ``n`` trials (with events and results) into a study; returns results inserted."""
    rows, plan = _trial_rows(study_id, n, reports, rng, start)
    _insert_chunks(conn, Trial.__table__, rows)
    ids = dict(conn.execute(select(Trial.number, Trial.id).where(Trial.study_id == study_id)).all())
    events = []
    for number, status, _, _ in plan:
        t = start + timedelta(seconds=30 * number)
        events.append({"trial_id": ids[number], "status": TrialStatus.RUNNING, "at": t,
                       "message": None})
        events.append({"trial_id": ids[number], "status": status, "at": t + timedelta(seconds=25),
                       "message": None})
    _insert_chunks(conn, TrialEvent.__table__, events)
    count, batch = 0, []
    for number, _, final, iters in plan:
        tid, t = ids[number], start + timedelta(seconds=30 * number)
        for it in range(1, iters + 1):
            val = final * (1 + 2.0 / it)
            batch.append({"trial_id": tid, "iteration": it, "value": val,
                          "metrics": {"val_loss": val, "train_loss": val * 0.9,
                                      "val_accuracy": 1 - val / 3, "training_iteration": it,
                                      "time_total_s": 1.2 * it},
                          "created_at": t + timedelta(seconds=it)})
        if len(batch) >= CHUNK:
            conn.execute(insert(Result.__table__), batch)
            count += len(batch)
            batch = []
    if batch:
        conn.execute(insert(Result.__table__), batch)
        count += len(batch)
    return count


def seed(url: str, *, trials: int = 10_000, reports: int = 20, studies: int = 1_000,
         small_trials: int = 5, seed: int = 0, name: str = BIG_NAME) -> dict:
    """Fill ``url`` (created and upgraded if empty) and return ids and counts."""
    if trials < 1 or reports < 0 or studies < 1 or small_trials < 0:
        raise ValueError("trials and studies must be >= 1, reports and small_trials >= 0")
    started = time.perf_counter()
    store = Store(url)
    rng = np.random.default_rng(seed)
    statuses = [StudyStatus.COMPLETED] * 6 + [StudyStatus.FAILED, StudyStatus.CANCELLED,
                                              StudyStatus.QUEUED, StudyStatus.RUNNING]
    with store.engine.begin() as conn:
        if conn.scalar(select(Study.id).where(Study.name == name)) is not None:
            raise ValueError(f"the database already holds a study named {name!r}")
        small = [_study_row(f"{name}-small-{i:05d}", small_trials, statuses[i % len(statuses)],
                            T0 + timedelta(minutes=i)) for i in range(studies - 1)]
        if small:
            _insert_chunks(conn, Study.__table__, small)
        conn.execute(insert(Study.__table__),
                     [_study_row(name, trials, StudyStatus.COMPLETED, T0 + timedelta(days=30))])
        ids = dict(conn.execute(select(Study.name, Study.id)
                                .where(Study.name.like(f"{name}%"))).all())
        big_id = ids[name]
        n_results = _fill_trials(conn, big_id, trials, reports, rng, T0 + timedelta(days=30))
        if small_trials:
            rows = []
            for row in small:
                sid = ids[row["name"]]
                rows += _trial_rows(sid, small_trials, 0, rng, row["created_at"])[0]
            _insert_chunks(conn, Trial.__table__, rows)
    store.dispose()
    return {"url": store.safe_url, "study_id": big_id, "study_name": name, "trials": trials,
            "results": n_results, "studies": studies,
            "seconds": round(time.perf_counter() - started, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="database URL, e.g. sqlite:////tmp/big.db")
    parser.add_argument("--trials", type=int, default=10_000, help="trials of the big study")
    parser.add_argument("--reports", type=int, default=20, help="results per trial")
    parser.add_argument("--studies", type=int, default=1_000, help="studies in all")
    parser.add_argument("--small-trials", type=int, default=5, help="trials per small study")
    parser.add_argument("--name", default=BIG_NAME, help="the big study's name")
    args = parser.parse_args(argv)
    try:
        out = seed(args.db, trials=args.trials, reports=args.reports, studies=args.studies,
                   small_trials=args.small_trials, name=args.name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
