"""Load test of a deployed CNN (issue #18): the hpsearch prediction API on Ray Serve vs calling
the PyTorch model directly in one process, at concurrency 1, 8 and 32, with 1 and 2 replicas.

Setup (all real): a one-trial CNN study on the digits (Ray Tune), its best trial exported as
TorchScript; `hpsearch ui` (waitress, 8 threads, login off, loopback) and a serving host
(`python -m hpsearch.serving`, its own local Ray and Serve proxy) on free ports. Each client
thread sends one sample per request (`POST /api/v1/deployments/NAME/predict`, JSON) over a
kept-alive HTTP connection for ``DURATION_S`` seconds; "direct" threads call the TorchScript
module in this process (torch threads 1). Reported: throughput (requests/s), p50 and p99
latency (ms). Then a deployment autoscaled between bounds (``--autoscale``, default 1-3)
gets a burst of 32 clients and then none; its running replicas are sampled every second
(table and ``serving_autoscale.png``). Run: ``nice -n 10 python -m benchmarks.serving_load``
(``--quick``: a smoke run; ``make bench`` runs it).
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks._common import RESULTS, machine, machine_line, percentile, table

CONCURRENCY = (1, 8, 32)
DURATION_S = float(os.environ.get("SERVING_LOAD_DURATION_S", "8"))
WARMUP_S = 2.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load(call, concurrency: int, duration: float) -> dict:
    """Run ``call(state)`` in ``concurrency`` threads for ``duration`` s; latencies in ms."""
    lat: list[list[float]] = [[] for _ in range(concurrency)]
    ends: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0]
    start = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        state: dict = {}
        start.wait()
        while time.perf_counter() < stop_at[0]:
            t = time.perf_counter()
            try:
                call(state)
            except Exception:  # noqa: BLE001 - counted, the load goes on
                errors[0] += 1
                state.clear()
                continue
            lat[i].append((time.perf_counter() - t) * 1000)
            ends[i].append(time.perf_counter())

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + duration
    start.wait()
    for t in threads:
        t.join()
    all_ms = [x for xs in lat for x in xs]
    return {"n": len(all_ms), "rps": len(all_ms) / duration, "errors": errors[0],
            "p50": percentile(all_ms, 0.5) if all_ms else None,
            "p99": percentile(all_ms, 0.99) if all_ms else None,
            "ends": sorted(x for xs in ends for x in xs)}


def _api_call(port: int, name: str, body: bytes):
    def call(state: dict) -> None:
        conn = state.get("conn")
        if conn is None:
            conn = state["conn"] = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", f"/api/v1/deployments/{name}/predict", body=body,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError(r.status)
    return call


def _wait(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(1)
    raise RuntimeError(f"timed out waiting for {what}")


def _autoscale_burst(store_url: str, name: str, call, concurrency: int, burst_s: float,
                     idle_s: float, bounds: tuple[int, int]) -> dict:
    """A burst of ``concurrency`` clients for ``burst_s`` s on an autoscaled deployment, then
    ``idle_s`` s without load; the running replicas (as the serving host records Serve's
    state in the deployment's row, every ~2 s) sampled every second, and the requests/s."""
    from hpsearch import deployments as dep
    from hpsearch.store import Store

    samples: list[tuple[float, int | None, str | None]] = []
    out: dict = {}
    t0 = time.perf_counter()
    runner = threading.Thread(target=lambda: out.update(_load(call, concurrency, burst_s)), daemon=True)
    runner.start()
    while time.perf_counter() - t0 < burst_s + idle_s:
        row = dep.get(Store(store_url, check_schema=False), name)
        state = row.serve_state or {}
        samples.append((time.perf_counter() - t0, state.get("running_replicas"), state.get("status")))
        time.sleep(1.0)
    runner.join()
    ends = [e - t0 for e in out.pop("ends", [])]
    per_s = [sum(1 for e in ends if i <= e < i + 1) for i in range(int(burst_s + idle_s))]
    seen = [r for _, r, _ in samples if r is not None]
    return {"samples": samples, "rps_per_s": per_s, "load": out, "bounds": bounds,
            "burst_s": burst_s, "min_seen": min(seen) if seen else None,
            "max_seen": max(seen) if seen else None}


def plot_autoscale(burst: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ts, reps = zip(*[(t, r if r is not None else float("nan")) for t, r, _ in burst["samples"]])
    ax.step(ts, reps, where="post", color="tab:blue", label="running replicas")
    lo, hi = burst["bounds"]
    ax.axhline(lo, color="tab:blue", ls=":", lw=1)
    ax.axhline(hi, color="tab:blue", ls=":", lw=1)
    ax.set_ylim(0, hi + 1)
    ax.set_xlabel("seconds")
    ax.set_ylabel("replicas (bounds dotted)")
    ax.axvspan(0, burst["burst_s"], color="0.9", label="load burst")
    ax2 = ax.twinx()
    ax2.plot([i + 0.5 for i in range(len(burst["rps_per_s"]))], burst["rps_per_s"],
             color="tab:orange", label="requests/s")
    ax2.set_ylabel("requests/s")
    fig.legend(loc="upper right", fontsize=8)
    ax.set_title(f"Autoscaling {lo}-{hi} under a burst of {burst['concurrency']} clients")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def targets(res: dict) -> list[tuple[str, float | None, str]]:
    """Rows for SUMMARY.md: the API's throughput, the replicas ratio, autoscaling."""
    one = res["results"].get("hpsearch API -> Serve, 1 replica", {})
    two = res["results"].get("hpsearch API -> Serve, 2 replicas", {})
    c = max(one) if one else None
    out = []
    if c is not None:
        out.append((f"prediction API requests/s at concurrency {c}, 1 replica", one[c]["rps"],
                    f"for information (the model called directly: "
                    f"{res['results']['direct (one process)'][c]['rps']:,.0f}/s)"))
        if c in two:
            out.append((f"throughput, 2 replicas / 1, concurrency {c}", two[c]["rps"] / one[c]["rps"],
                        f"for information: {res['cores']} cores shared by client, web process and "
                        "replicas, so a second replica has no CPU of its own to add"))
    burst = res.get("autoscale")
    if burst:
        lo, hi = burst["bounds"]
        ok = burst["max_seen"] is not None and burst["min_seen"] >= lo and burst["max_seen"] <= hi
        out.append((f"autoscale {lo}-{hi}: most replicas running", burst["max_seen"],
                    f"met (between {burst['min_seen']} and {burst['max_seen']}, within {lo}-{hi})"
                    if ok else f"MISSED (seen {burst['min_seen']}-{burst['max_seen']})"))
        during = [r for t, r, *_ in burst.get("samples", []) if r is not None and t <= burst["burst_s"]]
        if during:
            out.append((f"autoscale {lo}-{hi}: most replicas running during the "
                        f"{burst['burst_s']:g} s burst", max(during),
                        "for information (a replica takes tens of seconds to start on this "
                        "shared machine)" if max(during) == lo else "grew under the load"))
    return out


def main(argv: list[str] | None = None) -> dict:
    import argparse

    import numpy as np
    import torch

    from hpsearch import deployments as dep
    from hpsearch.export import export_trial
    from hpsearch.orchestration import run_study
    from hpsearch.store import Store
    from trainables import _data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 s per cell, concurrency 1 and 8, a 15 s burst: a smoke run")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--autoscale", default="1-3", help="bounds of the burst's deployment")
    parser.add_argument("--burst-s", type=float, default=40.0)
    parser.add_argument("--idle-s", type=float, default=45.0, help="after the burst (downscale)")
    args = parser.parse_args(argv)
    duration = 2.0 if args.quick else DURATION_S
    concurrency = (1, 8) if args.quick else CONCURRENCY
    burst_s, idle_s = (15.0, 5.0) if args.quick else (args.burst_s, args.idle_s)
    bounds = tuple(int(v) for v in args.autoscale.split("-"))

    m = machine()
    tmp = Path(tempfile.mkdtemp(prefix="hpsearch-serving-load-"))
    home_before = os.environ.get("HPSEARCH_HOME")
    os.environ["HPSEARCH_HOME"] = str(tmp / "home")
    url = f"sqlite:///{tmp / 'db.sqlite'}"
    store = Store(url, upgrade=True)
    spec = {"name": "cnn-load", "trainable": "cnn", "dataset": "digits",
            "space": {"lr": {"choice": [3e-3]}},
            "fixed": {"epochs": 3, "conv_layers": 2, "channels": 16},
            "budget": {"trials": 1}, "seed": 0}
    row = run_study(spec, store=store, progress=False)
    import ray
    ray.shutdown()  # its CPUs back for the measurement
    assert row.status == "COMPLETED", row.error
    card = export_trial(store, "cnn-load", fmt="torchscript", out=tmp / "export")
    x = _data.load("cnn", "digits").x_val[:1]
    body = json.dumps({"inputs": x.tolist()}).encode()

    torch.set_num_threads(1)
    model = torch.jit.load(str(tmp / "export" / card["file"]))
    sample = torch.from_numpy(np.ascontiguousarray(x))

    def direct(state: dict) -> None:
        with torch.no_grad():
            model(sample)

    results: dict[str, dict[int, dict]] = {"direct (one process)": {}}
    for c in concurrency:
        _load(direct, c, WARMUP_S)
        results["direct (one process)"][c] = _load(direct, c, duration)

    web_port, serve_port = _free_port(), _free_port()
    env = {**os.environ, "HPSEARCH_DB": url, "HPSEARCH_SERVE_PORT": str(serve_port),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs = [subprocess.Popen([sys.executable, "-m", "hpsearch.cli", "ui", "--db", url, "--port",
                               str(web_port), "--no-auth"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen([sys.executable, "-m", "hpsearch.serving"], env=env,
                              start_new_session=True, stdout=open(tmp / "serving.log", "wb"),
                              stderr=subprocess.STDOUT)]
    burst = None

    def running(name: str, replicas: int | None = None) -> bool:
        row = dep.get(Store(url, check_schema=False), name)  # a fresh read each time
        got = (row.serve_state or {}).get("running_replicas")
        return row.status == "RUNNING" and got is not None and (replicas is None or got == replicas)

    try:
        for replicas in (1, 2):
            name = f"cnn-r{replicas}"
            dep.declare(store, "cnn-load", "best", name=name, replicas=replicas, created_by="bench")
            _wait(lambda: running(name, replicas), 600, f"{name} to run {replicas} replicas")
            call = _api_call(web_port, name, body)
            label = f"hpsearch API -> Serve, {replicas} replica{'s' if replicas > 1 else ''}"
            results[label] = {}
            for c in concurrency:
                _load(call, c, WARMUP_S)
                results[label][c] = _load(call, c, duration)
                results[label][c].pop("ends")
                print(label, c, results[label][c], file=sys.stderr, flush=True)
            dep.request_stop(store, name)
            _wait(lambda: not any(r.name == name for r in dep.all_(Store(url, check_schema=False))),
                  120, f"{name} removed")
        # Autoscaling under a burst: replicas between the bounds, growing with the load.
        name = "cnn-auto"
        dep.declare(store, "cnn-load", "best", name=name, autoscale=args.autoscale, created_by="bench")
        _wait(lambda: running(name, bounds[0]), 600, f"{name} to run {bounds[0]} replica(s)")
        call = _api_call(web_port, name, body)
        _load(call, 1, WARMUP_S)
        burst = _autoscale_burst(url, name, call, max(CONCURRENCY), burst_s, idle_s, bounds)
        burst["concurrency"] = max(CONCURRENCY)
        print("autoscale", burst["samples"], file=sys.stderr, flush=True)
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if home_before is None:
            os.environ.pop("HPSEARCH_HOME", None)
        else:
            os.environ["HPSEARCH_HOME"] = home_before

    for by_c in results.values():
        for r in by_c.values():
            r.pop("ends", None)
    rows = [[label, c, f"{r['rps']:.1f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}", r["errors"]]
            for label, by_c in results.items() for c, r in by_c.items()]
    one, two = results["hpsearch API -> Serve, 1 replica"], results["hpsearch API -> Serve, 2 replicas"]
    top = max(concurrency)
    res = {"results": results, "autoscale": burst, "cores": m["cores"]}
    lines = [
        "# Serving load: the prediction API on Ray Serve vs the model in one process (#18)", "",
        machine_line(m), "",
        f"CNN (2 conv layers, 16 channels) on the 8x8 digits, one sample per request, "
        f"{duration:g} s per cell after {WARMUP_S:g} s of warm-up. The API path is "
        "client -> `hpsearch ui` (waitress, 8 threads: checks the token, role and input) -> HTTP "
        "-> Serve proxy -> replica (`@serve.batch`, up to 64 samples, 5 ms wait) and back. "
        f"Produced by `benchmarks/serving_load.py{' --quick' if args.quick else ''}`.", "",
        table(["path", "concurrency", "requests/s", "p50 ms", "p99 ms", "errors"], rows), "",
        f"2 replicas vs 1 at concurrency {top}: {two[top]['rps'] / one[top]['rps']:.2f}x the "
        f"throughput (on {m['cores']} cores shared with the client threads, the web process and "
        "other work, a second replica has little CPU of its own to add).", ""]
    if burst:
        lo, hi = bounds
        lines += [
            f"## Autoscaling {lo}-{hi} under a burst", "",
            f"Deployment `--autoscale {args.autoscale}` (Serve's autoscaler: target 4 ongoing "
            f"requests per replica, upscale after 2 s, downscale after 30 s). {burst['concurrency']} "
            f"clients for {burst_s:g} s, then {idle_s:g} s without load; the running replicas are "
            "what the serving host records from `serve.status()` in the deployment's row "
            "(every ~2 s), sampled every second. "
            f"Replicas seen: {burst['min_seen']} to {burst['max_seen']} (bounds {lo}-{hi}); "
            f"{burst['load']['rps']:.1f} requests/s over the burst, p50 "
            f"{burst['load']['p50']:.0f} ms, {burst['load']['errors']} errors.", "",
            "![replicas and requests/s over time](serving_autoscale.png)", "",
            "| second | running replicas | Serve's status | requests completed in that second |",
            "|---|---|---|---|"]
        lines += [f"| {int(t)} | {r} | {st} | "
                  f"{burst['rps_per_s'][int(t)] if int(t) < len(burst['rps_per_s']) else '-'} |"
                  for t, r, st in burst["samples"]]
        lines += ["", f"Honestly: on {m['cores']} cores the extra replicas add no throughput "
                  "(the same cores serve every replica, the web process and the clients); the "
                  "figure shows the control loop (replicas follow the load within the bounds), "
                  "not a speed-up. On a cluster each replica brings its own CPU.", ""]
        args.out.mkdir(parents=True, exist_ok=True)
        plot_autoscale(burst, args.out / "serving_autoscale.png")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serving_load.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return res


if __name__ == "__main__":
    main()
