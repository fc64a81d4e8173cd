"""``make bench``: every benchmark of issue 9 in one run, tables to benchmarks/results/.

Sections, in order (each writes its own file; SUMMARY.md gathers the targets):

1. suggestion latency per searcher vs observations (+ plot)   searchers_latency.md/.png
2. training throughput per family on this CPU                   trainables.md
3. serving a 10,000-trial study, SQLite and PostgreSQL          serving.md
3b. the web UI at 100,000 and 1,000,000 trials: each chart cold and warm, the study page
   drawn in Chromium, pages (databases seeded once, then kept)   webui_scale.md
4. orchestration overhead, 50/200 no-op trials, vs Ray and Optuna  overhead.md
5. result write throughput, end to end and Writer alone         writes.md
6. scaling to 1,000 trials, and a higher-concurrency pair       overhead.md, overhead_scaling.png
7. compression: size and batch-1 latency of pruned and int8 models (#17)   compression.md
8. fine-tuning from a digits model on shifted digits vs from scratch (#18)  finetune_shift.md
9. prediction API load on Ray Serve, 1 vs 2 replicas, and an autoscaled
   deployment under a burst (#18)                serving_load.md, serving_autoscale.png
10. many drivers writing results at once into PostgreSQL     many_writers.md
11. the 800 trials x 10 results/s simulation (no Ray)          scale_sim.md
12. time to a good model vs Optuna and Ray Tune, 1 seed (#21)   time_to_target_quick.md
13. a busy pool: 8 slots on two Ray nodes (#21)               busy_pool.md/.png
14. many studies at once on one service, 20 studies (#21)    many_studies_quick.md
15. data-parallel trials, 1 vs 2 CPU workers (CNN on digits) (#19)  ddp_scaling.md
15b. data-parallel trials one after another: their wait for workers (#21)  ddp_reuse.md
15c. trials that checkpoint every epoch, 100 and 400, vs bare Ray Tune (#21)  checkpointing.md
16. with ``--quality`` only: search quality (benchmarks/bayesmark.py --quick, ~20 more minutes
   on 2 cores; with --quick, its --smoke size)                  bayesmark.md

One local Ray serves every Ray row. The run aims at 20 minutes on this 2-core
machine: the later, longer Ray rows start only while time is left, and what was
skipped is named in the files::

    make bench                                   # or: .venv/bin/python -m benchmarks.run_all
    .venv/bin/python -m benchmarks.run_all --quick --out /tmp/bench   # a ~1-minute smoke run
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import traceback
from pathlib import Path

from benchmarks import _common as C

BUDGET_S = 19 * 60


def _section(name: str, fn, log: list, times: dict):
    print(f"== {name}", flush=True)
    start = time.monotonic()
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - one broken section must not lose the others
        traceback.print_exc()
        log.append(f"{name}: FAILED: {exc.__class__.__name__}: {exc}")
        return None
    finally:
        times[name] = time.monotonic() - start
        print(f"== {name}: {times[name]:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--out", type=Path, default=C.RESULTS)
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for the whole run")
    parser.add_argument("--quality", action="store_true",
                        help="also run the search-quality suite (benchmarks/bayesmark.py)")
    args = parser.parse_args(argv)
    q = args.quick
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    deadline = started + args.budget
    m = C.machine()
    failures: list[str] = []
    times: dict[str, float] = {}
    targets: list[tuple[str, str, float | None, str]] = []  # (section, target, value, verdict)
    tmp = tempfile.TemporaryDirectory(prefix="hps-bench-")
    os.environ.setdefault("HPSEARCH_HOME", str(Path(tmp.name) / "home"))
    os.environ.setdefault("MPLBACKEND", "Agg")

    # 1. suggestion latency
    from benchmarks import searchers_latency as lat

    rows = _section("suggestion latency", lambda: lat.main(["--out", str(out)] + (["--quick"] if q else [])),
                    failures, times)
    if rows:
        targets += [("suggestion latency", t, v, verdict) for t, v, verdict in lat.targets(rows)]

    # 2. trainables
    from benchmarks import trainables_throughput as tt

    # One thread (a `cpu: 1` trial): with other work on the two cores, a 2-thread torch run
    # spins against it and measures the contention, not the model.
    _section("trainables", lambda: tt.main(["--out", str(out / "trainables.md"), "--threads", "1"]
                                           + (["--quick"] if q else [])), failures, times)

    # 3. serving
    from benchmarks import serving

    sv_args = (["--trials", "200", "--studies", "20", "--requests", "3", "--budget", "5", "--quick"]
               if q else ["--requests", "10", "--budget", "10"])
    res = _section("serving", lambda: serving.main(sv_args + ["--out", str(out)]), failures, times)
    if res:
        targets += [("serving", t, v, verdict) for t, v, verdict in serving.targets(res)]

    # 3b. the web UI at 100,000 and 1,000,000 trials: charts, the page in Chromium, pages
    from benchmarks import webui_scale

    ws_args = (["--runs", "sqlite:2000", "--quick", "--cache", str(Path(tmp.name) / "scale")]
               if q else [])
    res = _section("web UI at scale", lambda: webui_scale.main(ws_args + ["--out", str(out)]),
                   failures, times)
    if res:
        targets += [("web UI at scale", t, v, verdict) for t, v, verdict in webui_scale.targets(res)]

    # 4-6. everything on Ray, one local Ray
    over_rows, write_rows, skipped_o, skipped_w, profile_text = [], [], [], [], ""
    work = Path(tmp.name)
    from benchmarks import overhead, writes
    from benchmarks._db import pg_available

    pg = pg_available()
    say = lambda s: print(s, flush=True)  # noqa: E731
    sizes = [10, 30] if q else [50, 200]
    # Three round-robin runs per system at 50 and 200 trials; the best of each is compared.
    over_rows += _section("overhead", lambda: overhead.measure(
        sizes, 1, work, postgres=pg, repeats=1 if q else 3, log=say), failures, times) or []

    # Ray delivers concurrent reports slowly here (see writes.md): 8 x 100 through Ray, 8 x 1,000
    # through the Writer alone.
    w_cases = [(1, 200), (4, 20)] if q else [(1, 10_000), (8, 100)]
    w_writer = [(1, 200), (4, 20)] if q else [(1, 10_000), (8, 1_000)]
    # Leave room for the scaling rows: the write rows stop starting 6 minutes before the end.
    write_rows = _section("writes", lambda: writes.measure(
        w_cases, work, postgres=pg, writer_cases=w_writer, deadline=deadline - 360,
        skipped=skipped_w, repeats=1 if q else 2, log=say), failures, times) or []

    big = 60 if q else 1000
    over_rows += _section("scaling", lambda: overhead.measure(
        [big], 1, work, postgres=pg, deadline=deadline - 240, skipped=skipped_o,
        log=say), failures, times) or []
    n_high = 12 if q else 200
    over_rows += _section("higher concurrency", lambda: overhead.measure(
        [n_high], 4, work, postgres=pg, deadline=deadline - 120, repeats=1 if q else 2,
        systems=("bare Ray Tune", "hpsearch PostgreSQL" if pg else "hpsearch SQLite"),
        skipped=skipped_o, log=say), failures, times) or []

    o_targets = overhead.targets(over_rows) if over_rows else []
    if any("MISSED" in v for _, _, v in o_targets) and not q:
        profile_text = _section("overhead profile", lambda: _profile_overhead(work, pg), failures,
                                times) or ""
    if over_rows:
        C.write("overhead.md", overhead.report(over_rows, m, notes=_overhead_notes(profile_text),
                                               skipped=skipped_o), out)
        overhead.plot(over_rows, out / "overhead_scaling.png")
        targets += [("overhead", t, v, verdict) for t, v, verdict in o_targets]
        targets.append(("scaling", "marginal time per trial, last size step / first (1.0 = linear)",
                        *_linearity(over_rows)))
    if write_rows:
        C.write("writes.md", writes.report(write_rows, m, skipped=skipped_w), out)
        targets += [("writes", t, v, verdict) for t, v, verdict in writes.targets(write_rows)]

    # 12. time to a good model (#21 §1): hpsearch vs Optuna vs Ray Tune on the CNN and the VAE,
    # on the same local Ray. make bench runs the short form (1 seed); the 3-seed run is
    # benchmarks/time_to_target.py on its own (time_to_target.md).
    from benchmarks import time_to_target as ttt

    ttt_args = ["--quick", "--out", str(out / "time_to_target_quick.md")]
    ttt_rows = _section("time to target", lambda: ttt.main(
        ttt_args + (["--tasks", "cnn", "--wall", "12"] if q else [])), failures, times)
    if ttt_rows:
        targets += [("time to target", t, v, verdict) for t, v, verdict in ttt.targets(ttt_rows)]

    # 15. data-parallel trials: 1 vs 2 workers (#19), on the same local Ray.
    from benchmarks import ddp_scaling

    ddp_rows = _section("data-parallel", lambda: ddp_scaling.main(
        ["--out", str(out)] + (["--quick"] if q else [])), failures, times)
    if ddp_rows:
        targets += [("data-parallel", t, v, verdict) for t, v, verdict in ddp_scaling.targets(ddp_rows)]
    # 15b. data-parallel trials one after another (#21 §2): for information, no target.
    from benchmarks import ddp_reuse

    _section("data-parallel reuse", lambda: ddp_reuse.main(
        ["--out", str(out)] + (["--quick"] if q else [])), failures, times)
    # 15c. trials that checkpoint every epoch vs bare Ray Tune (#21 §0): about 2 minutes.
    from benchmarks import checkpointing

    if q or time.monotonic() < deadline - 420:
        ck = _section("checkpointing", lambda: checkpointing.main(
            ["--out", str(out)] + (["--quick"] if q else [])), failures, times)
        if ck:
            targets += [("checkpointing", t, v, verdict) for t, v, verdict in checkpointing.targets(ck)]
    else:
        failures.append("checkpointing: skipped, the run's time budget was spent")
    _stop_ray()

    # 7-9. compression, fine-tuning, serving load (#17, #18): each starts what it needs.
    from benchmarks import compression, finetune_shift, serving_load

    rows = _section("compression", lambda: compression.main(
        ["--out", str(out / "compression.md")] + (["--quick"] if q else [])), failures, times)
    if rows:
        targets += [("compression", t, v, verdict) for t, v, verdict in compression.targets(rows)]
    if q or time.monotonic() < deadline - 300:
        recs = _section("fine-tuning", lambda: finetune_shift.main(
            ["--out", str(out)] + (["--quick"] if q else [])), failures, times)
        if recs:
            targets += [("fine-tuning", t, v, verdict) for t, v, verdict in finetune_shift.targets(recs)]
    else:
        failures.append("fine-tuning: skipped, the run's time budget was spent")
    if q or time.monotonic() < deadline - 240:
        res = _section("serving load", lambda: serving_load.main(
            ["--out", str(out)] + (["--quick"] if q else [])), failures, times)
        if res:
            targets += [("serving load", t, v, verdict) for t, v, verdict in serving_load.targets(res)]
    else:
        failures.append("serving load: skipped, the run's time budget was spent")
    tmp.cleanup()

    # 10-11. many drivers writing at once; the 800-trial scale simulation (PostgreSQL, no Ray)
    from benchmarks import many_writers, scale_sim

    # One round each and a 1,000-trial web stage: about 4 minutes together on 2 cores.
    mw = _section("many writers", lambda: many_writers.main(
        ["--out", str(out), "--repeats", "1"] + (["--quick"] if q else [])), failures, times)
    if mw:
        targets += [("many writers", t, v, verdict) for t, v, verdict in many_writers.targets(mw)]
    sim = _section("scale simulation", lambda: scale_sim.main(
        ["--out", str(out), "--seconds", "10", "--flat", "50000", "--web-trials", "1000"]
        + (["--quick"] if q else [])), failures, times)
    if sim:
        targets += [("scale simulation", t, v, verdict) for t, v, verdict in scale_sim.targets(sim)]

    # 13-14. the service on a Ray cluster of its own (ray start: a head and a second node).
    from benchmarks import busy_pool, many_studies

    _stop_ray()  # busy_pool's driver joins its own cluster, not a Ray an earlier section left
    pool = _section("busy pool", lambda: busy_pool.main(["--out", str(out)] + (["--quick"] if q else [])),
                    failures, times)
    _stop_ray()
    if pool:
        targets += [("busy pool", t, v, verdict) for t, v, verdict in busy_pool.targets(pool)]
    many = _section("many studies", lambda: many_studies.main(
        ["--quick", "--out", str(out / "many_studies_quick.md")]
        + (["--studies", "4", "--trials", "20"] if q else ["--studies", "20", "--trials", "40"])),
        failures, times)
    if many:
        targets += [("many studies", t, v, verdict) for t, v, verdict in many_studies.targets(many)]

    # 16. search quality: long, and about results rather than speed, so only when asked.
    if args.quality:
        from benchmarks import bayesmark

        _section("search quality", lambda: bayesmark.main(
            ["--smoke" if q else "--quick", "--out", str(out)]), failures, times)
        targets += [("search quality", t, v, verdict) for t, v, verdict in bayesmark.targets(bayesmark.LAST_RUNS)]

    total = time.monotonic() - started
    C.write("SUMMARY.md", summary(m, targets, times, total, failures, q), out)
    print((out / "SUMMARY.md").read_text())
    return 1 if failures else 0


def _profile_overhead(work: Path, pg: bool) -> str:
    """Where the driver's main thread spends an hpsearch run of 50 no-op trials."""
    from benchmarks import overhead
    from benchmarks._db import fresh_db
    from benchmarks._profile import profile

    with fresh_db("postgresql" if pg else "sqlite", work) as url:
        from hpsearch.store import Store

        Store(url).dispose()
        return profile(lambda: overhead.run_hpsearch(url, 50, 1), max_lines=40, interval=0.005)


