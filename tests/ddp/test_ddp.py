"""Data-parallel trials (``resources: {workers: N}``, hpsearch/ddp.py): real Ray Train
runs of two gloo workers on this machine's CPUs, inside the session's Ray."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch

import hpsearch
from hpsearch import ddp
from hpsearch.exceptions import SpecError
from hpsearch.spec import validate
from hpsearch.status import StudyStatus, TrialStatus
from hpsearch.store import Store
from trainables import BUILTIN

FAMILIES = sorted(BUILTIN)
TINY = {"train_samples": 64, "batch_size": 16, "epochs": 1}


def _fit(worker, config: dict, storage: Path):
    """A two-worker Ray Train run of ``worker(config)`` (one CPU each, gloo)."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    return TorchTrainer(worker, train_loop_config=config,
                        scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}),
                        run_config=RunConfig(name="test", storage_path=str(storage))).fit()


def _step_every_family(config: dict) -> None:
    """On each worker: one epoch of every family (a few steps on its shard), then its
    weights before and after go to a file per family and rank."""
    import importlib

    from hpsearch import ddp
    from trainables import _harness

    for family in config["families"]:
        recipe = importlib.import_module(BUILTIN[family]).RECIPE
        s = _harness.prepare(recipe, {**TINY, "seed": 3}, device="cpu")
        before = {k: v.clone() for k, v in s.model.state_dict().items()}
        _harness.distribute(s, 0)
        logs = _harness.train_epoch(s, 1)
        torch.save({"before": before, "after": s.model.state_dict(), "logs": logs},
                   Path(config["out"]) / f"{family}-{ddp.rank()}.pt")


@pytest.fixture(scope="module")
def stepped(ray_session, tmp_path_factory):
    """One Ray Train run (two workers) that steps every built-in family once."""
    out = tmp_path_factory.mktemp("ddp-step")
    _fit(_step_every_family, {"families": FAMILIES, "out": str(out)}, out / "storage")
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_workers_hold_equal_weights_after_a_step(stepped, family):
    rank0 = torch.load(stepped / f"{family}-0.pt", weights_only=True)
    rank1 = torch.load(stepped / f"{family}-1.pt", weights_only=True)
    changed = [k for k, v in rank0["after"].items()
               if v.is_floating_point() and not torch.equal(v, rank0["before"][k])]
    assert changed, f"{family}: training changed no weight"
    for key, value in rank0["after"].items():  # trained on different shards, yet equal
        assert torch.equal(value, rank1["after"][key]), f"{family}: {key} differs between workers"
    assert rank0["logs"] == rank1["logs"]  # the epoch's logs are means over both workers


def test_workers_train_disjoint_shards():
    """Each step of a two-worker trial sees two disjoint per-worker batches (a global
    batch of batch_size * 2), and together they cover the epoch."""
    from trainables import _harness

    split = _harness.Split(torch.arange(12), None, None)
    cfg = type("Cfg", (), {"seed": 1, "batch_size": 2})()
    shards = [[b[0].tolist() for b in _harness._sharded(split, cfg, 1, _harness.Distributed(r, 2))]
              for r in (0, 1)]
    assert [len(s) for s in shards] == [3, 3]  # as many steps on each worker
    seen = [i for shard in shards for batch in shard for i in batch]
    assert sorted(seen) == list(range(12)) and not set(sum(shards[0], [])) & set(sum(shards[1], []))


def _resumed_worker(config: dict) -> None:
    """``_harness._train_worker`` with each worker's reports also written to a file."""
    import functools

    from hpsearch import ddp
    from trainables import _harness, cnn

    report = ddp.report

    def spy(metrics, directory, **kwargs):
        with open(Path(config["out"]) / f"reports-{ddp.rank()}.txt", "a") as f:
            f.write(f"{metrics['epoch']}\n")
        report(metrics, directory, **kwargs)

    ddp.report = spy
    ddp.start_from(config["checkpoint"])  # as hpsearch.ddp.run's workers do with the trial's
    functools.partial(_harness._train_worker, cnn.RECIPE, 1)(config["config"])


