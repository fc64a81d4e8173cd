"""The benchmarks still run: each one at a tiny size, checking what it stores and writes.

No timing is asserted (performance belongs in benchmarks/results); these keep the
benchmark code from rotting as the service changes under it.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from benchmarks import _common as C


@pytest.fixture
def bench_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HPSEARCH_HOME", str(tmp_path / "home"))
    return tmp_path


def test_seed_fills_the_schema_the_service_reads(tmp_path):
    from benchmarks.seed import main, seed
    from hpsearch.store import Store
    from hpsearch.store.models import Result, Study, Trial, TrialEvent

    url = f"sqlite:///{tmp_path / 'seed.db'}"
    out = seed(url, trials=30, reports=4, studies=6, small_trials=2)
    store = Store(url)
    with store.session() as s:
        assert s.scalar(select(func.count(Study.id))) == 6
        assert s.scalar(select(func.count(Trial.id)).where(Trial.study_id == out["study_id"])) == 30
        assert s.scalar(select(func.count(Trial.id))) == 30 + 5 * 2
        assert s.scalar(select(func.count(TrialEvent.id))) == 60
    assert store.count_results(out["study_id"]) == out["results"] == 120
    assert store.get_study(out["study_id"]).name == "bench-big"
    store.dispose()
    assert main(["--db", url, "--trials", "3", "--studies", "1"]) == 2  # the name is taken


def test_webui_scale_keeps_its_database_and_reports(tmp_path):
    """The 100k/1M benchmark seeds once and reuses the database, builds the study's frame,
    and reports each measurement with its target."""
    from benchmarks import webui_scale as W
    from hpsearch.store import Store, frames, queries

    db = W.scale_db("sqlite", 40, tmp_path, reseed=False, log=lambda s: None)
    assert db["seed_s"] is not None
    again = W.scale_db("sqlite", 40, tmp_path, reseed=False, log=lambda s: None)
    assert again["seed_s"] is None and again["study_id"] == db["study_id"]  # kept, not seeded
    store = Store(db["url"])
    assert frames.load(store, db["study_id"]).rows() == queries.scored_trials(store, db["study_id"])
    # The page's figures stored as the study's driver stores them when it ends it.
    from hpsearch import plots
    from hpsearch.store import figures

    wanted = plots.page_charts(store.get_study(db["study_id"]).spec)
    version = repr(figures.study_version(store, db["study_id"]))
    assert db["figures_s"] > 0 and len(figures.get_many(
        store, db["study_id"], {figures.chart_key(n, o): version for n, o in wanted.items()})) == len(wanted)
    store.dispose()
    res = [{"backend": "sqlite", "trials": 40, "seed_s": 1.0, "frame_s": 0.1,
            "charts": [{"chart": "history", "status": 200, "bytes": 2048, "cold": 0.5,
                        "cold_stored": 0.1, "warm": 0.01},
                       {"chart": "slice", "status": 200, "bytes": 4096, "cold": 1.5,
                        "cold_stored": 0.2, "warm": 0.02}],
            "browser": {"runs": 1, "installed": True, "bundles": {"cartesian, stored": {
                "plotly_js": "cartesian 4.1.1", "charts": 9, "first_charts": 4,
                "cold": 2.0, "cold_all": [2.0], "cold_first": 1.2, "cold_first_all": [1.2],
                "warm": 1.0, "warm_all": [1.0], "warm_first": 0.6, "warm_first_all": [0.6],
                "cold_errors": [], "warm_errors": ["importance"]}}},
            "pages": [{"endpoint": "study page", "path": "/studies/1", "status": 200, "bytes": 10,
                       "cold": 0.2, "warm": 0.1}]}]
    text = W.report(res, C.machine())
    assert "| slice | 4 | 1.50 | 0.20 | 0.020 | MISSED" in text and "study page" in text
    verdicts = {t: v for t, _, v in W.targets(res)}
    assert verdicts["slowest chart cold (slice), sqlite, 40 trials"].startswith("MISSED")
    assert verdicts["slowest chart cold, figures stored (slice), sqlite, 40 trials"].startswith("met")
    page = ("study page, every chart drawn in Chromium (cartesian 4.1.1), {}, figures stored, "
            "sqlite, 40 trials")
    assert verdicts[page.format("cold")].startswith("met")
    assert verdicts[page.format("warm")].endswith("1 charts show errors")


def test_serving_answers_every_endpoint_from_a_real_server(tmp_path):
    from benchmarks import serving
    from benchmarks.seed import seed

    url = f"sqlite:///{tmp_path / 'serve.db'}"
    out = seed(url, trials=20, reports=3, studies=3, small_trials=1)
    rows = serving.measure(url, out["study_id"], 20, tmp_path, requests=4, budget_s=0.1, studies=3,
                           log=lambda s: None)
    assert {r["endpoint"] for r in rows} >= {"study page", "studies page", "plot importance"}
    bad = [(r["endpoint"], r["errors"], r["c4"]["n"]) for r in rows
           if r["errors"] or r["c4"]["n"] < 4]
    assert bad == []
    text = serving.report({"sqlite": {"rows": rows, "seed_s": 0.1}}, C.machine(),
                          type("A", (), {"trials": 20, "reports": 3, "studies": 3, "requests": 1,
                                         "budget": 0.1}))
    assert "| study page |" in text and "Over 1 s:" in text


def test_overhead_and_writes_run_every_system(ray_session, bench_home):
    from benchmarks import overhead, run_all, writes

    # No warm-up run: the same bare Ray Tune run as the first row, which is what is checked.
    rows = overhead.measure([3], 1, bench_home, postgres=False, warm_up=False, log=lambda s: None)
    assert [r["system"] for r in rows] == ["bare Ray Tune", "hpsearch SQLite", "Optuna SQLite"]
    assert all(r["seconds"] > 0 for r in rows)
    # Repeated rounds alternate the order, so a drift does not always fall on one system
    said: list[str] = []
    again = overhead.measure([2], 1, bench_home, postgres=False, warm_up=False, repeats=2,
                             systems=("bare Ray Tune", "Optuna SQLite"), log=said.append)
    assert [line.split()[0] for line in said] == ["bare", "Optuna", "Optuna", "bare"]
    assert all(len(r["runs"]) == 2 for r in again)
    skipped: list[str] = []
    assert overhead.measure([5], 1, bench_home, postgres=False, deadline=0, skipped=skipped,
                            log=lambda s: None) == []
    assert skipped == ["N=5 at concurrency 1"]
    text = overhead.report(rows, C.machine(), skipped=skipped)
    assert "hpsearch SQLite" in text and "Skipped" in text

    wrows = writes.measure([(1, 15)], bench_home, postgres=False, log=lambda s: None,
                           long_reports=40)
    assert [(r["path"], r["rows"]) for r in wrows] == [
        ("bare Ray Tune (no persistence)", 15), (writes.START, 10),
        ("hpsearch end to end, tune.report", 15), ("hpsearch end to end, hpsearch.report", 15),
        ("hpsearch end to end, hpsearch.report", 40), ("Writer alone (no Ray)", 15)]
    # hpsearch's rows also give the rate from the first result reaching the driver
    assert all(r["steady_rate"] > 0 for r in wrows if r["path"].startswith("hpsearch"))
    assert "from the first result" in writes.report(wrows, C.machine())
    summary = run_all.summary(C.machine(), [("writes", "t", 1.0, "met")], {"writes": 1.0}, 2.0,
                              [], True)
    assert "| writes | t | 1 | met |" in summary


def test_latency_targets_and_plot(tmp_path):
    from benchmarks import searchers_latency as lat

    rows = [(name, n, 2, *lat.measure(name, n, 2)) for name in ("random", "bayesian")
            for n in (10, 20)]
    assert all(r[3] > 0 for r in rows)
    lat.plot(rows, tmp_path / "lat.png")
    assert (tmp_path / "lat.png").stat().st_size > 1000
    assert C.verdict(0.5, 1.0, False).startswith("met") and "MISSED" in C.verdict(2, 1.0, False)


def test_bayesmark_drives_every_method_on_a_conditional_problem_and_summarises():
    from benchmarks import bayesmark as bm
    from hpsearch.space import Space

    problem = bm.SK_PROBLEMS["SVC-breast"]
    space, f = Space.from_spec(problem.space), bm.sk_objective(problem, folds=2, max_rows=80)
    runs = []
    for method in ("bayesian", "tpe", "skopt", "genetic", "random"):
        losses = bm.drive(method, space, f, seed=0, rounds=2, batch=3)
        assert len(losses) == 6 and all(0.0 <= v <= 1.0 for v in losses)
        runs.append({"method": method, "problem": "SVC-breast", "seed": 0, "batch": 3, "losses": losses})
    runs.append({**runs[0], "method": "auto"})
    per_rows, kind_rows, agg = bm.sk_summary(runs, bm.METHODS)
    assert per_rows[0][:4] == ["SVC-breast", "conditional", 3, 1] and len(per_rows[0]) == 4 + len(bm.METHODS)
    assert set(agg) == {(3, m) for m in bm.METHODS}
    assert all(1 <= rank <= len(bm.METHODS) for _, rank, _ in agg.values())
    assert kind_rows[0][:2] == ["conditional", 3]
    # The issue's goals, read from the runs (#20): a rank table and the synthetic regrets.
    branin_opt = bm.synthetic("branin")[2]
    runs = [{**r, "part": "sk"} for r in runs]
    runs += [{"part": "syn", "method": "bayesian", "problem": "branin", "seed": 0, "batch": 2,
              "losses": [branin_opt + 0.5] * 49 + [branin_opt + 0.0005]}]
    goals = {t: verdict for t, _, verdict in bm.targets(runs)}
    assert goals["bayesian median regret on branin, 50 evaluations 2 in parallel (1 seeds)"].startswith("met")
    assert goals["bayesian median regret on hartmann6, 50 evaluations 2 in parallel (0 seeds)"] == "not measured"
    assert "bayesian first in mean rank, scikit-learn problems, batch 3" in goals
    # auto per problem class (here a copy of bayesian's run, ranked without bayesian)
    assert goals["auto first in mean rank on every problem class, scikit-learn problems, batch 3"].startswith(
        ("met (first on all 1)", "MISSED (first on 0 of 1; behind on conditional"))


def test_bayesmark_conditional_problems_score_every_branch():
    """MLP-digits and CASH-digits (#20's conditional class): a config of each branch, holding
    only its active parameters, builds and scores; the CLI names an unknown problem (exit 2)."""
    from benchmarks import bayesmark as bm
    from hpsearch.space import Space

    branches = {"MLP-digits": [
        {"solver": "adam", "learning_rate_init": 0.01, "beta_1": 0.9, "alpha": 1e-4, "layers": 1, "units_1": 16},
        {"solver": "sgd", "learning_rate_init": 0.05, "momentum": 0.9, "alpha": 1e-4, "layers": 3,
         "units_1": 16, "units_2": 8, "units_3": 8}],
        "CASH-digits": [{"model": "knn", "n_neighbors": 3, "weights": "distance"},
                        {"model": "svc", "C": 10.0, "gamma": 0.001}, {"model": "logreg", "C": 1.0}]}
    for name, configs in branches.items():
        problem = bm.SK_PROBLEMS[name]
        space, f = Space.from_spec(problem.space), bm.sk_objective(problem, folds=2, max_rows=80)
        assert problem.kind == "conditional" and space.conditional
        for config in configs:
            assert space.contains(config), config
            assert 0.0 <= f(config) < 0.9, config  # better than chance on 10 digits
    with pytest.raises(SystemExit) as exit_:
        bm.main(["--smoke", "--problems", "MLP-digits,NoSuch"])
    assert exit_.value.code == 2


def test_bayesmark_objectives_do_not_depend_on_numpy_global_state():
    """A problem's loss is a function of the config: the comparison between methods holds
    only if a config scores the same in every worker process (liblinear shuffles with
    numpy's global state unless seeded)."""
    import numpy as np

    from benchmarks import bayesmark as bm

    config = {"C": 17.3, "penalty": "l1", "fit_intercept": False, "class_weight": None,
              "scaler": "standard"}
    f = bm.sk_objective(bm.SK_PROBLEMS["LR-breast"], folds=3, max_rows=200)
    losses = set()
    for state in range(4):
        np.random.seed(state)
        losses.add(f(config))
    assert len(losses) == 1


def test_multiobjective_benchmark_runs_and_reports(tmp_path):
    """benchmarks/multiobjective.py at a tiny size: every method on every test problem,
    and its report's tables; benchmarks/distillation.py's summary and verdict."""
    from types import SimpleNamespace

    from benchmarks import multiobjective as M

    problems = M.test_problems(budget=5, seeds=1, log=lambda s: None)
    assert {(r["problem"], r["method"]) for r in problems} == {
        (p.name, m) for p in M.PROBLEMS for m in M.METHODS}
    assert all(r["hv"][0] >= 0 for r in problems)
    cnn_rows = [{"budget": 4, "method": m, "seed": 0, "hv": 1.0, "tight": 0.5, "best": 0.5,
                 "front": [(-0.5, 3.0)], "hv_again": 0.9, "tight_again": 0.4, "s": 0.0}
                for m in ("genetic", "bayesian", "random")]  # the CNN case trains: not here
    args = SimpleNamespace(quick=True, budget=5, seeds=1, cnn_seeds=1, only=None)
    text = M.report(problems, cnn_rows, args, C.machine())
    assert "| ZDT1 |" in text and "| DTLZ2 |" in text and "distillation.md" in text
    assert "### 4 trials" in text and "| bayesian | 1.00 |" in text

    from benchmarks import distillation as D

    res = {"teacher": 0.9, "teacher_params": 100, "student_params": 10, "epochs": 3,
           "runs": {"alone": [[0.5, 0.6, 0.6], [0.5, 0.7, 0.6]],
                    "distilled": [[0.4, 0.7, 0.7], [0.4, 0.7, 0.8]]}}
    rows = D.summarise(res, [1, 3])
    assert [r["won"] for r in rows] == [0, 2, 2, 2] and rows[0]["lost"] == 2
    assert rows[1]["gain"] == pytest.approx(0.15) and rows[3]["gain"] == pytest.approx(0.1)
    assert rows[2]["alone"] == pytest.approx([17 / 30, 0.6])  # the mean of all 3 epochs
    assert rows[2]["gain"] == pytest.approx(1 / 30)
    assert D.targets(rows)[0][2].startswith("met")
    assert "| 3 | 0.600 |" in D.report(res, rows, C.machine(), quick=True)


def test_scale_sim_drives_the_real_callback_and_every_row_lands(pg_url):
    """benchmarks/scale_sim.py: synthetic trials through StoreCallback, Writer and SQL."""
    from benchmarks import scale_sim as S
    from hpsearch.store import Store, TrialStatus

    Store(pg_url).dispose()
    sid = S._study(pg_url, "sim")
    got = S.drive(pg_url, sid, trials=6, per_s=None, seconds=0, length=5, max_results=60)
    assert got["results"] == 60 and got["ended"] == 12 and got["started"] == 18
    store = Store(pg_url)
    trials = store.trials(sid)
    assert store.count_results(sid) == 60 and len(trials) == 18
    assert sum(t.status == TrialStatus.COMPLETED for t in trials) == 12
    assert all(t.iterations == 5 for t in trials if t.status == TrialStatus.COMPLETED)
    rows = S.targets({"paced": dict(got, per_s=10.0, lag_max_s=0.0), "flat": got})
    assert rows[0][2].startswith("met") and len(rows) == 2


def test_issue_17_18_sections_report_their_targets():
    """The rows make bench adds for compression, fine-tuning and serving load (#17, #18)."""
    from benchmarks import compression, finetune_shift, serving_load

    rows = [{"case": "cnn", "variant": v, "kb_ratio": r, "latency_ratio": 1.0}
            for v, r in (("float", 1.0), ("prune 0.5", 0.6), ("dynamic_int8", 0.4))]
    rows.append({"case": "autoencoder 2048 wide", "variant": "dynamic_int8", "kb_ratio": 0.3,
                 "latency_ratio": 0.9})
    verdicts = {t: v for t, _, v in compression.targets(rows)}
    assert verdicts["model_kb, prune 0.5 / float, CNN"].startswith("met")
    assert verdicts["batch-1 latency, dynamic int8 / float, 2048-wide autoencoder"].startswith("MISSED")
    recs = [{"variant": "noisy", "seeds": 3, "reached": 2, "epochs_scratch": 10.0, "epochs_finetuned": 4.0},
            {"variant": "new", "seeds": 3, "reached": 0, "epochs_scratch": 9.0, "epochs_finetuned": None}]
    (_, ratio, ok), (_, none, missed) = finetune_shift.targets(recs)
    assert ratio == 0.4 and ok.startswith("met") and none is None and missed.startswith("MISSED")
    cell = {"rps": 100.0}
    res = {"cores": 2, "results": {"direct (one process)": {8: {"rps": 1e4}},
                                   "hpsearch API -> Serve, 1 replica": {8: cell},
                                   "hpsearch API -> Serve, 2 replicas": {8: {"rps": 110.0}}},
           "autoscale": {"bounds": (1, 3), "min_seen": 1, "max_seen": 2, "burst_s": 10.0,
                         "samples": [(0.0, 1, "HEALTHY"), (5.0, 2, "UPSCALING"), (12.0, 1, "HEALTHY")]}}
    got = {t: (v, verdict) for t, v, verdict in serving_load.targets(res)}
    assert got["throughput, 2 replicas / 1, concurrency 8"][0] == 1.1
    assert got["autoscale 1-3: most replicas running"] == (2, "met (between 1 and 2, within 1-3)")
    assert got["autoscale 1-3: most replicas running during the 10 s burst"] == (2, "grew under the load")
    res["autoscale"]["max_seen"] = 4
    assert serving_load.targets(res)[-2][2].startswith("MISSED")


def test_pool_and_target_arithmetic():
    """busy_pool's share, stop gaps and lanes, and time_to_target's first crossing and best-by,
    on hand-made spans and points (the benchmarks' verdicts rest on these)."""
    from datetime import datetime, timedelta

    from benchmarks import busy_pool, time_to_target
    from hpsearch.store.queries import Span

    t0 = datetime(2026, 1, 1)
    at = lambda s: t0 + timedelta(seconds=s)  # noqa: E731
    spans = [Span(0, "COMPLETED", at(0), at(4), slot=0), Span(1, "EARLY_STOPPED", at(0), at(1)),
             Span(2, "COMPLETED", at(1.5), at(4)), Span(3, "EARLY_STOPPED", at(4), at(4))]
    got = busy_pool.share(spans, slots=2)
    assert got["trials"] == 4 and got["span_s"] == 4 and abs(got["share"] - 7.5 / 8) < 1e-9
    assert busy_pool.stop_gaps(spans) == [0.5, 0.0]  # stop at 1 -> next start 1.5; at 4 -> 4
    # Until the last start (4): busy 4 + 1 + 2.5 of 2 x 4 slot-seconds.
    assert abs(busy_pool.share_while_pending(spans, slots=2) - 7.5 / 8) < 1e-9
    tail = [Span(0, "COMPLETED", at(0), at(2)), Span(1, "COMPLETED", at(0), at(10)),
            Span(2, "COMPLETED", at(2), at(3))]  # the last start at 2; 2-10 is the budget's end
    assert abs(busy_pool.share(tail, slots=2)["share"] - 13 / 20) < 1e-9
    assert busy_pool.share_while_pending(tail, slots=2) == 1.0
    assert busy_pool.slot_lag([Span(0, "COMPLETED", at(0), at(1), slot=0, node_id="a"),
                               Span(1, "COMPLETED", at(2.5), at(3), slot=0, node_id="b"),
                               Span(2, "COMPLETED", at(1), at(3), slot=0, node_id="a")]) == 2.5
    m = {"cpu": "cpu", "cores": 2, "ram_gib": 1, "date": "d", "rev": "r", "load": 1.5}
    page = busy_pool.report({"short": busy_pool._summary(tail, slots=2)}, m, True, "p.png",
                            load_end=7.25)
    assert "load average at start 1.50" in page and "Load average at the end 7.25" in page
    assert "| short | 3 | COMPLETED 3 | ? | 10.0 | 65.0% | 100.0% | 65.0% | 0.00 |" in page
    ddp_run = {**busy_pool._summary(tail, slots=2), "training_share": 0.2,
               "loop_waits": [0.05, 0.25, 12.0, 14.0]}  # two trials took over kept workers
    page = busy_pool.report({"data-parallel": ddp_run}, m, True, "p.png", load_end=1)
    assert "filled 20.0% of the slots' time" in page
    assert "2 of 4 trials took over workers (their first epoch within 1 s of their start, " \
           "at most 0.25 s); 2 waited for a new group, median 13.0 s." in page
    # No overhead: the same durations back to back on the first free slot. The tail's loss
    # is all the budget's end (65%); a gap and a late start are the pool's own.
    assert abs(busy_pool.no_overhead_share(tail, slots=2) - 13 / 20) < 1e-9
    gappy = [Span(0, "COMPLETED", at(0), at(1)), Span(1, "COMPLETED", at(2), at(3)),
             Span(2, "COMPLETED", at(0.5), at(2.5))]  # one slot idles 1-2, the other 0-0.5
    assert abs(busy_pool.share(gappy, slots=2)["share"] - 4 / 6) < 1e-9
    assert abs(busy_pool.no_overhead_share(gappy, slots=2) - 4 / 4) < 1e-9  # [0,1]+[1,2] | [0,2]
    # 3 slots of 2-worker trials: one trial at a time, 4 s back to back, 2 x 4 of 3 x 4
    assert abs(busy_pool.no_overhead_share(gappy, slots=3, per_trial=2) - 8 / 12) < 1e-9
    labels = [label for label, _ in busy_pool.lanes(spans)]
    assert labels[0] == "?/0" and labels.count("#0") == 3  # the recorded slot, else a free lane
    task = time_to_target.TASKS["cnn"]
    points = [(1.0, 0.5), (2.0, 0.981), (3.0, 0.99)]
    assert time_to_target.time_to(task, points) == 2.0
    assert time_to_target.time_to(task, points[:1]) is None
    assert time_to_target.first_epoch(points) == 1.0 and time_to_target.first_epoch([]) is None
    assert time_to_target.best_by(task, points, 2.5) == 0.981
    assert time_to_target.best_by(time_to_target.TASKS["vae"], [(1.0, 30.0), (2.0, 25.0)], 5) == 25.0


def test_ddp_reuse_report():
    """ddp_reuse's table: trials that took over workers (first round within 5 s) and the
    others' median wait, from hand-made trials."""
    from benchmarks import ddp_reuse

    trials = [{"status": "COMPLETED", "start": 0.0, "end": 6.0, "wait": 20.0, "rounds": 5},
              {"status": "COMPLETED", "start": 0.0, "end": 6.0, "wait": 18.0, "rounds": 5},
              {"status": "EARLY_STOPPED", "start": 6.0, "end": 7.0, "wait": 0.3, "rounds": 1}]
    m = {"cpu": "cpu", "cores": 2, "ram_gib": 1, "date": "d", "rev": "r", "load": 1.0}
    page = ddp_reuse.report([{"study": "asha", "wall_s": 8.0, "span_s": 7.0, "trials": trials}], m)
    assert "| asha | 3 | COMPLETED 2, EARLY_STOPPED 1 | 7 | 1 of 3 | 0.30 | 19.0 |" in page


def test_gpu_busy_dry_run_on_the_cpu_reports_every_study(tmp_path):
    """benchmarks/gpu_busy.py (run by benchmarks/gpu.sh on a GPU machine) at a tiny size on
    the CPU, in a process of its own: it starts and stops its own Ray."""
    import os
    import subprocess
    import sys

    out = tmp_path / "gpu_busy.md"
    env = {**os.environ, "HPSEARCH_HOME": str(tmp_path / "home")}
    env.pop("RAY_ADDRESS", None)
    run = subprocess.run([sys.executable, "-m", "benchmarks.gpu_busy", "--device", "cpu",
                          "--trials", "2", "--concurrent", "1", "--epochs", "1", "--pause", "1",
                          "--out", str(out)],
                         cwd=C.ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in out.read_text().splitlines()
            if line.startswith("| cnn |") or line.startswith("| timed_cnn |")}
    assert set(rows) == {"cnn", "timed_cnn"}
    assert all(r[1] == "2" for r in rows.values())  # every trial ran and is counted
    training = rows["timed_cnn"][9]  # the timed trainable's own training share
    assert training.endswith("%") and 0 < float(training[:-1]) <= 100, rows
    assert out.with_suffix(".png").stat().st_size > 0


def test_checkpointing_runs_both_systems_and_counts_tunes_saves(ray_session, bench_home):
    """benchmarks/checkpointing.py at 6 trials: both systems run every trial; bare Ray Tune
    saves its state as trials checkpoint, hpsearch at its start and end only."""
    from benchmarks import checkpointing

    rows = checkpointing.measure([6], bench_home, log=lambda s: None)
    (row,) = rows
    assert row["bare"]["saves"] > 2 and row["hpsearch"]["saves"] <= 2, row
    m = {"cpu": "cpu", "cores": 2, "ram_gib": 1, "date": "d", "rev": "r", "load": 1.0}
    page = checkpointing.report(rows, m)
    assert f"| 6 | {row['bare']['wall']:.1f} | {row['bare']['saves']} (" in page
    assert checkpointing.targets(rows)[0][0] == "hpsearch / bare Ray Tune, 6 trials of 4 checkpoints"
