"""Promises 3 and 4: a trial raises; a trial's Ray worker is SIGKILLed mid-epoch."""
from __future__ import annotations

import json
import os
import signal
import threading

import pytest

from hpsearch.orchestration import run_study
from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec
from tests.reliability.conftest import record, wait_for

pytestmark = pytest.mark.slow
RT = "tests.reliability.trainables"


def _attempts(marker_dir, params) -> int:
    return len((marker_dir / f"{params['x']!r}").read_text().splitlines())


def test_failing_trials_are_retried_recorded_and_the_study_goes_on(ray_session, home, tmp_path):
    # Every trial fails once and is retried (max_failures: 2); those with x < 0 always fail.
    marker = tmp_path / "markers"
    marker.mkdir()
    spec = quad_spec("flaky", trainable=f"{RT}:flaky",
                     fixed={"marker_dir": str(marker), "fail_times": 1, "doom_negative": True},
                     budget={"trials": 6, "max_concurrent": 2, "max_failures": 2})
    study = run_study(spec, progress=False)
    assert study.status == StudyStatus.COMPLETED, study.error
    trials = Store().trials(study.id)
    assert len(trials) == 6
    doomed = [t for t in trials if t.params["x"] < 0]
    fine = [t for t in trials if t.params["x"] >= 0]
    assert doomed and fine, "seed 0 should draw both signs"
    for t in fine:  # failed once, retried, then completed with its value
        assert t.status == TrialStatus.COMPLETED and t.value is not None
        assert _attempts(marker, t.params) == 2
        assert "in flaky" in t.error and "flaky failure 1" in t.error  # the traceback
    for t in doomed:  # 1 run + max_failures retries, then ERROR with the traceback
        assert t.status == TrialStatus.ERROR and t.value is None
        assert _attempts(marker, t.params) == 3
        assert "in flaky" in t.error and "flaky failure 3" in t.error
    record("trial_raises", trials=6, failures_injected=sum(_attempts(marker, t.params) - 1
                                                           for t in fine) + 3 * len(doomed),
           retried=len(fine), errored=len(doomed))


def test_a_study_whose_trials_all_fail_is_failed_naming_the_first_error(ray_session, home):
    spec = quad_spec("doomed", trainable="tests.helpers:failing",
                     budget={"trials": 2, "max_concurrent": 2, "max_failures": 0})
    study = run_study(spec, progress=False)  # returns: never hangs
    assert study.status == StudyStatus.FAILED
    trials = Store().trials(study.id)
    assert [t.status for t in trials] == [TrialStatus.ERROR] * 2
    assert all("in failing" in t.error and "\x1b[" not in t.error for t in trials)
    first = trials[0]  # the first trial (by number) with an error
    assert study.error == f"every trial failed; first error: RuntimeError: boom at x=" \
        f"{first.params['x']:.3f}", study.error
    record("all_trials_fail", trials=2, failures_injected=2, study_status=study.status)


def test_killed_worker_resumes_from_its_last_checkpoint(ray_session, home, tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    spec = quad_spec("worker-kill", trainable=f"{RT}:checkpointed",
                     space={"x": {"uniform": [0.0, 1.0]}},
                     fixed={"epochs": 6, "sleep": 0.4, "pid_dir": str(pids)},
                     budget={"trials": 1, "max_failures": 2})
    killed: dict = {}

    def killer():
        def at_epoch_2():
            files = list(pids.glob("*.json"))
            info = json.loads(files[0].read_text()) if files else {}
            return info if info.get("epoch", 0) >= 2 else None
        info = wait_for(at_epoch_2, timeout=180, every=0.05, what="epoch 2")
        os.kill(info["pid"], signal.SIGKILL)  # the Ray worker running the trial, mid-epoch
        killed.update(info)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    study = run_study(spec, progress=False)
    thread.join(5)
    assert killed, "the worker was not killed"
    assert study.status == StudyStatus.COMPLETED, study.error
    (trial,) = Store().trials(study.id)
    assert trial.status == TrialStatus.COMPLETED and trial.iterations == 6
    results = Store().results(trial.id)
    assert [r.iteration for r in results] == [1, 2, 3, 4, 5, 6]  # none stored twice
    assert results[-1].metrics["epoch"] == 6  # the final epoch equals the target
    resumed = {r.metrics["resumed_from"] for r in results}
    assert max(resumed) >= killed["epoch"] >= 2  # restarted from its checkpoint, not epoch 0
    last = json.loads(next(pids.glob("*.json")).read_text())
    assert last["pid"] != killed["pid"]
    record("worker_sigkill", kills=1, killed_at_epoch=killed["epoch"],
           resumed_from=max(resumed), results=len(results), duplicates=0)
