"""Many studies at once (#21 §3): 20 studies submitted together to one service.

One Ray cluster (a head and a second node, ``ray start``), PostgreSQL, two dispatchers
(``hpsearch dispatcher``, real processes) and the web UI. First one study of N no-op
trials alone, then 20 such studies submitted together (owners round-robin over four
users), all with the same slots. Reported from the store's own times:

- total trials/s (trials / (last study end - first submission)) against one study alone;
- per study: the wait from submission to its claim, to its first trial, its run time,
  and the claim order (the policy: priority, then the owner with the fewest running
  studies, then the oldest; docs/deployment.md);
- web page times (study list, a running study's page, the studies API) sampled
  while the 20 run, against the serving target (median <= 1 s).

    .venv/bin/python -m benchmarks.many_studies            # 20 x 200, 2 dispatchers x 2 studies
    .venv/bin/python -m benchmarks.many_studies --quick    # 6 x 40
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import urllib.request
from datetime import timezone
from pathlib import Path

from benchmarks import _common as C
from benchmarks._cluster import base_env, cli, cluster, free_port, start, stop
from benchmarks._db import fresh_pg

TARGET_RATIO = 0.8   # total trials/s with 20 studies / one study alone
PAGE_TARGET_S = 1.0  # median page time (benchmarks/serving.py)
STARVE_S = 60.0      # a claimed study waiting longer than this for its first slot starves
TRAINABLE = "benchmarks._trials:noop"


def spec(name: str, n: int, concurrent: int) -> dict:
    return {"name": name, "trainable": TRAINABLE, "metric": "loss", "mode": "min",
            "space": {"x": {"uniform": [-1.0, 1.0]}}, "searcher": {"type": "random"},
            "budget": {"trials": n, "max_concurrent": concurrent}, "resources": {"cpu": 1},
            "seed": 0}


def _ts(dt) -> float | None:
    return None if dt is None else dt.replace(tzinfo=timezone.utc).timestamp()


def wait_done(store, ids: list[int], timeout: float) -> bool:
    from hpsearch.store import StudyStatus

    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(store.get_study(i).status in StudyStatus.FINISHED for i in ids):
            return True
        time.sleep(0.5)
    return False


def study_stats(store, sid: int) -> dict:
    s = store.get_study(sid)
    trials = store.trials(sid)
    starts = [_ts(t.started_at) for t in trials if t.started_at]
    ends = [_ts(t.finished_at) for t in trials if t.finished_at]
    return {"id": sid, "name": s.name, "owner": s.owner, "status": s.status,
            "created": _ts(s.created_at), "claimed": _ts(s.started_at), "finished": _ts(s.finished_at),
            "first_trial": min(starts) if starts else None, "last_end": max(ends) if ends else None,
            "trials": sum(1 for t in trials if t.status in ("COMPLETED", "EARLY_STOPPED"))}


class PageSampler(threading.Thread):
    """GETs a few pages in turn until stopped; keeps (page, seconds, status)."""

    def __init__(self, base: str, pages: list[tuple[str, str]]):
        super().__init__(daemon=True)
        self.base, self.pages = base, pages
        self.samples: list[tuple[str, float, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            for name, path in self.pages:
                t = time.perf_counter()
                try:
                    with urllib.request.urlopen(self.base + path, timeout=30) as r:
                        r.read()
                        code = r.status
                except Exception:  # noqa: BLE001 - a failed page is a result, not a crash
                    code = 0
                self.samples.append((name, time.perf_counter() - t, code))
                if self.halt.wait(0.5):
                    return


def measure(n_studies: int, n_trials: int, max_studies: int, head_cpus: int, node_cpus: int,
            log=print) -> dict:
    from hpsearch import spec as specmod
    from hpsearch.store import Store

    slots = head_cpus + node_cpus
    # The share policy: no oversubscription. The running studies' trials together fit the
    # slots (dispatchers x --max-studies x the per-study cap <= slots), so a claimed study
    # runs at once and the claim order alone decides who waits (oversubscribed, Ray's
    # placement queue decides, and a claimed study can wait minutes for its first slot).
    cap = max(1, slots // (2 * max_studies))
    out: dict = {"n_studies": n_studies, "n_trials": n_trials, "max_studies": max_studies,
                 "slots": slots, "cap": cap}
    procs = []
    with tempfile.TemporaryDirectory(prefix="hps-many-") as tmp, fresh_pg() as url, \
            cluster(head_cpus, node_cpus) as ray:
        work = Path(tmp)
        env = base_env({**ray.env, "HPSEARCH_HOME": str(work / "home"),
                        "HPSEARCH_STUDY_MAX_CONCURRENT": str(cap)})
        store = Store(url)
        try:
            port = free_port()
            procs.append(start(cli("ui", "--db", url, "--port", str(port), "--no-auth"), env,
                               work / "web.log"))
            base = f"http://127.0.0.1:{port}"
            for name in ("a", "b"):
                procs.append(start(cli("dispatcher", "--db", url, "--ray-address", ray.address,
                                       "--max-studies", str(max_studies)),
                                   env, work / f"dispatcher-{name}.log"))
            # one study alone (it also warms the cluster's workers, like a service that runs)
            warm = store.create_study(specmod.validate(spec("warm-up", 20, cap), allow_import=False)).id
            wait_done(store, [warm], 300)
            alone = store.create_study(specmod.validate(spec("alone", n_trials, cap), allow_import=False)).id
            if not wait_done(store, [alone], 600):
                raise RuntimeError("the study alone did not finish in 600 s")
            one = study_stats(store, alone)
            out["alone"] = one
            out["alone_rate"] = one["trials"] / (one["finished"] - one["created"])
            out["alone_trial_rate"] = one["trials"] / (one["last_end"] - one["first_trial"])
            log(f"alone: {out['alone_rate']:.1f} trials/s from submission to end")
            sampler = PageSampler(base, [("study list", "/"), ("study page", f"/studies/{alone}"),
                                         ("studies API", "/api/v1/studies")])
            sampler.start()
            ids = [store.create_study(specmod.validate(spec(f"s{i:02d}", n_trials, cap),
                                                       allow_import=False),
                                      owner=f"user{i % 4}").id for i in range(n_studies)]
            sampler.pages[1] = ("study page (running)", f"/studies/{ids[0]}")
            ok = wait_done(store, ids, 1800)
            sampler.halt.set()
            sampler.join(35)
            stats = [study_stats(store, i) for i in ids]
            out["studies"] = stats
            out["all_done"] = ok and all(s["status"] == "COMPLETED" for s in stats)
            first = min(s["created"] for s in stats)
            last = max(s["finished"] or time.time() for s in stats)
            total = sum(s["trials"] for s in stats)
            out["many_rate"] = total / (last - first)
            starts = [s["first_trial"] for s in stats if s["first_trial"]]
            ends = [s["last_end"] for s in stats if s["last_end"]]
            out["many_trial_rate"] = total / (max(ends) - min(starts))
            out["pages"] = sampler.samples
            log(f"{n_studies} together: {out['many_rate']:.1f} trials/s; all done: {out['all_done']}")
        finally:
            for p in reversed(procs):
                stop(p)
            store.dispose()
    return out


def targets(res: dict) -> list[tuple[str, float | None, str]]:
    ratio = res["many_rate"] / res["alone_rate"]
    # Starving: claimed (admitted) but not given a slot. The wait in the queue before the
    # claim is the policy's order, reported per study in the file.
    held = [s["first_trial"] - s["claimed"] for s in res["studies"] if s["first_trial"] and s["claimed"]]
    alone_start = res["alone"]["first_trial"] - res["alone"]["claimed"]
    pages = {}
    for name, sec, code in res["pages"]:
        pages.setdefault(name.split(" (")[0], []).append(sec)
    worst = max((statistics.median(v), k) for k, v in pages.items()) if pages else (None, "-")
    n = res["n_studies"]
    limit = max(STARVE_S, 3 * alone_start)
    starving = not res["all_done"] or len(held) < n or max(held) > limit
    return [
        (f"{n} studies at once: total trials/s / one study alone (same {res['slots']} slots)", ratio,
         C.verdict(ratio, TARGET_RATIO, True)),
        (f"{n} studies at once: longest wait from a study's claim to its first trial (s)",
         max(held) if held else None,
         (f"MISSED (a study starved: over {limit:.0f} s, 3x the study alone's start-up)" if starving
          else f"met (every study completed; each started within {limit:.0f} s of its claim)")),
        (f"web page median while {n} studies run, slowest page ({worst[1]})", worst[0],
         C.verdict(worst[0], PAGE_TARGET_S, False) if worst[0] is not None else "not measured"),
    ]


def report(res: dict, m: dict, quick: bool) -> str:
    n, t = res["n_studies"], res["n_trials"]
    stats = sorted(res["studies"], key=lambda s: s["claimed"] or 0)
    first = min(s["created"] for s in stats)
    lines = [f"# Many studies at once: {n} studies x {t} no-op trials, one service (#21 §3)", "",
             C.machine_line(m) + f" Run: `python -m benchmarks.many_studies{' --quick' if quick else ''}`.",
             "",
             f"Service: PostgreSQL, one Ray cluster of {res['slots']} slots (a head and a second "
             f"`ray start` node, logical CPUs on this machine), two dispatchers with "
             f"`--max-studies {res['max_studies']}` each, the web UI; every study asks for "
             f"`max_concurrent: {res['cap']}` (`HPSEARCH_STUDY_MAX_CONCURRENT={res['cap']}`, so the "
             f"{2 * res['max_studies']} running studies fill the {res['slots']} slots without "
             "oversubscribing them). Policy (docs/deployment.md): at most "
             f"{2 * res['max_studies']} studies run at once (the dispatchers' `--max-studies`); "
             "the next claimed is the highest `priority`, then the owner with the fewest "
             "running studies, then the oldest; `HPSEARCH_STUDY_MAX_CONCURRENT` caps any "
             "study's slots. Here all priorities are 0 and four owners submit in turn.", "",
             "| measure | value |", "|---|---|",
             f"| one study alone: trials/s, submission to end | {res['alone_rate']:.1f} |",
             f"| one study alone: trials/s, first trial start to last end | {res['alone_trial_rate']:.1f} |",
             f"| {n} together: trials/s, first submission to last end | {res['many_rate']:.1f} |",
             f"| {n} together: trials/s, first trial start to last end | {res['many_trial_rate']:.1f} |",
             f"| ratio (submission to end) | {res['many_rate'] / res['alone_rate']:.2f} (target >= {TARGET_RATIO}) |",
             f"| every study completed | {'yes' if res['all_done'] else 'NO'} |", "",
             "## Per study (in claim order; seconds from the first submission)", "",
             "| study | owner | claimed | first trial | finished | trials | trials/s while running |",
             "|---|---|---|---|---|---|---|"]
    for s in stats:
        run_s = (s["last_end"] or 0) - (s["first_trial"] or 0)
        lines.append(f"| {s['name']} | {s['owner']} | {(s['claimed'] or first) - first:.1f} | "
                     f"{(s['first_trial'] or first) - first:.1f} | "
                     f"{(s['finished'] or first) - first:.1f} | {s['trials']} | "
                     f"{s['trials'] / run_s if run_s > 0 else 0:.1f} |")
    lines += ["", "## Web pages while the studies ran", "",
              "| page | n | median ms | p95 ms | max ms | non-200 |", "|---|---|---|---|---|---|"]
    by: dict[str, list] = {}
    for name, sec, code in res["pages"]:
        by.setdefault(name, []).append((sec, code))
    for name, v in by.items():
        secs = [x for x, _ in v]
        lines.append(f"| {name} | {len(v)} | {statistics.median(secs) * 1000:.0f} | "
                     f"{C.percentile(secs, 0.95) * 1000:.0f} | {max(secs) * 1000:.0f} | "
                     f"{sum(1 for _, c in v if c != 200)} |")
    lines += ["", "## Verdicts", "", "| target | measured | verdict |", "|---|---|---|"]
    for name, val, verdict in targets(res):
        lines.append(f"| {name} | {'-' if val is None else f'{val:.3g}'} | {verdict} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6 studies x 40 trials (sizes below win)")
    ap.add_argument("--studies", type=int, default=None)
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--max-studies", type=int, default=2, help="per dispatcher")
    ap.add_argument("--out", type=Path, default=C.RESULTS)
    a = ap.parse_args(argv)
    import os

    os.environ["HPSEARCH_ALLOWED_MODULES"] = "benchmarks._trials"  # what the service allows
    n = a.studies or (6 if a.quick else 20)
    t = a.trials or (40 if a.quick else 200)
    res = measure(n, t, a.max_studies, head_cpus=2, node_cpus=2)
    out = a.out if a.out.suffix == ".md" else a.out / "many_studies.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(res, C.machine(), a.quick))
    print(out.read_text())
    return res


if __name__ == "__main__":
    main()
