"""Small trainables for tests: fast, deterministic, importable by Ray workers."""
from __future__ import annotations

import os
import time
from pathlib import Path

from ray import tune

import hpsearch


@hpsearch.trainable
def quadratic(config: dict) -> None:
    """loss = (x - 2)^2 + 1/epoch, reported for ``epochs`` epochs."""
    for epoch in range(1, int(config.get("epochs", 3)) + 1):
        if config.get("sleep"):
            time.sleep(config["sleep"])
        tune.report({"loss": (config["x"] - 2) ** 2 + 1.0 / epoch, "epoch": epoch})


@hpsearch.trainable
def failing(config: dict) -> None:
    """Raises on purpose (its message is checked in tests)."""
    tune.report({"loss": 1.0, "epoch": 1})
    raise RuntimeError(f"boom at x={config['x']:.3f}")


@hpsearch.trainable
def noop(config: dict) -> None:
    tune.report({"loss": float(config.get("x", 0.0))})


@hpsearch.trainable
def env_probe(config: dict) -> None:
    """Reports whether secrets leaked into the trial's environment."""
    leaked = [k for k in ("HPSEARCH_DB", "HPSEARCH_SECRET_KEY", "HPSEARCH_TOKEN") if k in os.environ]
    tune.report({"loss": float(len(leaked)), "leaked": ",".join(leaked)})


def quad_spec(name: str, **over) -> dict:
    spec = {
        "name": name,
        "trainable": "tests.helpers:quadratic",
        "metric": "loss",
        "mode": "min",
        "space": {"x": {"uniform": [-5.0, 5.0]}},
        "fixed": {"epochs": 3},
        "searcher": {"type": "random"},
        "budget": {"trials": 6, "max_concurrent": 2},
        "seed": 0,
    }
    spec.update(over)
    return spec


@hpsearch.trainable
def quadratic_ckpt(config: dict) -> None:
    """``quadratic`` that checkpoints each epoch and resumes from one (for PBT).

    Reports ``resumed_from``: the epoch its checkpoint held (0 on a fresh start).
    ``stop_s``: seconds it takes to stop when Tune stops it (a trial that saves or frees
    something on its way out); ``reset_wait_s``: how long Tune may wait for that before it
    gives up on reusing its process (Ray's TUNE_FUNCTION_THREAD_TIMEOUT_S).
    """
    import json
    import tempfile

    if "reset_wait_s" in config:
        os.environ["TUNE_FUNCTION_THREAD_TIMEOUT_S"] = str(config["reset_wait_s"])
    start = 0
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            with open(os.path.join(d, "state.json")) as f:
                start = json.load(f)["epoch"]
    try:
        for epoch in range(start + 1, int(config.get("epochs", 3)) + 1):
            if config.get("sleep"):
                time.sleep(config["sleep"])
            with tempfile.TemporaryDirectory() as d:
                with open(os.path.join(d, "state.json"), "w") as f:
                    json.dump({"epoch": epoch}, f)
                tune.report({"loss": (config["x"] - 2) ** 2 + 1.0 / epoch, "epoch": epoch,
                             "resumed_from": start}, checkpoint=tune.Checkpoint.from_directory(d))
    except SystemExit:  # Tune stops a function trainable with SystemExit in its report call
        time.sleep(float(config.get("stop_s", 0)))
        raise


@hpsearch.trainable
def probe(config: dict) -> None:
    """Reports where a trial ran (Ray node, GPU ids, CUDA_VISIBLE_DEVICES) and when (cluster test)."""
    import ray

    start = time.time()
    node = ray.get_runtime_context().get_node_id()
    gpus = ",".join(str(g) for g in ray.get_gpu_ids())
    cuda = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    for epoch in range(1, int(config.get("epochs", 2)) + 1):
        if config.get("sleep"):
            time.sleep(config["sleep"])
        tune.report({"loss": (config["x"] - 2) ** 2 + 1.0 / epoch, "node": node, "gpu_ids": gpus,
                     "cuda": cuda, "t_start": start, "t_end": time.time()})


@hpsearch.trainable
def gated(config: dict) -> None:
    """``probe`` whose epochs wait until the file ``gate`` exists (at most 90 s): trials hold
    their slots until a test lets them go (the elastic test, tests/service/test_elastic.py)."""
    import ray

    start = time.time()
    node = ray.get_runtime_context().get_node_id()
    gate = config.get("gate")
    for epoch in range(1, int(config.get("epochs", 2)) + 1):
        deadline = time.time() + 90
        while gate and not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.1)
        time.sleep(float(config.get("sleep", 0)))
        tune.report({"loss": (config["x"] - 2) ** 2 + 1.0 / epoch, "node": node,
                     "t_start": start, "t_end": time.time()})


