"""Past one machine, by simulation: where the first bottleneck is at 800 trials x 10 results/s.

No Ray: synthetic trials drive the REAL driver-side path, ``StoreCallback`` (its
``on_trial_start`` / ``on_trial_result`` / ``on_trial_complete`` / ``on_step_end``,
exactly as Tune's loop calls them, with Tune-shaped result dicts), its ``Writer``
thread and the PostgreSQL store. A cluster of 100 nodes x 8 GPUs runs 800 trials at
once; each reports 10 results a second, and a trial ends after ``--length`` results
and is replaced, so trials start and end all the time too.

Stages, each measured on this machine:

1. **driver loop + callback**: one driver process offers the 800 x 10/s load for
   ``--seconds``: in ticks of 10 ms it calls the callback for every result due,
   then sleeps for the rest of the tick. Measured: the callback's time per result,
   how far behind the offered schedule the loop fell (lag), the writer's queue.
2. **writer + database, flat out**: the same driver with no schedule (the loop as
   fast as it goes), to find the rate one driver's callback + writer + PostgreSQL
   sustain; and ``--drivers`` driver processes at once, each with its share of the
   trials (several drivers per study: the design's answer to a saturated driver).
3. **web queries on a large results table**: a study of ``--web-trials`` trials x
   ``--web-results`` results (seeded in bulk, benchmarks/seed.py) next to the rows
   the stages above wrote; the pages and APIs that read results, timed in-process
   through the real Flask app; then again after retention
   (hpsearch/store/retention.py) thins that study's curves to 200 points.

Ray Tune's own controller is not in the simulation (no Ray); its measured cost per
result on this machine is in benchmarks/results/writes.md (bare Ray Tune rows), and
docs/scaling.md puts the figures together::

    .venv/bin/python -m benchmarks.scale_sim                      # ~3 minutes
    .venv/bin/python -m benchmarks.scale_sim --quick --out /tmp/b
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
import uuid
from pathlib import Path

from benchmarks import _common as C
from benchmarks._db import fresh_pg, pg_available

TRIALS, PER_S = 800, 10.0   # 100 nodes x 8 GPUs, 10 results/s each
TICK_S = 0.01


class SimTrial:
    """What StoreCallback reads of a Tune trial."""

    def __init__(self, trial_id: str, x: float):
        self.trial_id = trial_id
        self.config = {"x": x, "lr": 0.001 * (1 + x)}
        self.checkpoint = None
        self.error_file = None
        self.last_result: dict = {}


def _result(trial: SimTrial, i: int, t: float) -> dict:
    """A result as Tune hands it to callbacks: the trainable's metrics and Tune's keys."""
    loss = (trial.config["x"] - 0.3) ** 2 + 1.0 / i
    return {"loss": loss, "accuracy": 1.0 - loss / 4, "lr": trial.config["lr"],
            "training_iteration": i, "time_total_s": 0.1 * i, "time_this_iter_s": 0.1,
            "timestamp": int(t), "done": False, "trial_id": trial.trial_id, "date": "2026-12-01",
            "hostname": "node-17", "node_ip": "10.0.0.17", "pid": 4242,
            "config": trial.config, "iterations_since_restore": i,
            "time_since_restore": 0.1 * i, "experiment_tag": "1_x=0.3"}


def _study(url: str, name: str) -> int:
    from sqlalchemy import insert, select

    from benchmarks.seed import _study_row
    from hpsearch.store import Store
    from hpsearch.store.models import Study, utcnow

    store = Store(url, pool_size=1, max_overflow=0, check_schema=False)
    with store.engine.begin() as conn:
        row = _study_row(name, 10**6, "RUNNING", utcnow())
        row.update(metric="loss", mode="min")
        conn.execute(insert(Study.__table__), [row])
        sid = conn.scalar(select(Study.id).where(Study.name == name))
    store.dispose()
    return sid


def drive(url: str, study_id: int, *, trials: int, per_s: float | None, seconds: float,
          length: int, prefix: str = "t", max_results: int | None = None,
          first_number: int = 0, ready=None, go=None) -> dict:
    """One driver: ``trials`` concurrent synthetic trials through the real callback.

    ``per_s``: results per trial per second (None: flat out, as fast as the loop goes,
    until ``max_results``). Several drivers of one study number their trials from
    different ``first_number`` blocks; ``ready``/``go`` start them together.
    """
    from hpsearch.tune_callback import RunContext, StoreCallback

    ctx = RunContext(url=url, study_id=study_id, metric="loss", mode="min",
                     param_names=("x", "lr"), first_number=first_number, heartbeat_s=5.0)
    cb = StoreCallback(ctx)
    writer = cb.writer
    active: list[list] = []   # [trial, iterations reported]
    made = 0
    live: list = []

    def start() -> None:
        nonlocal made
        trial = SimTrial(f"{prefix}{made:07d}", (made % 97) / 97)
        made += 1
        cb.on_trial_start(0, live, trial)
        active.append([trial, 0])

    for _ in range(trials):
        start()
    writer.flush(120)
    if ready is not None:
        ready.put(prefix)
        go.wait()
    due_per_tick = None if per_s is None else trials * per_s * TICK_S
    owed = 0.0
    results = ended = 0
    busy = 0.0          # seconds spent in callbacks
    lag_max = 0.0
    queue: list[int] = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    tick = 0
    k = 0               # round-robin position over the active trials
    while True:
        now = time.perf_counter()
        if per_s is not None:
            if now - t0 >= seconds:
                break
            scheduled = t0 + tick * TICK_S
            lag_max = max(lag_max, now - scheduled)
            owed += due_per_tick
            todo = int(owed)
            owed -= todo
        else:
            if results >= max_results:
                break
            todo = min(trials, max_results - results)
        b0 = time.perf_counter()
        stamp = time.time()
        for _ in range(todo):
            k = k % len(active)
            slot = active[k]
            slot[1] += 1
            trial, i = slot
            cb.on_trial_result(0, live, trial, _result(trial, i, stamp))
            results += 1
            if i >= length:
                cb.on_trial_complete(0, live, trial)
                ended += 1
                active.pop(k)
                start()
            else:
                k += 1
        cb.on_step_end(0, live)
        busy += time.perf_counter() - b0
        if tick % 10 == 0:
            queue.append(writer.q.qsize())
        tick += 1
        if per_s is not None:
            sleep = t0 + tick * TICK_S - time.perf_counter()
            if sleep > 0:
                time.sleep(sleep)
    offered_s = time.perf_counter() - t0
    f0 = time.perf_counter()
    writer.flush(900)
    drain_s = time.perf_counter() - f0
    total_s = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    lat = list(writer.write_latencies)
    cb.close()
    return {"trials": trials, "per_s": per_s, "results": results, "started": made, "ended": ended,
            "offered_s": offered_s, "drain_s": drain_s, "total_s": total_s,
            "callback_us": busy / max(1, results) * 1e6, "cpu_us": cpu / max(1, results) * 1e6,
            "loop_busy": busy / offered_s, "lag_max_s": lag_max,
            "queue_max": max(queue, default=0),
            "queue_p50": statistics.median(queue) if queue else 0,
            "batches": len(lat), "batch_p50_ms": 1000 * statistics.median(lat) if lat else None,
            "batch_max_ms": 1000 * max(lat) if lat else None,
            "persisted_per_s": results / total_s}


def _drive_proc(url, study_id, kwargs, ready, go, out) -> None:
    out.put(drive(url, study_id, ready=ready, go=go, **kwargs))


def drive_many(url: str, study_id: int, drivers: int, **kwargs) -> dict:
    """``drivers`` processes at once on one study, each with its share of the trials."""
    ctx = mp.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    per = dict(kwargs, trials=kwargs["trials"] // drivers,
               max_results=kwargs["max_results"] // drivers)
    # Each driver numbers its trials from its own block (one study, unique numbers).
    procs = [ctx.Process(target=_drive_proc, daemon=True,
                         args=(url, study_id, dict(per, prefix=f"d{i}-",
                                                   first_number=i * 10_000_000), ready, go, out))
             for i in range(drivers)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=300)
    t0 = time.perf_counter()
    go.set()
    got = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join(30)
    wall = time.perf_counter() - t0
    results = sum(g["results"] for g in got)
    return {"drivers": drivers, "results": results, "total_s": wall,
            "persisted_per_s": results / wall,
            "callback_us": statistics.mean(g["callback_us"] for g in got),
            "queue_max": max(g["queue_max"] for g in got)}


# -- web queries on a large results table ---------------------------------------------------
def web_times(url: str, study_id: int, trials: int, repeats: int = 3) -> dict[str, float]:
    """Median seconds of the pages/APIs that read the results table, in-process (Flask),
    chart cache emptied before each request."""
    from webui import create_app

    from webui.cache import ChartCache

    app = create_app({"DATABASE_URL": url, "TESTING": True})
    client = app.test_client()
    mid = trials // 2
    paths = {"study page": f"/studies/{study_id}",
             "trial page": f"/studies/{study_id}/trials/{mid}",
             "learning curves (50 trials)": f"/api/v1/studies/{study_id}/plots/curves",
             "trials API, page 1": f"/api/v1/studies/{study_id}/trials?page=1",
             "trials API with a metric column": f"/api/v1/studies/{study_id}/trials?page=1&"
                                                 "cols=metric.val_accuracy",
             "slice plot (last reported)": f"/api/v1/studies/{study_id}/plots/slice"}
    client.get(f"/studies/{study_id}")  # imports, templates: once per process
    out = {}
    for name, path in paths.items():
        times = []
        for _ in range(repeats):
            # Every request builds its charts: what the first viewer after a change waits.
            app.extensions["hpsearch_charts"] = ChartCache()
            t0 = time.perf_counter()
            r = client.get(path)
            times.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {r.status_code}: {r.get_data(as_text=True)[:200]}")
        out[name] = statistics.median(times)
    return out


def web_stage(url: str, trials: int, results: int, log=print) -> dict:
    from sqlalchemy import func, select, update

    from benchmarks.seed import seed
    from hpsearch.store import Store
    from hpsearch.store.models import Result, Trial
    from hpsearch.store.retention import RetentionPolicy, retain

    name = f"sim-big-{uuid.uuid4().hex[:6]}"
    t0 = time.perf_counter()
    info = seed(url, trials=trials, reports=results, studies=1, small_trials=0, name=name)
    log(f"  seeded {trials:,} x {results:,} in {time.perf_counter() - t0:.0f} s")
    store = Store(url)
    with store.engine.connect() as c:
        c.exec_driver_sql("ANALYZE")
        c.commit()
        total = c.scalar(select(func.count()).select_from(Result))
    sid = info["study_id"]
    before = web_times(url, sid, trials)
    # Retention: the seeded trials finished long ago.
    with store.engine.begin() as c:
        c.execute(update(Trial).where(Trial.study_id == sid, Trial.iterations < results)
                  .values(iterations=results))
    r0 = time.perf_counter()
    done = retain(store, RetentionPolicy(points=200, after_s=0), study_id=sid)
    retain_s = time.perf_counter() - r0
    with store.engine.connect() as c:
        c.exec_driver_sql("ANALYZE")
        c.commit()
        after_total = c.scalar(select(func.count()).select_from(Result))
    after = web_times(url, sid, trials)
    store.dispose()
    return {"trials": trials, "results": results, "table_rows": total,
            "table_rows_after": after_total, "before": before, "after": after,
            "retain_s": retain_s, "retained_trials": done.trials, "deleted": done.deleted}


def targets(sim: dict) -> list[tuple[str, float | None, str]]:
    """Whether one driver's callback, writer and database keep up with 800 x 10/s."""
    paced, flat = sim.get("paced"), sim.get("flat")
    if not paced:
        return [("800 trials x 10 results/s through one driver", None, "not measured")]
    offered = paced["trials"] * paced["per_s"]
    kept = paced["lag_max_s"] < 1.0 and paced["drain_s"] < 5.0
    out = [(f"{paced['trials']} trials x {paced['per_s']:g} results/s, one driver's callback + "
            "writer + PostgreSQL: max lag behind the offered schedule (s)", paced["lag_max_s"],
            ("met (kept up; " if kept else "MISSED (fell behind; ")
            + f"callback {paced['callback_us']:.0f} us/result, writer drained "
              f"{paced['drain_s']:.2f} s after the load)")]
    if flat:
        out.append(("results/s one driver persists flat out (callback + writer + PostgreSQL)",
                    flat["persisted_per_s"], C.verdict(flat["persisted_per_s"], offered, True)))
    for g in sim.get("many", []):
        out.append((f"results/s {g['drivers']} drivers on one study persist flat out",
                    g["persisted_per_s"], C.verdict(g["persisted_per_s"], offered, True)))
    web = sim.get("web")
    if web:
        worst = max(web["before"], key=web["before"].get)
        out.append((f"slowest results-reading page at {web['trials']:,} x {web['results']:,} "
                    f"({worst}), s", web["before"][worst],
                    C.verdict(web["before"][worst], 1.0, False) + "; after retention "
                    f"{web['after'][worst]:.3f} s"))
    return out


