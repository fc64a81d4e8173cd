"""A busy GPU (#21 §2 on a GPU machine): the share of the GPU's time spent training.

A GPU search as a user runs one: the built-in CNN on digits, ``--trials`` trials,
``--concurrent`` at a time on ``1/concurrent`` of the one GPU each (``resources.gpu``),
through ``hpsearch.run`` on a local Ray and a throw-away SQLite store. Two studies:

- ``cnn``: the product's built-in ``cnn`` trainable as it is (checkpoint every epoch);
- ``timed_cnn`` (``benchmarks._trials``): the same model, data and loop, timing its own
  training passes, so the slots' time splits into start-up (the trial's process, CUDA,
  data to the device), training, validation and the rest. It starts ``--pause`` seconds
  after the first, as a user's second run does: the idle workers the first study left
  import torch and its compiler meanwhile (hpsearch/warm_workers.py, 6).

Between the first trial's start and the last one's end (the trials' own times in the
store) it gives: the slots' busy share (trial time / (slots x span), as
benchmarks/busy_pool.py does on CPUs); the training share (``timed_cnn``: seconds in
training passes / (slots x span)); and the GPU's own figure, NVML's utilisation (the share
of each sample period in which a kernel ran) sampled in this process all along. The last
row is one process training the same model alone in a tight loop (no Ray, no store): the
utilisation this model reaches on this GPU at all, the ceiling for the rows above::

    .venv/bin/python -m benchmarks.gpu_busy               # on a CUDA machine (benchmarks/gpu.sh)
    .venv/bin/python -m benchmarks.gpu_busy --device cpu --trials 4 --concurrent 2   # a dry run
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import _common as C
from benchmarks.busy_pool import _ts  # a stored naive UTC time as a Unix time

SPACE = {"lr": {"loguniform": [1.0e-3, 3.0e-2]}, "optimizer": {"choice": ["adam", "adagrad"]},
         "channels": {"logint": [8, 64]}}
FIXED = {"conv_layers": 2, "kernel_size": 3}


class GpuSampler(threading.Thread):
    """NVML utilisation of GPU 0 every ``period`` s, as (unix time, percent) pairs."""

    def __init__(self, period: float = 0.1):
        super().__init__(daemon=True)
        self.period, self.samples, self.error = period, [], None
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            while not self._stop_event.is_set():
                util = pynvml.nvmlDeviceGetUtilizationRates(handle).gpu
                self.samples.append((time.time(), float(util)))
                self._stop_event.wait(self.period)
        except Exception as e:  # noqa: BLE001 - no NVML here: the figure is left out, not faked
            self.error = f"{type(e).__name__}: {e}"

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def between(self, t0: float, t1: float) -> dict | None:
        inside = [u for t, u in self.samples if t0 <= t <= t1]
        if not inside:
            return None
        return {"mean": statistics.fmean(inside) / 100, "any": sum(u > 0 for u in inside) / len(inside),
                "n": len(inside)}


def spec(name: str, trainable: str, trials: int, concurrent: int, epochs: int, batch: int,
         gpu: float) -> dict:
    return {"name": name, "trainable": trainable, "dataset": "digits", "metric": "val_accuracy",
            "mode": "max", "space": SPACE,
            "fixed": {**FIXED, "epochs": epochs, "batch_size": batch},
            "searcher": {"type": "random"}, "scheduler": {"type": "fifo"},
            "budget": {"trials": trials, "max_concurrent": concurrent},
            "resources": {"cpu": 1, "gpu": gpu}, "seed": 0}


def study_figures(store, study_id: int, slots: int, sampler: GpuSampler | None) -> dict:
    from hpsearch.store import queries

    spans = [s for s in queries.trial_spans(store, study_id) if s.finished_at is not None]
    first = min(_ts(s.started_at) for s in spans)
    last = max(_ts(s.finished_at) for s in spans)
    busy = sum(_ts(s.finished_at) - _ts(s.started_at) for s in spans)
    r = {"trials": len(spans), "statuses": sorted({s.status for s in spans}), "span_s": last - first,
         "busy_share": busy / (slots * (last - first)), "first": first, "last": last,
         "spans": [(_ts(s.started_at), _ts(s.finished_at)) for s in spans]}
    train, evals, startup, best, warm_train = [], [], [], [], []
    w = r["warm"] = after_first_wave(spans, slots)
    for t in store.trials(study_id):
        results = store.results(t.id)
        if not results or t.started_at is None:
            continue
        m = results[-1].metrics
        best.append(m.get("val_accuracy"))
        if "train_s" in m:
            train.append(m["train_s"])
            evals.append(m["eval_s"])
            startup.append(m["t_ready"] - _ts(t.started_at))
            if w is not None:  # its training, spread over its time from ready to end
                a, b = m["t_ready"], _ts(t.finished_at or t.started_at)
                if b > a:
                    warm_train.append(m["train_s"] * _overlap(a, b, w["first"], w["last"]) / (b - a))
    r["best"] = max((b for b in best if b is not None), default=None)
    if train:
        r["training_share"] = sum(train) / (slots * (last - first))
        r["eval_share"] = sum(evals) / (slots * (last - first))
        r["startup_share"] = sum(startup) / (slots * (last - first))
        r["startup_median_s"] = statistics.median(startup)
        r["train_median_s"] = statistics.median(train)
        if w is not None and warm_train:
            w["training_share"] = sum(warm_train) / (slots * (w["last"] - w["first"]))
    study = store.get_study(study_id)
    r["to_first_s"] = first - _ts(study.started_at or study.created_at)
    r["gpu"] = sampler.between(first, last) if sampler is not None else None
    if w is not None:
        w["gpu"] = sampler.between(w["first"], w["last"]) if sampler is not None else None
    return r


def _overlap(a: float, b: float, lo: float, hi: float) -> float:
    return max(0.0, min(b, hi) - max(a, lo))


def after_first_wave(spans, slots: int) -> dict | None:
    """The slots' busy share from the end of the last of the first ``slots`` trials (each
    slot's first trial pays its process's start: Python, torch, CUDA) to the last end: what
    a long study's slots look like once every trial process is up. Trial time in that
    window, over slots x window."""
    wave = sorted(spans, key=lambda s: _ts(s.started_at))[:slots]
    first = max(_ts(s.finished_at) for s in wave)
    last = max(_ts(s.finished_at) for s in spans)
    if last - first < 1e-6:
        return None
    busy = sum(_overlap(_ts(s.started_at), _ts(s.finished_at), first, last) for s in spans)
    return {"busy_share": busy / (slots * (last - first)), "first": first, "last": last}


PROBE = r"""
import json, sys, time
t = {"start": time.time()}
import torch
t["import torch"] = time.time()
import torch._dynamo  # every torch.optim optimizer imports it as it is made
t["import torch._dynamo"] = time.time()
torch.zeros(1, device="cuda").sum().item()
t["CUDA context"] = time.time()
import importlib, trainables
from trainables import _harness
s = _harness.prepare(importlib.import_module(trainables.BUILTIN["cnn"]).RECIPE,
                     {"conv_layers": 2, "kernel_size": 3, "epochs": 1, "batch_size": 64}, device="cuda")
