"""A busy pool (#21 §2): how much of the slots' time goes to trials, on 8 slots over two nodes.

One Ray cluster started with ``ray start``: a head and a second node, 4 logical CPUs
each (8 slots; port not 6379), one driver (``hpsearch.run`` with ``ray_address``) on
PostgreSQL. Workloads, each a study of its own:

- ``short``: many short trials (one 0.5 s epoch each), 8 at once (FIFO);
- ``long``: trials of one 6 s epoch, 8 at once (FIFO);
- ``asha``: trials of 6 epochs of 0.3 s under ASHA (grace 1, factor 3), 8 at once: a
  stopped trial's slot should take the next trial within 1 s;
- ``asha (fill_idle off)``: the same, with Ray's ASHA stops as they are: a trial stopped
  once nothing is left to start leaves its slot idle (``asha`` trains it on meanwhile,
  hpsearch/schedulers.py ``FillingASHA``);
- ``asha (time limit)``: the ASHA trials with no trial count to reach (a large budget) and
  ``budget.time_limit_s`` instead: a study that ends on the clock, not after its last trials
  ran alone (the trial-count budget's end, which the ``asha`` row's whole-run share pays);
- ``data-parallel``: trials of 2 workers (``resources: {workers: 2, cpu: 1}``), 4 at once,
  5 epochs of 1 s on every worker: the slots are the workers'.

From the trials' own times in the store (started_at, finished_at): the busy share
(sum of trial durations x workers / (slots x (last end - first start))), and under ASHA
the gap from each early stop to the next trial start. For data-parallel trials the
share of the workers' training loop (first epoch's start to last report, as rank 0
recorded them) is given too: a trial's span includes its worker group's start. The same
short, long and ASHA workloads run on bare Ray Tune in the same cluster (a process of
its own: ``tune.Tuner``, ``tune.with_resources(fn, {"cpu": 1})``, 8 at once), its trials'
starts and ends taken by a Tune callback in its driver, as hpsearch's store callback takes them. The timeline of slot use (one lane per node slot, as the trials
recorded where they ran) is plotted to busy_pool.png::

    .venv/bin/python -m benchmarks.busy_pool            # 160 short, 24 long, 2 x 60 ASHA, 20 s of ASHA, 8 data-parallel
    .venv/bin/python -m benchmarks.busy_pool --quick    # 48, 16, 2 x 24, 8 s and 4
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import timezone
from pathlib import Path

from benchmarks import _common as C
from benchmarks._cluster import base_env, cluster
from benchmarks._db import fresh_pg

TARGET_SHARE = 0.95
TARGET_GAP_S = 1.0
SLOTS_PER_NODE = 4
TRAINABLE = "benchmarks._trials:sleeper"
DDP_WORKERS = 2
MAX_TIMED_TRIALS = 10_000  # more than a time-limited study starts: the clock ends it
BARE_TOO = ("short", "long", "asha")  # the workloads run on bare Ray Tune too
# ASHA as Ray has it: its stops at the budget's end leave slots idle (``fill_idle`` off)
NO_FILL = "asha (fill_idle off)"


def spec(name: str, trials: int, epochs: int, sleep: float, scheduler: dict, slots: int,
         workers: int = 1) -> dict:
    resources = {"cpu": 1} if workers == 1 else {"cpu": 1, "workers": workers}
    fixed = {"epochs": epochs, "sleep": sleep}
    if scheduler["type"] == "asha":  # each epoch checkpoints, as a built-in family's does
        fixed["checkpoint"] = True
    return {"name": name, "trainable": TRAINABLE if workers == 1 else "benchmarks._trials:ddp_sleeper",
            "metric": "loss", "mode": "min",
            "space": {"x": {"uniform": [0.0, 1.0]}}, "fixed": fixed,
            "searcher": {"type": "random"}, "scheduler": scheduler,
            "budget": {"trials": trials, "max_concurrent": slots // workers},
            "resources": resources, "seed": 0}


def _ts(dt) -> float:
    return dt.replace(tzinfo=timezone.utc).timestamp()


def share(spans, slots: int, per_trial: int = 1) -> dict:
    """Busy share of ``slots`` between the first start and the last end, from the spans;
    each trial holds ``per_trial`` slots (its workers)."""
    done = [s for s in spans if s.finished_at is not None]
    first = min(_ts(s.started_at) for s in done)
    last = max(_ts(s.finished_at) for s in done)
    busy = per_trial * sum(_ts(s.finished_at) - _ts(s.started_at) for s in done)
    # a trial ASHA paused and resumed is a span per run
    return {"trials": len({s.number for s in done}), "span_s": last - first, "busy_s": busy,
            "share": busy / (slots * (last - first)), "first": first}


def share_while_pending(spans, slots: int, per_trial: int = 1) -> float | None:
    """Busy share of ``slots`` from the first start to the last trial's start: while the
    budget still had a trial to start, an empty slot was capacity with work waiting (a
    fault); after it, nothing was left to run (the budget's end, not a fault)."""
    done = [s for s in spans if s.finished_at is not None]
    first = min(_ts(s.started_at) for s in done)
    starts: dict[int, float] = {}  # each trial's first start (a resumed run is no new trial)
    for s in done:
        starts[s.number] = min(starts.get(s.number, math.inf), _ts(s.started_at))
    last_start = max(starts.values())
    if last_start <= first:
        return None
    busy = per_trial * sum(max(0.0, min(_ts(s.finished_at), last_start) - _ts(s.started_at))
                           for s in done)
    return busy / (slots * (last_start - first))


def no_overhead_share(spans, slots: int, per_trial: int = 1) -> float:
    """The busy share a pool with no overhead would reach on the same trials: their
    measured durations started in their recorded order, each on the first free slot (of
    ``slots // per_trial`` trial places), with no gap and no ramp-up. What it misses of
    1.0 is the budget's end (the last trials running after nothing is left to start),
    a property of the workload and its scheduler (ASHA's survivors run longest), not of the
    pool; the measured share against it is the pool's own loss."""
    import heapq

    done = sorted((s for s in spans if s.finished_at is not None), key=lambda s: s.started_at)
    free = [0.0] * max(1, slots // per_trial)
    busy = 0.0
    for s in done:
        d = _ts(s.finished_at) - _ts(s.started_at)
        heapq.heappush(free, heapq.heappop(free) + d)
        busy += per_trial * d
    return busy / (slots * max(free))


def slot_lag(spans) -> float:
    """Seconds from the first trial's start to the last slot's first trial (the ramp-up)."""
    firsts: dict[str, float] = {}
    for label, s in lanes([s for s in spans if s.status != "PAUSED"]):  # placed runs
        firsts[label] = min(firsts.get(label, float("inf")), _ts(s.started_at))
    return max(firsts.values()) - min(firsts.values())


def stop_gaps(spans) -> list[float]:
    """For each early-stopped trial (or run ASHA paused), seconds from its end to the next
    trial's start."""
    starts = sorted(_ts(s.started_at) for s in spans)
    gaps = []
    for s in spans:
        if s.status not in ("EARLY_STOPPED", "PAUSED") or s.finished_at is None:
            continue
        end = _ts(s.finished_at)
        later = [t for t in starts if t >= end]
        if later:
            gaps.append(later[0] - end)
    return gaps


def lanes(spans) -> list[tuple[str, object]]:
    """(lane label, span): the node/slot the trial recorded, else the first free lane."""
    out, lane_end = [], []  # lane_end[i]: when greedy lane i frees
    for s in sorted(spans, key=lambda s: s.started_at):
        if s.slot is not None:
            # the node id: two nodes on one machine share a host name
            out.append((f"{(s.node_id or s.node_host or '?')[:8]}/{s.slot}", s))
            continue
        start = _ts(s.started_at)
        lane = next((i for i, e in enumerate(lane_end) if e <= start + 1e-6), len(lane_end))
        if lane == len(lane_end):
            lane_end.append(0.0)
        lane_end[lane] = _ts(s.finished_at) if s.finished_at else float("inf")
        out.append((f"#{lane}", s))
    return out


def plot(runs: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 3.2 * len(runs)), squeeze=False)
    colors = {"COMPLETED": "tab:blue", "EARLY_STOPPED": "tab:orange", "PAUSED": "tab:purple"}
    for ax, (name, r) in zip(axes[:, 0], runs.items()):
        placed = lanes(r["spans"])
        labels = sorted({label for label, _ in placed})
        for label, s in placed:
            y = labels.index(label)
            start = _ts(s.started_at) - r["share"]["first"]
            end = _ts(s.finished_at) - r["share"]["first"] if s.finished_at else start
            ax.barh(y, end - start, left=start, height=0.8, color=colors.get(s.status, "tab:red"))
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        ax.set_title(f"{name}: {r['share']['share']:.1%} busy over {r['slots']} slots", fontsize=9)
        ax.set_xlabel("seconds since the first trial started")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


BARE_TUNE = r"""
import json, sys, time
import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler

address, plan = sys.argv[1], json.loads(sys.argv[2])
ray.init(address=address, log_to_driver=False, include_dashboard=False)


def sleeper(config):
    import ray, time
    from ray import tune
    node = ray.get_runtime_context().get_node_id()
    for epoch in range(1, config["epochs"] + 1):
        time.sleep(config["sleep"])
        tune.report({"loss": config["x"] ** 2 + 1.0 / epoch, "node": node})


class Spans(tune.Callback):
    # Each trial's start and end as the driver sees them (as hpsearch's store callback
    # records them), its node and its last iteration.

    def __init__(self):
        self.spans = {}

    def on_trial_start(self, iteration, trials, trial, **info):
        self.spans[trial.trial_id] = [time.time(), None, None, 0]

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.spans[trial.trial_id][2:] = [result["node"], result["training_iteration"]]

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.spans[trial.trial_id][1] = time.time()


out = {}
for name, w in plan.items():
    spans = Spans()
    scheduler = (ASHAScheduler(time_attr="training_iteration", max_t=w["epochs"],
                               grace_period=1, reduction_factor=3) if w["asha"] else None)
    tuner = tune.Tuner(
        tune.with_resources(sleeper, {"cpu": 1}),
        param_space={"x": tune.uniform(0.0, 1.0), "epochs": w["epochs"], "sleep": w["sleep"]},
        tune_config=tune.TuneConfig(num_samples=w["trials"], max_concurrent_trials=w["slots"],
                                    scheduler=scheduler, metric="loss", mode="min"),
        run_config=tune.RunConfig(storage_path=w["storage"], name=name, verbose=0,
                                  callbacks=[spans]))
    tuner.fit()
    out[name] = [[s, e, node, it < w["epochs"]] for s, e, node, it in spans.spans.values()
                 if e is not None]
ray.shutdown()
print("SPANS " + json.dumps(out))
"""


def bare_tune(address: str, env: dict, plan: dict) -> dict:
    """The same workloads on bare Ray Tune, in a process of its own (none of hpsearch's
    settings or patches): {name: [(start, end, node, stopped_early)]}."""
    proc = subprocess.run([sys.executable, "-c", BARE_TUNE, address, json.dumps(plan)],
                          env=env, capture_output=True, text=True, timeout=1200)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("SPANS ")]
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"bare Ray Tune failed: {proc.stderr[-3000:]}")
    return json.loads(line[0][6:])