def test_a_resumed_trial_restores_every_worker(ray_session, tmp_path):
    """Every worker starts from the trial's checkpoint: each trains epoch 2 only."""
    from ray.train import Checkpoint

    from trainables import _harness, cnn

    config = {**TINY, "train_samples": 128, "epochs": 2, "seed": 5}
    first = tmp_path / "epoch1"
    _harness.run(cnn.RECIPE, {**config, "epochs": 1}, checkpoint_dir=first, device="cpu")
    result = _fit(_resumed_worker, {"config": config, "out": str(tmp_path),
                                    "checkpoint": Checkpoint.from_directory(str(first))},
                  tmp_path / "storage")
    for rank in (0, 1):
        assert (tmp_path / f"reports-{rank}.txt").read_text().split() == ["2"]
    assert result.metrics["epoch"] == 2
    with result.checkpoint.as_directory() as directory:
        state = _harness.read_checkpoint(directory, "cnn")
    assert state["epoch"] == 2
    # Trained on from epoch 1's weights, not from scratch: the same as one process doing it.
    alone = tmp_path / "alone"
    _harness.run(cnn.RECIPE, config, resume_from=first, checkpoint_dir=alone, device="cpu")
    assert set(state["model"]) == set(_harness.read_checkpoint(alone, "cnn")["model"])


def test_workers_refused_at_the_door_each_problem_named():
    base = {"name": "w", "trainable": "cnn", "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
            "budget": {"trials": 2}}
    for bad in (0, 65, 2.0, "2", True):
        with pytest.raises(SpecError) as err:
            validate({**base, "resources": {"workers": bad, "cpu": 0}}, check_data=False)
        fields = dict(err.value.problems)
        assert repr(bad) in fields["resources.workers"] and "resources.cpu" in fields
    spec = validate({**base, "resources": {"workers": 2, "cpu": 2}}, check_data=False)
    assert spec.to_dict()["resources"]["workers"] == 2
    assert spec.resources.ray_request()["cpu"] == 0  # the trial's process: its workers ask
    assert "workers" not in validate(base, check_data=False).to_dict()["resources"]  # as before


def _ddp_spec(name: str, **over) -> dict:
    spec = {"name": name, "trainable": "cnn", "dataset": "digits", "metric": "val_accuracy",
            "mode": "max", "space": {"lr": {"loguniform": [3e-3, 3e-2]}},
            "fixed": {"epochs": 2, "train_samples": 128, "batch_size": 16},
            "searcher": {"type": "random"}, "budget": {"trials": 2, "max_concurrent": 1},
            "resources": {"workers": 2, "cpu": 1}, "seed": 0}
    spec.update(over)
    return spec


def test_asha_random_and_a_killed_worker(home, ray_session, tmp_path):
    """A study under ASHA and random search, of a custom data-parallel trainable (the
    docs/extending.md pattern; each worker appends its pid to a file). The test SIGKILLs
    the trial's rank-1 worker after its first result: Ray Train restarts both workers from
    that checkpoint and the trial goes on (each epoch once, none twice), one result stream
    (rank 0's), one row per epoch; the restarted run gives its workers' reservation back.
    (ASHA stopping a data-parallel trial: test_stopped_trials_give_back_...)"""
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    spec = _ddp_spec("ddp-kill", trainable="tests.ddp.workers:cnn_with_pid_files",
                     scheduler={"type": "asha", "grace_period": 1},
                     fixed={"epochs": 3, "train_samples": 800, "batch_size": 16,
                            "pid_dir": str(pid_dir)},
                     budget={"trials": 1, "max_concurrent": 1, "max_failures": 1})
    store = Store()
    study, killed = _run_killing_rank_1(spec, store, pid_dir,
                                        lambda trials: trials and store.results(trials[0].id))
    assert killed, "the trial ended before a worker could be killed"
    assert study.status == StudyStatus.COMPLETED, study.error
    [first] = store.trials(study.id)
    assert first.status == TrialStatus.COMPLETED, first.error
    assert [r.metrics["epoch"] for r in store.results(first.id)] == [1, 2, 3]  # on from the checkpoint
    assert all("val_accuracy" in r.metrics for r in store.results(first.id))
    rank_1 = [int(p) for p in (pid_dir / "rank-1").read_text().split()]
    assert rank_1[0] == killed[0] and rank_1[1] != killed[0]  # a new rank 1 did the rest
    assert _reserved_groups() == [], "the restarted run left its workers' group"