def _overhead_notes(profile_text: str) -> str:
    from benchmarks.overhead import WHY

    if not profile_text:
        return WHY
    return WHY + "\n\n" + ("## Profile: hpsearch on the database, 50 no-op trials (pyinstrument, the driver's main "
            "thread; the writer thread runs beside it)\n\n```\n" + profile_text + "\n```")


def _marginal(rows: list[dict], system: str) -> tuple[list[int], float, float] | None:
    conc = min(r["concurrency"] for r in rows)
    got = {r["n"]: r["seconds"] for r in rows if r["system"] == system and r["concurrency"] == conc}
    ns = sorted(got)
    if len(ns) < 3:
        return None
    first = (got[ns[1]] - got[ns[0]]) / (ns[1] - ns[0])
    last = (got[ns[-1]] - got[ns[-2]]) / (ns[-1] - ns[-2])
    return (ns, first, last) if first > 0 else None


def _linearity(rows: list[dict]) -> tuple[float | None, str]:
    """Marginal seconds per trial over the last size step / over the first (1.0 = linear).

    Marginal, not average: each run has a fixed start-up cost (Ray's Tuner set-up and
    teardown, the study row) that would make small N look slow per trial. Bare Ray Tune's
    own ratio is given beside it: the machine's noise moves both.
    """
    mine = _marginal(rows, "hpsearch SQLite")
    bare = _marginal(rows, "bare Ray Tune")
    if mine is None:
        return None, "not measured (needs three sizes)"
    ns, first, last = mine
    ratio = last / first
    bare_ratio = bare[2] / bare[1] if bare else None
    ok = ratio <= 1.5 or (bare_ratio is not None and ratio <= bare_ratio * 1.25)
    ref = f"; bare Ray Tune's ratio {bare_ratio:.2f}" if bare_ratio is not None else ""
    return ratio, (f"{'near-linear' if ok else 'SUPER-LINEAR'} (hpsearch SQLite: "
                   f"{first * 1000:.0f} ms per added trial from N={ns[0]} to {ns[1]}, "
                   f"{last * 1000:.0f} ms from N={ns[-2]} to {ns[-1]}{ref})")