def _bare_spans(raw: list) -> list:
    from datetime import datetime

    from hpsearch.store.queries import Span

    at = lambda t: datetime.fromtimestamp(t, timezone.utc).replace(tzinfo=None)  # noqa: E731
    return [Span(i, "EARLY_STOPPED" if stopped else "COMPLETED", at(s), at(e), node_id=node)
            for i, (s, e, node, stopped) in enumerate(sorted(raw))]


def _summary(spans, slots: int, per_trial: int = 1) -> dict:
    r = {"spans": spans, "slots": slots, "share": share(spans, slots, per_trial),
         "pending_share": share_while_pending(spans, slots, per_trial),
         "ideal_share": no_overhead_share(spans, slots, per_trial),
         "slot_lag_s": slot_lag(spans),
         "statuses": {}, "per_trial": per_trial}
    final = {sp.number: sp.status for sp in sorted(spans, key=lambda sp: sp.started_at)}
    for status in final.values():  # each trial's last run's
        r["statuses"][status] = r["statuses"].get(status, 0) + 1
    r["resumed"] = sum(sp.status == "PAUSED" for sp in spans)
    r["nodes"] = sorted({(sp.node_id or sp.node_host or "?")[:8] for sp in spans
                         if sp.status != "PAUSED"})  # a paused run has no place kept
    r["gaps"] = stop_gaps(spans)
    return r


