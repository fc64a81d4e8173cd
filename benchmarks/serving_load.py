"""Load test of a deployed CNN (issue #18): the hpsearch prediction API on Ray Serve vs calling
the PyTorch model directly in one process, at concurrency 1, 8 and 32, with 1 and 2 replicas.

Setup (all real): a one-trial CNN study on the digits (Ray Tune), its best trial exported as
TorchScript; `hpsearch ui` (waitress, 8 threads, login off, loopback) and a serving host
(`python -m hpsearch.serving`, its own local Ray and Serve proxy) on free ports. Each client
thread sends one sample per request (`POST /api/v1/deployments/NAME/predict`, JSON) over a
kept-alive HTTP connection for ``DURATION_S`` seconds; "direct" threads call the TorchScript
module in this process (torch threads 1). Reported: throughput (requests/s), p50 and p99
latency (ms). Run: ``nice -n 10 python -m benchmarks.serving_load``.
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
            "p99": percentile(all_ms, 0.99) if all_ms else None}


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


def main() -> int:
    import numpy as np
    import torch

    from hpsearch import deployments as dep
    from hpsearch.export import export_trial
    from hpsearch.orchestration import run_study
    from hpsearch.store import Store
    from trainables import _data

    m = machine()
    tmp = Path(tempfile.mkdtemp(prefix="hpsearch-serving-load-"))
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
    for c in CONCURRENCY:
        _load(direct, c, WARMUP_S)
        results["direct (one process)"][c] = _load(direct, c, DURATION_S)

    web_port, serve_port = _free_port(), _free_port()
    env = {**os.environ, "HPSEARCH_DB": url, "HPSEARCH_SERVE_PORT": str(serve_port),
           "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    procs = [subprocess.Popen([sys.executable, "-m", "hpsearch.cli", "ui", "--db", url, "--port",
                               str(web_port), "--no-auth"], env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
             subprocess.Popen([sys.executable, "-m", "hpsearch.serving"], env=env,
                              start_new_session=True, stdout=open(tmp / "serving.log", "wb"),
                              stderr=subprocess.STDOUT)]
    try:
        for replicas in (1, 2):
            name = f"cnn-r{replicas}"
            dep.declare(store, "cnn-load", "best", name=name, replicas=replicas, created_by="bench")
            def served() -> bool:
                row = dep.get(Store(url, check_schema=False), name)  # a fresh read each time
                return row.status == "RUNNING" and (row.serve_state or {}).get("running_replicas") == replicas

            _wait(served, 600, f"{name} to run {replicas} replicas")
            call = _api_call(web_port, name, body)
            label = f"hpsearch API -> Serve, {replicas} replica{'s' if replicas > 1 else ''}"
            results[label] = {}
            for c in CONCURRENCY:
                _load(call, c, WARMUP_S)
                results[label][c] = _load(call, c, DURATION_S)
                print(label, c, results[label][c], file=sys.stderr, flush=True)
            dep.request_stop(store, name)
            _wait(lambda: not any(r.name == name for r in dep.all_(Store(url, check_schema=False))),
                  120, f"{name} removed")
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

    rows = [[label, c, f"{r['rps']:.1f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}", r["errors"]]
            for label, by_c in results.items() for c, r in by_c.items()]
    one, two = results["hpsearch API -> Serve, 1 replica"], results["hpsearch API -> Serve, 2 replicas"]
    text = "\n".join([
        "# Serving load: the prediction API on Ray Serve vs the model in one process (#18)", "",
        machine_line(m), "",
        f"CNN (2 conv layers, 16 channels) on the 8x8 digits, one sample per request, "
        f"{DURATION_S:g} s per cell after {WARMUP_S:g} s of warm-up. The API path is "
        "client -> `hpsearch ui` (waitress, 8 threads: checks the token, role and input) -> HTTP "
        "-> Serve proxy -> replica (`@serve.batch`, up to 64 samples, 5 ms wait) and back. "
        "Produced by `benchmarks/serving_load.py`.", "",
        table(["path", "concurrency", "requests/s", "p50 ms", "p99 ms", "errors"], rows), "",
        f"2 replicas vs 1 at concurrency 32: {two[32]['rps'] / one[32]['rps']:.2f}x the throughput "
        f"(on {m['cores']} cores shared with the client threads, the web process and other work, "
        "a second replica has little CPU of its own to add).", "",
    ])
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "serving_load.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