def _stop_ray() -> None:
    try:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    except Exception:  # noqa: BLE001
        pass


def summary(m: dict, targets: list, times: dict, total: float, failures: list, quick: bool) -> str:
    def fmt(v):
        if v is None:
            return "-"
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"

    lines = ["# Benchmark summary (`make bench`)" + (" - QUICK SMOKE RUN, not figures" if quick else ""),
             "", f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM "
             f"(load average {m['load']:.2f} at start; the machine is shared, so absolute times "
             "drift and ratios within this run are what we compare)",
             f"- Date: {m['date']}", f"- Git revision: {m['rev']}",
             f"- Wall time of the whole run: {total / 60:.1f} min", "",
             "## Targets (issues 9, 17, 18)", "",
             C.table(["section", "target", "measured", "verdict"],
                     [[s, t, fmt(v), verdict] for s, t, v, verdict in targets]), "",
             "Latency values are seconds; overhead ratios are hpsearch time / bare Ray Tune time; "
             "rates are per second. Details, the reason for each miss and what would close it: "
             "[overhead](overhead.md) ([plot](overhead_scaling.png)), [writes](writes.md), "
             "[suggestion latency](searchers_latency.md) ([plot](searchers_latency.png)), "
             "[serving](serving.md), [web UI at scale](webui_scale.md), [trainables](trainables.md), [many writers](many_writers.md), [data-parallel](ddp_scaling.md), [data-parallel reuse](ddp_reuse.md), [checkpointing](checkpointing.md), "
             "[scale simulation](scale_sim.md) (and docs/scaling.md), [compression](compression.md), "
             "[fine-tuning](finetune_shift.md), [serving load](serving_load.md) "
             "([autoscaling](serving_autoscale.png)), "
             "[time to target](time_to_target_quick.md) (3 seeds: [time_to_target.md](time_to_target.md)), "
             "[busy pool](busy_pool.md) ([timeline](busy_pool.png)), "
             "[many studies](many_studies_quick.md) (20 x 200: [many_studies.md](many_studies.md)); "
             "GPU: `benchmarks/gpu.sh`. "
             "Not run by `make bench` (longer, and not performance targets): "
             "`benchmarks/searchers_regret.py`, `benchmarks/bayesmark.py` (unless `--quality`), "
             "`benchmarks/asha_vs_fifo.py`, `benchmarks/multiobjective.py` and "
             "`benchmarks/distillation.py`, whose results files are from their own runs.", "",
             "## Section times", "",
             C.table(["section", "seconds"], [[k, f"{v:.0f}"] for k, v in times.items()])]
    if failures:
        lines += ["", "## Failures", ""] + [f"- {f}" for f in failures]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