def training_share(store, study_id: int, slots: int, workers: int) -> float | None:
    """Data-parallel trials: the workers' training loops (rank 0's first epoch start to
    its last report) over the slots' time between the first and last trial span."""
    from hpsearch.store import queries

    spans = [s for s in queries.trial_spans(store, study_id) if s.finished_at is not None]
    first = min(_ts(s.started_at) for s in spans)
    last = max(_ts(s.finished_at) for s in spans)
    loops = []
    for t in store.trials(study_id):
        results = store.results(t.id)
        if results:
            m = results[-1].metrics
            loops.append(m["t_train1"] - m["t_train0"])
    return workers * sum(loops) / (slots * (last - first)) if loops else None


REUSED_S = 1.0  # a trial whose first epoch began sooner trained on kept workers


def loop_waits(store, study_id: int) -> list[float]:
    """Data-parallel trials: seconds from each trial's start to its workers' first epoch
    (a new worker group's start, or well under a second on the workers an earlier trial
    of the same trial process started: hpsearch/ddp.py keeps them)."""
    waits = []
    for t in store.trials(study_id):
        results = store.results(t.id)
        if results and t.started_at is not None:
            waits.append(results[0].metrics["t_train0"] - _ts(t.started_at))
    return sorted(waits)


def measure(quick: bool, log=print, bare: bool = True) -> dict:
    import hpsearch
    from hpsearch.store import Store, queries

    slots = 2 * SLOTS_PER_NODE
    n_short, n_long, n_asha, n_ddp = (48, 16, 24, 4) if quick else (160, 24, 60, 8)
    asha = {"type": "asha", "grace_period": 1, "reduction_factor": 3}
    timed = spec("asha-time-limit", MAX_TIMED_TRIALS, 6, 0.3, asha, slots)
    timed["budget"]["time_limit_s"] = 8.0 if quick else 20.0
    work = {"short": spec("short", n_short, 1, 0.5, {"type": "fifo"}, slots),
            "long": spec("long", n_long, 1, 6.0, {"type": "fifo"}, slots),
            "asha": spec("asha", n_asha, 6, 0.3, asha, slots),
            NO_FILL: spec("asha-no-fill", n_asha, 6, 0.3, {**asha, "fill_idle": False}, slots),
            "asha (time limit)": timed,
            "data-parallel": spec("data-parallel", n_ddp, 5, 1.0, {"type": "fifo"}, slots,
                                  workers=DDP_WORKERS)}
    runs = {}
    with tempfile.TemporaryDirectory(prefix="hps-pool-") as tmp, fresh_pg() as url, \
            cluster(SLOTS_PER_NODE, SLOTS_PER_NODE) as ray_cluster:
        if bare:  # first, before this process joins the cluster
            plan = {name: {"trials": s["budget"]["trials"], "epochs": s["fixed"]["epochs"],
                           "sleep": s["fixed"]["sleep"], "slots": slots,
                           "asha": s["scheduler"]["type"] == "asha",
                           "storage": str(Path(tmp) / "bare")}
                    for name, s in work.items() if name in BARE_TOO}
            env = {**base_env(ray_cluster.env)}
            env.pop("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", None)
            for name, raw in bare_tune(ray_cluster.address, env, plan).items():
                r = _summary(_bare_spans(raw), slots)
                runs[f"{name} (bare Ray Tune)"] = r
                log(f"{name} bare Ray Tune: {r['share']['share']:.1%} busy, nodes {r['nodes']}")
        os.environ.update(ray_cluster.env)
        os.environ["HPSEARCH_HOME"] = str(Path(tmp) / "home")
        store = Store(url)
        for name, s in work.items():
            study = hpsearch.run(s, db=url, ray_address=ray_cluster.address, progress=False)
            workers = s["resources"].get("workers", 1)
            r = _summary(queries.trial_spans(store, study.id), slots, workers)
            if workers > 1:
                r["training_share"] = training_share(store, study.id, slots, workers)
                r["loop_waits"] = loop_waits(store, study.id)
            runs[name] = r
            log(f"{name}: {r['share']['share']:.1%} busy ({r['pending_share'] or 0:.1%} while "
                f"pending, last slot {r['slot_lag_s']:.2f} s late), {r['share']['trials']} trials, "
                f"{r['statuses']}, {r['resumed']} resumed, nodes {r['nodes']}"
                + (f", gaps median {statistics.median(r['gaps']):.2f} s" if r["gaps"] else ""))
        store.dispose()
        import ray

        ray.shutdown()  # before the cluster goes: a client of a dead cluster hangs at exit
    return runs