def test_the_next_trial_trains_on_the_same_workers_and_survives_a_kill(home, ray_session,
                                                                     tmp_path):
    """Two trials one after another: Tune reuses the first trial's process for the second,
    and the second trains on the workers the first one's Ray Train run started (no new
    worker group, docs/models.md). The test SIGKILLs the rank-1 worker after the second
    trial's first result: Ray Train restarts both workers, and they go on with the second
    trial from its own checkpoint (epochs 2 and 3 follow its epoch 1), not from the first
    trial's last one, which the same run holds too."""
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    spec = _ddp_spec("ddp-reuse", trainable="tests.ddp.workers:cnn_with_pid_files",
                     fixed={"epochs": 3, "train_samples": 400, "batch_size": 16,
                            "pid_dir": str(pid_dir)},
                     budget={"trials": 2, "max_concurrent": 1, "max_failures": 1})
    store = Store()
    study, killed = _run_killing_rank_1(
        spec, store, pid_dir, lambda trials: len(trials) == 2 and store.results(trials[1].id))
    assert killed, "the study ended before a worker could be killed"
    assert study.status == StudyStatus.COMPLETED, study.error
    first, second = sorted(store.trials(study.id), key=lambda t: t.number)
    for trial in (first, second):
        assert trial.status == TrialStatus.COMPLETED, trial.error
        assert _epochs(store, trial) == [1, 2, 3]
    rank_1 = [int(p) for p in (pid_dir / "rank-1").read_text().split()]
    # one line per trial a worker started: trial 1, trial 2 on the same worker, the restart
    assert rank_1[:2] == [killed[0], killed[0]] and len(rank_1) == 3 and rank_1[2] != killed[0]
    rank_0 = [int(p) for p in (pid_dir / "rank-0").read_text().split()]
    assert rank_0[0] == rank_0[1], "the second trial started new workers"
    assert _reserved_groups() == [], "the run left its workers' group"


def _run_killing_rank_1(spec: dict, store, pid_dir: Path, when) -> tuple:
    """Run the study in this test's thread, as a driver does, while another thread SIGKILLs
    the rank-1 worker that started last (the last pid in ``pid_dir/rank-1``) as soon as
    ``when(trials)`` holds for the study's trials in order. Returns the study and the
    killed pid (none if the study ended first)."""
    import threading

    killed: list[int] = []

    def kill() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            trials = sorted((t for s in store.list_studies() if s.name == spec["name"]
                             for t in store.trials(s.id)), key=lambda t: t.number)
            if when(trials) and (pid_dir / "rank-1").exists():
                killed.append(int((pid_dir / "rank-1").read_text().split()[-1]))
                os.kill(killed[0], signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    study = hpsearch.run(spec, progress=False)
    killer.join(timeout=1)
    return study, killed


def _reserved_groups(timeout_s: float = 30.0) -> list[str]:
    """Placement groups still reserved on the session's Ray after a bounded wait (a run's
    controller removes its group asynchronously)."""
    import ray

    deadline = time.monotonic() + timeout_s
    while True:
        live = [pg_id for pg_id, info in ray.util.placement_group_table().items()
                if info["state"] in ("CREATED", "PENDING", "RESCHEDULING")]
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.25)


def _scored_spec(name: str, qualities: list[float], **over) -> dict:
    """A study of tests.ddp.workers:scored (two workers; each trial's score is its
    ``quality`` times its epoch), its trials in grid order, one at a time."""
    spec = {"name": name, "trainable": "tests.ddp.workers:scored", "metric": "score",
            "mode": "max", "space": {"quality": {"grid": qualities}},
            "fixed": {"epochs": 3}, "searcher": {"type": "grid"},
            "budget": {"trials": len(qualities), "max_concurrent": 1},
            "resources": {"workers": 2, "cpu": 1}, "seed": 0}
    spec.update(over)
    return spec


