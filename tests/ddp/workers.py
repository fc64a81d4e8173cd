"""A custom data-parallel trainable for the fault test (the pattern of docs/extending.md):
each worker appends its pid to ``pid_dir/rank-N`` (so the test can SIGKILL one) and
trains the built-in CNN through the shared harness."""
from __future__ import annotations

import functools
import os
from pathlib import Path

import hpsearch
from hpsearch import ddp


def _train_worker(pid_dir: str, config: dict) -> None:
    from trainables import _harness, cnn

    with open(Path(pid_dir) / f"rank-{ddp.rank()}", "a") as f:  # one line per worker started
        f.write(f"{os.getpid()}\n")
    _harness._train_worker(cnn.RECIPE, 1, config)


@hpsearch.trainable
def cnn_with_pid_files(config: dict) -> None:
    config = dict(config)
    pid_dir = config.pop("pid_dir")
    ddp.run(functools.partial(_train_worker, pid_dir), config)


def _scored_worker(config: dict) -> None:
    """On every worker: ``epochs`` rounds whose score is ``quality * epoch`` (no model: the
    schedulers' tests need known scores, not training), each reporting the epoch its run
    started from (``resumed_from``: the checkpoint's, else 0). Each worker prints a line
    per round; rank 0 checkpoints its epoch, and with ``trace`` (a file) appends
    "quality epoch" to it for each round it trained.

    With ``together: [directory, n, store_url, study]`` (PBT's test) a fresh run first
    waits until n runs have started, so that PBT sees a population. Then the runs take
    turns through the driver, whatever the machine's load: the best-scoring run reports
    epoch e > 1 only once the driver has stored the others' epoch e - 1, and the others
    report epoch e only once it has stored the best run's epoch e. (Tune's scheduler
    sees a result before hpsearch's callback stores it.) So when the best run's epoch 2
    reaches PBT the others have scores, the best run is in the upper quantile and PBT
    saves its checkpoint; the others' epoch 2 then finds that checkpoint to exploit.
    The best run reports its last epoch only once a run has been restarted from a
    checkpoint (or after 120 s): PBT exploits only a running trial's checkpoint.
    """
    import json
    import tempfile
    import time

    def wait_for(path: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def wait_for_stored(of_best: bool, epoch: int, timeout: float) -> None:
        """Until the driver has stored epoch ``epoch`` of the best run (else of every other)."""
        from hpsearch.store import Store

        store = Store(config["together"][2], check_schema=False)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                study = store.get_study(config["together"][3])
                runs = [t for t in store.trials(study.id)
                        if (t.params.get("quality") == top) == of_best]
                if runs and all(any(r.metrics.get("epoch", 0) >= epoch for r in store.results(t.id))
                                for t in runs):
                    return
                time.sleep(0.1)
        finally:
            store.dispose()

    with ddp.checkpoint_dir() as directory:
        start = json.loads((Path(directory) / "state.json").read_text())["epoch"] if directory else 0
    where = Path(config["together"][0]) if config.get("together") else None
    best = None
    if where and start == 0:
        n = config["together"][1] * ddp.world_size()
        (where / f"{config['quality']}-{ddp.rank()}-{os.getpid()}").touch()
        deadline = time.monotonic() + 300
        while len(list(where.glob("*-*-*"))) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        top = max(float(p.name.split("-")[0]) for p in where.glob("*-*-*"))
        best = config["quality"] == top
    elif where:
        (where / "restarted").touch()
    for epoch in range(start + 1, config["epochs"] + 1):
        time.sleep(config.get("sleep", 0.0))
        if best is False:
            wait_for_stored(True, epoch, 120)
        elif best and epoch == config["epochs"]:
            wait_for(where / "restarted", 120)
        elif best and epoch > 1:
            wait_for_stored(False, epoch - 1, 120)
        print(f"rank {ddp.rank()} of {ddp.world_size()}: epoch {epoch}", flush=True)
        if config.get("trace") and ddp.rank() == 0:  # a line per round rank 0 trained
            with open(config["trace"], "a") as f:
                f.write(f"{config['quality']} {epoch}\n")
        with tempfile.TemporaryDirectory() as out:
            (Path(out) / "state.json").write_text(json.dumps({"epoch": epoch}))
            ddp.report({"score": config["quality"] * epoch, "epoch": epoch, "resumed_from": start,
                        "poll_s": float(os.environ.get(ddp.POLL_ENV, "nan"))},
                       checkpoint_dir=out if ddp.rank() == 0 else None,
                       final=epoch == config["epochs"])


@hpsearch.trainable
def scored(config: dict) -> None:
    ddp.run(_scored_worker, config)