def targets(runs: dict) -> list[tuple[str, float | None, str]]:
    out = []
    for name, r in runs.items():
        if "bare" in name:
            continue
        v = r["share"]["share"]
        verdict = ("for information: Ray's ASHA stops, the `asha` row's comparison in this run"
                   if name == NO_FILL else C.verdict(v, TARGET_SHARE, True))
        out.append((f"slot busy share, {r['slots']} slots on two nodes, {name} trials", v, verdict))
        ideal = r.get("ideal_share")
        if ideal is not None:  # for information: how much of the miss is the budget's end
            out.append((f"the same trials in a pool with no overhead (the budget's end alone), "
                        f"{name} trials", ideal,
                        f"for information: measured / this = {v / ideal:.3f}"))
        p = r.get("pending_share")
        if p is not None:  # the tail after the last start is the budget's end, not idle capacity
            out.append((f"slot busy share while trials were pending, {name} trials", p,
                        C.verdict(p, TARGET_SHARE, True)))
        if r.get("training_share") is not None:  # a data-parallel trial's span includes its
            t = r["training_share"]               # worker group's start: count the loops too
            out.append((f"workers' training loops' share, {name} trials", t,
                        C.verdict(t, TARGET_SHARE, True)))
    gaps = runs.get("asha", {}).get("gaps")
    if gaps:
        worst = max(gaps)
        out.append(("ASHA: stop-to-next-start gap, worst (s)", worst,
                    C.verdict(worst, TARGET_GAP_S, False)))
    return out