def test_stopped_trials_give_back_their_workers_reservation(home, ray_session):
    """A data-parallel trial that Tune stops with the study's end (ASHA stopping the last
    trial) leaves no placement group reserved; the trial before it, which ended its epochs,
    left its workers to it. (A time limit ends a run mid-round:
    test_a_time_limit_cuts_a_training_trial_and_frees_its_workers; a later test kills a run's
    owner outright, the case with no stop at all.)

    Also: Ray Train's controller collects the workers' reports when it polls them (every 2 s
    by default, so no round could go faster); hpsearch's trials set a shorter interval,
    which reaches the controller and, through it, the workers (each report carries it)."""
    store = Store()
    controllers, managers = _actors_started("TrainController"), _actors_started("DatasetManager")
    asha = hpsearch.run(_scored_spec("ddp-asha-last", [1.0, 0.5],
                                     scheduler={"type": "asha", "grace_period": 1,
                                                "reduction_factor": 2}), progress=False)
    assert asha.status == StudyStatus.COMPLETED, asha.error
    first, last = sorted(store.trials(asha.id), key=lambda t: t.number)
    assert first.status == TrialStatus.COMPLETED and last.status == TrialStatus.EARLY_STOPPED
    assert [r.metrics["epoch"] for r in store.results(last.id)] == [1]
    assert {r.metrics["poll_s"] for r in store.results(first.id)} == {float(ddp.POLL_S)}
    assert _reserved_groups() == [], "ASHA's stop of the last trial left its workers' group"
    # One run for both trials: Tune reuses the first trial's process for the second, and
    # the second trains on the workers the first one's run started (no DatasetManager
    # process either: the trials pass no Ray Datasets) ...
    assert _actors_started("TrainController") - controllers == 1
    assert _actors_started("DatasetManager") == managers, "a run started a DatasetManager"
    # ... from scratch, not from the first trial's checkpoints, which that run holds too
    assert [r.metrics["resumed_from"] for r in store.results(last.id)] == [0]
    assert [r.metrics["resumed_from"] for r in store.results(first.id)] == [0, 0, 0]


def test_a_time_limit_cuts_a_training_trial_and_frees_its_workers(home, ray_session):
    """``budget.time_limit_s`` ends the study while a data-parallel trial is mid-run (Tune's
    end of the experiment stops its process, with no scheduler's decision): the trial gets
    its end in SQL with the limit as the reason (EARLY_STOPPED with its last score once it
    reported, else INTERRUPTED) and its workers' placement group is given back."""
    store = Store()
    study = hpsearch.run(_scored_spec("ddp-time-limit", [1.0, 0.5],
                                      fixed={"epochs": 1000, "sleep": 0.2},
                                      budget={"trials": 2, "max_concurrent": 1,
                                              "time_limit_s": 45}), progress=False)
    trials = store.trials(study.id)
    assert [t.status for t in trials if t.status in TrialStatus.LIVE] == []
    cut = [t for t in trials if t.status in (TrialStatus.EARLY_STOPPED, TrialStatus.INTERRUPTED)]
    assert len(cut) == 1, [(t.number, t.status) for t in trials]  # 200 s of rounds: the first
    (t,) = cut
    results = store.results(t.id)
    print(f"cut: {t.status} after {len(results)} rounds")  # which case this run was
    if t.status == TrialStatus.EARLY_STOPPED:  # it reported before the limit (most runs)
        assert study.status == StudyStatus.COMPLETED, study.error
        assert t.value == results[-1].metrics["score"] and len(results) < 1000
    else:  # its workers were still starting when 45 s passed (a loaded machine)
        assert not results and study.status == StudyStatus.FAILED
    assert any("time limit" in (e.message or "") for e in store.trial_events(t.id))
    assert _reserved_groups() == [], "the cut trial's workers' group is still reserved"


def test_a_trial_stopped_early_leaves_its_workers_to_the_next(home, ray_session, tmp_path):
    """ASHA stops the second and third of three trials after their first round. The second
    one's workers drop it at the end of the round they are in (they do not train its
    remaining rounds) and take the third trial: one Ray Train run for all three, the third
    from scratch, and no reservation left after the study."""
    store = Store()
    trace = tmp_path / "rounds"
    controllers = _actors_started("TrainController")
    epochs = 8
    study = hpsearch.run(_scored_spec("ddp-asha-keep", [1.0, 0.5, 0.25],
                                      fixed={"epochs": epochs, "sleep": 0.5, "trace": str(trace)},
                                      scheduler={"type": "asha", "grace_period": 1,
                                                 "reduction_factor": 2}), progress=False)
    assert study.status == StudyStatus.COMPLETED, study.error
    first, second, third = sorted(store.trials(study.id), key=lambda t: t.number)
    assert first.status == TrialStatus.COMPLETED
    assert second.status == third.status == TrialStatus.EARLY_STOPPED
    assert _epochs(store, second) == _epochs(store, third) == [1]
    trained = {}
    for quality, epoch in (line.split() for line in trace.read_text().splitlines()):
        trained.setdefault(float(quality), []).append(int(epoch))
    assert trained[1.0] == list(range(1, epochs + 1))
    # the stop reaches the workers a round or two late (Tune decides on round 1 while they
    # train round 2), never at the trial's end
    assert trained[0.5] == list(range(1, len(trained[0.5]) + 1)) and len(trained[0.5]) <= 3
    assert trained[0.25][0] == 1
    assert _actors_started("TrainController") - controllers == 1
    assert [r.metrics["resumed_from"] for r in store.results(third.id)] == [0]
    assert _reserved_groups() == [], "the study's end left its workers' group"