def report(m: dict, paced: dict, flat: dict, many: list[dict], web: dict | None,
           args) -> str:
    offered = paced["trials"] * paced["per_s"]
    lines = ["# Scale simulation: 800 concurrent trials x 10 results/s (no Ray)", "",
             C.machine_line(m), "", __doc__.split("\n\n")[1].replace("\n", " "), "",
             "## 1. The driver loop and callback at the offered load", "",
             C.table(["offered", "results", "trials started / ended", "callback us/result",
                      "driver CPU us/result", "loop busy", "max lag behind schedule",
                      "writer queue (median / max ops)", "batches (p50 / max ms)",
                      "drained after the load"],
                     [[f"{paced['trials']} x {paced['per_s']:g}/s = {offered:,.0f}/s",
                       f"{paced['results']:,}", f"{paced['started']:,} / {paced['ended']:,}",
                       f"{paced['callback_us']:.0f}", f"{paced['cpu_us']:.0f}",
                       f"{100 * paced['loop_busy']:.0f}%", f"{paced['lag_max_s']:.2f} s",
                       f"{paced['queue_p50']:,.0f} / {paced['queue_max']:,}",
                       f"{paced['batches']} ({paced['batch_p50_ms'] or 0:.0f} / "
                       f"{paced['batch_max_ms'] or 0:.0f})", f"{paced['drain_s']:.2f} s"]]),
             "", "## 2. Flat out: one driver, and several drivers on one study", "",
             C.table(["drivers", "trials", "results", "seconds (to the last commit)",
                      "results/s persisted", "callback us/result", "max writer queue"],
                     [[1, flat["trials"], f"{flat['results']:,}", flat["total_s"],
                       f"{flat['persisted_per_s']:,.0f}", f"{flat['callback_us']:.0f}",
                       f"{flat['queue_max']:,}"]]
                     + [[g["drivers"], args.trials, f"{g['results']:,}", g["total_s"],
                         f"{g['persisted_per_s']:,.0f}", f"{g['callback_us']:.0f}",
                         f"{g['queue_max']:,}"] for g in many])]
    if web:
        names = list(web["before"])
        lines += ["", "## 3. Web queries on a large results table", "",
                  f"A study of {web['trials']:,} trials x {web['results']:,} results; the "
                  f"results table holds {web['table_rows']:,} rows in all (with stages 1-2). "
                  "Median of 3 requests, each with the chart cache emptied first (what the first "
                  "viewer after a change waits), in-process through the Flask app (no HTTP). Then retention to 200 points per trial: "
                  f"{web['retained_trials']:,} trials thinned, {web['deleted']:,} rows deleted in "
                  f"{web['retain_s']:.1f} s; {web['table_rows_after']:,} rows left.", "",
                  C.table(["page / API", "ms, full curves", "ms, after retention (200 points)"],
                          [[n, f"{1000 * web['before'][n]:.0f}", f"{1000 * web['after'][n]:.0f}"]
                           for n in names])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=TRIALS)
    parser.add_argument("--per-s", type=float, default=PER_S)
    parser.add_argument("--seconds", type=float, default=15.0, help="paced stage length")
    parser.add_argument("--length", type=int, default=100, help="results per trial")
    parser.add_argument("--flat", type=int, default=100_000, help="results in the flat-out runs")
    parser.add_argument("--drivers", default="4", help="driver counts for the several-driver runs")
    parser.add_argument("--web-trials", type=int, default=2_000)
    parser.add_argument("--web-results", type=int, default=500)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=C.RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.seconds, args.flat, args.length = 80, 2.0, 4_000, 20
        args.web_trials, args.web_results, args.drivers = 100, 50, "2"
    m = C.machine()
    if not pg_available():
        C.write("scale_sim.md", "# Scale simulation\n\nPostgreSQL is not reachable.\n", args.out)
        return {}
    os.environ.setdefault("HPSEARCH_HOME", str(Path("/tmp") / f"hps-sim-{os.getpid()}"))
    say = lambda s: print(s, flush=True)  # noqa: E731
    from hpsearch.store import Store

    with fresh_pg() as url:
        Store(url).dispose()
        say(f"== paced: {args.trials} trials x {args.per_s:g}/s for {args.seconds:g} s")
        paced = drive(url, _study(url, "sim-paced"), trials=args.trials, per_s=args.per_s,
                      seconds=args.seconds, length=args.length)
        say(f"  {paced}")
        say(f"== flat out, 1 driver, {args.flat:,} results")
        flat = drive(url, _study(url, "sim-flat"), trials=args.trials, per_s=None, seconds=0,
                     length=args.length, max_results=args.flat)
        say(f"  {flat}")
        many = []
        for n in [int(d) for d in args.drivers.split(",") if d]:
            say(f"== flat out, {n} drivers on one study")
            g = drive_many(url, _study(url, f"sim-many-{n}"), n, trials=args.trials,
                           per_s=None, seconds=0, length=args.length, max_results=args.flat)
            say(f"  {g}")
            many.append(g)
        say(f"== web: {args.web_trials:,} x {args.web_results:,}")
        web = web_stage(url, args.web_trials, args.web_results, log=say)
        say(f"  {web}")
    C.write("scale_sim.md", report(m, paced, flat, many, web, args), args.out)
    return {"paced": paced, "flat": flat, "many": many, "web": web}


if __name__ == "__main__":
    main()