def report(runs: dict, m: dict, quick: bool, png: str, load_end: float | None = None) -> str:
    """The results page; ``m``: :func:`benchmarks._common.machine` taken before the run,
    ``load_end``: the load average after it (the run's own two Ray nodes add to it)."""
    end = f" Load average at the end {load_end:.2f}." if load_end is not None else ""
    lines = ["# A busy pool: 8 slots over two Ray nodes (#21 §2)", "",
             C.machine_line(m) + end
             + f" Run: `python -m benchmarks.busy_pool{' --quick' if quick else ''}`.",
             "",
             "A Ray head and a second `ray start` node, 4 logical CPUs each (8 slots, on this one "
             "2-core machine: the trials sleep, so they hold a slot without needing a core), one "
             "driver on PostgreSQL, 8 trials at once (`resources.cpu: 1`; data-parallel: 4 trials "
             "of 2 workers). Busy share = the sum of trial durations x workers / (8 x (last end - "
             "first start)), from the trials' times in the store (bare Ray Tune: the same "
             "driver-side times, taken by a Tune callback). No warm-up beyond hpsearch's own: every study starts "
             "its actors as a new study does (a driver on a cluster first has each node prestart the study's "
             "trial workers and waits for them, hpsearch/warm_workers.py, before the first trial starts); bare "
             "Ray Tune ran first, in a process of its own, on the same cluster.", "",
             "Busy while pending: the same share from the first start to the last trial's start "
             "(after it the budget has nothing left to start, so an empty slot is the budget's "
             "end, not idle capacity). Last slot's first trial: seconds from the study's first "
             "trial start to the start of the last slot's first trial (the ramp-up). No "
             "overhead: the share a pool with no gaps and no ramp-up would reach on the same "
             "trials (their measured durations, started in their recorded order on the first "
             "free slot): what it misses is the budget's end, the last trials running after "
             "nothing is left to start. `asha`: a trial ASHA stops once nothing is left to "
             "start trains on while it ends before the study would (`fill_idle`, the default); "
             "`asha (fill_idle off)`: Ray's ASHA stops as they are, slots left idle. "
             "`asha (time limit)`: the same ASHA trials in a study "
             "that ends on the clock (`budget.time_limit_s`, a trial count it never reaches): the "
             "limit cuts every running trial at once, so no trial runs alone at the end.", "",
             "| workload | trials | statuses | nodes | first start to last end s | busy share "
             "| busy while pending | no overhead | last slot's first trial s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        st = ", ".join(f"{k} {v}" for k, v in sorted(r["statuses"].items()))
        if r.get("resumed"):
            st += f" ({r['resumed']} resumed after a pause)"
        pending = "-" if r["pending_share"] is None else f"{r['pending_share']:.1%}"
        ideal = "-" if r.get("ideal_share") is None else f"{r['ideal_share']:.1%}"
        lines.append(f"| {name} | {r['share']['trials']} | {st} | {', '.join(r['nodes'])} | "
                     f"{r['share']['span_s']:.1f} | {r['share']['share']:.1%} | {pending} | "
                     f"{ideal} | {r['slot_lag_s']:.2f} |")
    ddp_run = runs.get("data-parallel")
    if ddp_run and ddp_run.get("training_share") is not None:
        waits = ddp_run.get("loop_waits") or []
        new = [w for w in waits if w >= REUSED_S]
        lines += ["", f"Data-parallel: the workers' training loops filled "
                      f"{ddp_run['training_share']:.1%} of the slots' time. The rest of a "
                      "trial's span is mostly its worker group starting: a trial process's "
                      "first trial starts a Ray Train run, its next trials train on the same "
                      f"workers. Here {len(waits) - len(new)} of {len(waits)} trials took over "
                      f"workers (their first epoch within {REUSED_S:.0f} s of their start"
                      + (f", at most {max(w for w in waits if w < REUSED_S):.2f} s"
                         if len(new) < len(waits) else "")
                      + "); " + (f"{len(new)} waited for a new group, median "
                                 f"{statistics.median(new):.1f} s." if new else "none waited "
                                 "for a new group.")]
    gaps = runs.get("asha", {}).get("gaps")
    if gaps:
        lines += ["", f"ASHA: {len(gaps)} early stops; seconds from a stop to the next trial start: "
                      f"median {statistics.median(gaps):.2f}, p95 {C.percentile(gaps, 0.95):.2f}, "
                      f"max {max(gaps):.2f} (target: within {TARGET_GAP_S:g} s)."]
    lines += ["", f"Timeline of slot use: [{png}]({png}) (one lane per node slot as the trials "
                  "recorded it; blue completed, orange stopped by ASHA or by the time limit, red cut by the "
                  "time limit before its first result).", "",
              "## Verdicts", "", "| target | measured | verdict |", "|---|---|---|"]
    for name, val, verdict in targets(runs):
        lines.append(f"| {name} | {'-' if val is None else f'{val:.3g}'} | {verdict} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=C.RESULTS)
    a = ap.parse_args(argv)
    os.environ["HPSEARCH_ALLOWED_MODULES"] = "benchmarks._trials"
    at_start = C.machine()  # its load is the start's
    runs = measure(a.quick)
    out = a.out if a.out.suffix == ".md" else a.out / "busy_pool.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(runs, out.with_suffix(".png"))
    out.write_text(report(runs, at_start, a.quick, out.with_suffix(".png").name,
                          load_end=os.getloadavg()[0]))
    print(out.read_text())
    return runs


if __name__ == "__main__":
    main()