def _actors_started(name: str) -> int:
    """How many actors of class ``name`` the session's Ray has started so far (each worker
    process's log names the actor it hosted)."""
    import ray

    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    return sum(f":actor_name:{name}\n" in f.read_text(errors="replace")
               for f in logs.glob("worker-*.out"))


def _sleep_worker(config: dict) -> None:
    time.sleep(config["seconds"])


def test_a_run_killed_with_its_owner_gives_back_its_reservation(ray_session, tmp_path):
    """The hard case, without Tune's timing: the process that runs a data-parallel run
    (a trial's, here a stand-in actor) is killed mid-run, so no abort is ever sent; its
    controller dies with it, and its workers' placement group is removed all the same."""
    import ray
    from ray.train import RunConfig, ScalingConfig

    from hpsearch._ddp_callback import Trainer

    @ray.remote(num_cpus=0)
    class Owner:
        def fit(self, storage: str) -> None:
            Trainer(_sleep_worker, train_loop_config={"seconds": 120},
                    scaling_config=ScalingConfig(num_workers=2, resources_per_worker={"CPU": 1}),
                    run_config=RunConfig(name="owner", storage_path=storage)).fit()

    assert _reserved_groups(0) == []
    owner = Owner.remote()
    owner.fit.remote(str(tmp_path))
    deadline = time.monotonic() + 120
    while not [g for g, info in ray.util.placement_group_table().items()
               if info["state"] == "CREATED"]:
        assert time.monotonic() < deadline, "the run's workers never got their CPUs"
        time.sleep(0.25)
    ray.kill(owner)
    assert _reserved_groups() == [], "the killed run's workers' group is still reserved"


def _epochs(store, trial) -> list[int]:
    return [r.metrics["epoch"] for r in store.results(trial.id)]


def test_two_worker_trials_under_pbt(home, ray_session, tmp_path):
    """PBT restarts the worse of two running two-worker trials from the better one's
    checkpoint. (Median stopping and Hyperband's stops are Tune stopping a trial, as ASHA
    does in test_asha_random_and_a_killed_worker; Hyperband's pause and resume at a
    milestone is this restart from a checkpoint.) Half a CPU per worker: two trials run at
    once. No reservation is left."""
    store = Store()
    spec = _scored_spec("ddp-pbt", [1.0, 0.1],
                        fixed={"epochs": 3, "sleep": 0.5,
                               "together": [str(tmp_path), 2, store.url, "ddp-pbt"]},
                        scheduler={"type": "pbt", "perturbation_interval": 1,
                                   "quantile_fraction": 0.5, "resample_probability": 0},
                        budget={"trials": 2, "max_concurrent": 2},
                        resources={"workers": 2, "cpu": 0.5})
    study = hpsearch.run(spec, progress=False)
    assert study.status == StudyStatus.COMPLETED, study.error
    # by quality, not number: a trial's number is the order its run started in
    bad, good = sorted(store.trials(study.id), key=lambda t: t.params["quality"])
    epochs = spec["fixed"]["epochs"]
    assert good.status == TrialStatus.COMPLETED, good.error
    assert _epochs(store, good)[-1] == epochs
    assert bad.status == TrialStatus.COMPLETED, bad.error
    resumed = [r.metrics["resumed_from"] for r in store.results(bad.id)]
    assert any(resumed), "PBT never restarted the worse trial from a checkpoint"
    assert _epochs(store, bad)[-1] == epochs
    assert _reserved_groups() == []