torch.cuda.synchronize()
t["import trainables, data and model on the GPU"] = time.time()
_harness.train_epoch(s, 1)
torch.cuda.synchronize()
t["first epoch (kernels' first use)"] = time.time()
_harness.train_epoch(s, 2)
torch.cuda.synchronize()
t["second epoch"] = time.time()
print(json.dumps(t))
"""


def startup_probe(processes: int) -> list[dict]:
    """Seconds each step of a fresh process's first CUDA trial takes, with ``processes``
    such processes starting at once (as a study's first trials do)."""
    import json
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", PROBE], stdout=subprocess.PIPE, text=True)
             for _ in range(processes)]
    out = []
    for proc in procs:
        stdout, _ = proc.communicate(timeout=300)
        t = json.loads(stdout.strip().splitlines()[-1])
        keys = list(t)
        out.append({k: t[k] - t[prev] for prev, k in zip(keys, keys[1:])})
    return out


def alone(device: str, epochs: int, batch: int, sampler: GpuSampler | None) -> dict:
    """One process training the CNN (the space's middle: adam, 24 channels) in a tight loop."""
    import importlib

    import torch

    import trainables
    from trainables import _harness

    recipe = importlib.import_module(trainables.BUILTIN["cnn"]).RECIPE
    s = _harness.prepare(recipe, {**FIXED, "epochs": epochs, "batch_size": batch, "lr": 0.005,
                                  "optimizer": "adam", "channels": 24}, device=device)
    sync = torch.cuda.synchronize if s.device.type == "cuda" else (lambda: None)
    _harness.train_epoch(s, 1)  # warm-up
    sync()
    t0 = time.time()
    for epoch in range(2, epochs + 2):
        _harness.train_epoch(s, epoch)
    sync()
    t1 = time.time()
    return {"epoch_s": (t1 - t0) / epochs, "samples_per_s": len(s.train.x) * epochs / (t1 - t0),
            "gpu": sampler.between(t0, t1) if sampler is not None else None}