@hpsearch.trainable
def chatty(config: dict) -> None:
    """Reports ``steps`` results as fast as it can through ``hpsearch.report``.

    ``loss`` falls then rises (its minimum at step steps // 2), so best != last.
    """
    import hpsearch

    steps = int(config.get("steps", 300))
    for step in range(1, steps + 1):
        hpsearch.report({"loss": (step - steps // 2) ** 2 + config["x"], "step": step})


def biobjective(config: dict) -> None:
    """ZDT1 on (x, y) in [0, 1]^2 (f1, f2: both minimised), a third objective f3 = y, and
    ``cost`` = x + y for constraints; one epoch, reported once."""
    x, y = float(config["x"]), float(config["y"])
    if config.get("sleep"):
        time.sleep(config["sleep"])
    g = 1 + 9 * y
    f2 = g * (1 - (x / g) ** 0.5)
    tune.report({"f1": x, "f2": f2, "f3": y, "cost": x + y, "epoch": 1})


def mo_spec(name: str, objectives: int = 2, **over) -> dict:
    """A spec over :func:`biobjective` with 2 or 3 objectives and a constraint."""
    spec = {
        "name": name,
        "trainable": "tests.helpers:biobjective",
        "objectives": [{"metric": f"f{i + 1}", "mode": "min"} for i in range(objectives)],
        "constraints": ["cost <= 1.2"],
        "space": {"x": {"uniform": [0.0, 1.0]}, "y": {"uniform": [0.0, 1.0]}},
        "searcher": {"type": "random"},
        "budget": {"trials": 8, "max_concurrent": 2},
        "seed": 0,
    }
    spec.update(over)
    return spec


def branches(config: dict) -> None:
    """A conditional space's trainable: ``beta`` exists only when ``opt`` is ``a``.

    Reports the parameter names it was given, so a test sees what the trial saw.
    """
    loss = (config["x"] - 2) ** 2 + (abs(config["beta"] - 0.5) if "beta" in config else 1.0)
    tune.report({"loss": loss, "given": ",".join(sorted(k for k in ("x", "opt", "beta") if k in config))})


@hpsearch.trainable
def oom_prone(config: dict) -> None:
    """Reports epoch 1, then raises torch's out-of-memory error in epoch 2 when
    ``batch_size`` is larger than ``fits`` (as a CUDA allocation would)."""
    import torch

    batch = int(config["batch_size"])
    for epoch in range(1, int(config.get("epochs", 3)) + 1):
        if epoch == 2 and batch > int(config.get("fits", 16)):
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {batch} MiB")
        tune.report({"loss": 1.0 / batch + 0.01 * epoch, "batch_size": batch, "epoch": epoch})


@hpsearch.trainable
def whereami(config: dict) -> None:
    """Reports the process it ran in, when its worker was readied for a trial actor,
    whether the actor's start imported IPython, and whether torch's compiler was imported
    before this trial began (the warm worker tests)."""
    import sys

    from hpsearch import warm_workers

    tune.report({"loss": float(config.get("x", 0.0)), "worker_pid": os.getpid(),
                 "pl_disable_fork": float(os.environ.get("PL_DISABLE_FORK") == "1"),
                 "t_start": time.time(), "ready_at": warm_workers.ready_at() or 0.0,
                 "ipython": float("IPython" in sys.modules),
                 "dynamo": float("torch._dynamo" in sys.modules)})


@hpsearch.trainable
def warmth(config: dict) -> None:
    """Reports its node, when its trial began, and when its worker had imported what a trial
    needs before taking the trial's actor (hpsearch/warm_workers.py; 0: it had not)."""
    import sys

    import ray

    from hpsearch import warm_workers

    start = time.time()
    time.sleep(float(config.get("sleep", 0.2)))
    tune.report({"loss": float(config.get("x", 0.0)), "node": ray.get_runtime_context().get_node_id(),
                 "t_start": start, "preloaded_at": warm_workers.preloaded_at() or 0.0,
                 "ready_at": warm_workers.ready_at() or 0.0,
                 "ipython": float("IPython" in sys.modules)})


@hpsearch.trainable
def relay(config: dict) -> None:
    """loss = x at every epoch. The trial with x == 0 leads, at ``lead_sleep`` s an epoch,
    and touches ``<dir>/lead-<epoch>`` after each; every other trial waits (at most 60 s)
    for the lead's epoch ``after`` before its first, then trains at ``sleep`` s an epoch
    (``sleeps``: a list by x, for some trials' own pace): the order of their results, and
    so ASHA's decisions, are known (tests/test_schedulers.py). ``checkpoint``: each epoch
    saves one, and a restored trial goes on from it."""
    import json
    import tempfile

    folder, lead = Path(config["dir"]), config["x"] == 0
    sleep = float(config["lead_sleep"] if lead else config["sleep"])
    if config.get("sleeps"):
        sleep = float(config["sleeps"][int(config["x"])])
    start = 1
    ckpt = tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as d:
            start = json.loads((Path(d) / "state.json").read_text())["epoch"] + 1
    for epoch in range(start, int(config.get("epochs", 9)) + 1):
        deadline = time.time() + 60
        while (not lead and epoch == 1 and not (folder / f"lead-{config['after']}").exists()
               and time.time() < deadline):
            time.sleep(0.02)
        time.sleep(sleep)
        metrics = {"loss": float(config["x"]), "t_end": time.time(), "process": os.getpid()}
        if config.get("checkpoint"):
            with tempfile.TemporaryDirectory() as d:
                (Path(d) / "state.json").write_text(json.dumps({"epoch": epoch}))
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))
        else:
            tune.report(metrics)
        if lead:
            (folder / f"lead-{epoch}").touch()