def plot(runs: dict, sampler: GpuSampler | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 2.6 * len(runs)), squeeze=False)
    for ax, (name, r) in zip(axes[:, 0], runs.items()):
        t0 = r["first"]
        for i, (a, b) in enumerate(sorted(r["spans"])):
            ax.plot([a - t0, b - t0], [i, i], lw=3, color="tab:blue")
        ax.set_ylabel("trial")
        ax.set_title(f"{name}: trials (lines) and NVML utilisation (orange, right axis)")
        if sampler is not None and sampler.samples:
            ax2 = ax.twinx()
            pts = [(t - t0, u) for t, u in sampler.samples if r["first"] - 2 <= t <= r["last"] + 2]
            if pts:
                ax2.plot(*zip(*pts), color="tab:orange", lw=0.8)
            ax2.set_ylim(0, 105)
            ax2.set_ylabel("% util")
    axes[-1, 0].set_xlabel("seconds from the first trial's start")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def report(runs: dict, base: dict, args, hardware: str, sampler: GpuSampler | None,
           probes: dict) -> str:
    rows = []
    for name, r in runs.items():
        g = r["gpu"] or {}
        w = r["warm"] or {}
        rows.append([name, r["trials"], f"{r['wall_s']:.1f}", f"{r['to_first_s']:.1f}",
                     f"{r['span_s']:.1f}", _pct(r["busy_share"]),
                     _pct(w.get("busy_share")), _pct(w.get("training_share")),
                     _pct((w.get("gpu") or {}).get("mean")),
                     _pct(r.get("training_share")), _pct(r.get("eval_share")),
                     _pct(r.get("startup_share")), _pct(g.get("mean")), _pct(g.get("any")),
                     "-" if r["best"] is None else f"{r['best']:.4f}"])
    g = base["gpu"] or {}
    rows.append(["one process alone (no Ray, no store)"] + ["-"] * 11
                + [_pct(g.get("mean")), _pct(g.get("any")), "-"])
    lines = [
        "# A busy GPU: the share of the GPU's time spent training",
        "",
        C.machine_line(),
        "",
        f"Device: {args.device} ({hardware}). {args.trials} trials of the CNN on digits per study, "
        f"{args.concurrent} at a time"
        + (f" on {1 / args.concurrent:g} GPU each" if args.device == "cuda" else "")
        + f", {args.epochs} epochs, "
        f"batch {args.batch_size}; FIFO; local Ray, SQLite; `timed_cnn` starts {args.pause:g} s "
        "after `cnn` ends. Produced by "
        "`python -m benchmarks.gpu_busy` (benchmarks/gpu.sh runs it).",
        "",
        "run s: `hpsearch.run`'s whole call (the first study's includes starting Ray); to the "
        "first trial: from the study's start to its first trial's. "
        "Shares are of the slots' time from the first trial's start to the last one's end (the "
        "trials' own times in the store). busy: in a trial at all; after the first wave: the "
        "same from the end of the last of the first trials, one a slot (each pays its "
        "process's start: Python, torch, CUDA), to the last end; "
        "training / validation / "
        "start-up: `timed_cnn`'s own timing of its training passes, its validation passes, and "
        "its start to its data being on the GPU. NVML util: the mean of NVML's utilisation "
        "over that span (the share of time a kernel ran on the GPU, sampled every "
        f"{sampler.period if sampler else 0:g} s); kernel-busy samples: the share of samples "
        "with any kernel running.",
        "",
        C.table(["study", "trials", "run s", "to the first trial s", "span s", "busy",
                 "busy after the first wave", "training after the first wave",
                 "NVML util after the first wave", "training", "validation", "start-up",
                 "NVML util", "kernel-busy samples", "best val_accuracy"], rows),
        "",
    ]
    t = runs.get("timed_cnn", {})
    if "startup_median_s" in t:
        lines += [f"`timed_cnn`: median start-up {t['startup_median_s']:.2f} s a trial, median "
                  f"training {t['train_median_s']:.2f} s a trial; one process alone trains "
                  f"{base['samples_per_s']:,.0f} samples/s ({base['epoch_s'] * 1000:.0f} ms an epoch).",
                  ""]
    for n, rows in probes.items():
        steps = list(rows[0])
        lines += [f"A fresh process's first CUDA trial, step by step ({n} at once; seconds, the "
                  "median of the processes; `startup_probe`):", "",
                  C.table(["step", "s"], [[k, f"{statistics.median(r[k] for r in rows):.2f}"]
                                          for k in steps]), ""]
    if sampler is not None and sampler.error:
        lines += [f"NVML was not read: {sampler.error}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (a dry run)")
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--pause", type=float, default=10.0,
                        help="seconds between the two studies (0: back to back)")
    parser.add_argument("--out", type=Path, default=C.RESULTS / "gpu_busy.md")
    args = parser.parse_args(argv)

    import os

    import torch

    import hpsearch
    from hpsearch.store import Store

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but torch.cuda.is_available() is false")
    hardware = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    gpu = 1 / args.concurrent if args.device == "cuda" else 0
    sampler = GpuSampler() if args.device == "cuda" else None
    if sampler is not None:
        sampler.start()
    runs = {}
    with tempfile.TemporaryDirectory(prefix="hps-gpu-") as tmp:
        os.environ["HPSEARCH_HOME"] = str(Path(tmp) / "home")
        url = f"sqlite:///{tmp}/gpu.db"
        store = Store(url)
        for name, trainable in (("cnn", "cnn"), ("timed_cnn", "benchmarks._trials:timed_cnn")):
            if runs:
                time.sleep(args.pause)
            s = spec(f"gpu-busy-{name}", trainable, args.trials, args.concurrent, args.epochs,
                     args.batch_size, gpu)
            began = time.time()
            study = hpsearch.run(s, db=url, progress=False)
            wall = time.time() - began
            runs[name] = r = study_figures(store, study.id, args.concurrent, sampler)
            r["wall_s"] = wall
            warm = r["warm"] or {}
            print(f"{name}: {r['trials']} trials {r['statuses']}, run {wall:.1f} s, first trial "
                  f"{r['to_first_s']:.1f} s after the study's start, span {r['span_s']:.1f} s, "
                  f"busy {_pct(r['busy_share'])} ({_pct(warm.get('busy_share'))} after the first "
                  f"wave), training {_pct(r.get('training_share'))}, NVML "
                  f"{_pct((r['gpu'] or {}).get('mean'))}", flush=True)
        store.dispose()
        import ray

        ray.shutdown()
    base = alone(args.device, args.epochs, args.batch_size, sampler)
    print(f"alone: NVML {_pct((base['gpu'] or {}).get('mean'))}, {base['samples_per_s']:,.0f} samples/s",
          flush=True)
    if sampler is not None:
        sampler.stop()
    probes = {}
    if args.device == "cuda":
        for n in (1, args.concurrent):
            probes[n] = startup_probe(n)
            print(f"start-up, {n} at once: {probes[n]}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(runs, base, args, hardware, sampler, probes))
    try:
        plot(runs, sampler, args.out.with_suffix(".png"))
    except Exception as e:  # noqa: BLE001 - the figures stand without the picture
        print(f"no plot: {e}")
    print(f"wrote {args.out}")
    return runs


if __name__ == "__main__":
    main()
