"""Promise 1: the driver SIGKILLed after 5 of 20 trials; `hpsearch resume` ends with exactly 20.

Also promise 5's reaper: the dead driver's RUNNING trials are marked INTERRUPTED
once their heartbeats are older than a grace period.
"""
from __future__ import annotations

import subprocess

import pytest

from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec
from tests.reliability.conftest import cli, kill, record, start_driver, wait_for, write_spec

pytestmark = pytest.mark.slow

BAYES = {"type": "bayesian", "n_initial_points": 4}


GRACE_S = 3.0


def test_killed_driver_resumes_to_exactly_the_budget(ray_head, driver_env, tmp_path):
    driver_env = {**driver_env, "HPSEARCH_HEARTBEAT_S": "0.5"}
    spec = quad_spec("killed", fixed={"epochs": 2, "sleep": 0.5}, searcher=BAYES,
                     budget={"trials": 20, "max_concurrent": 2})
    path = write_spec(tmp_path / "spec.yaml", spec)
    driver = start_driver(driver_env, "submit", str(path), "--ray-address", ray_head.address,
                          log=tmp_path / "driver.log")
    store = Store()

    def five_done_one_running():
        sid = store.get_study("killed").id
        statuses = [t.status for t in store.trials(sid)]
        ok = statuses.count(TrialStatus.COMPLETED) >= 5 and TrialStatus.RUNNING in statuses
        return sid if ok else None

    sid = wait_for(five_done_one_running, timeout=240, every=0.05, proc=driver,
                   what="5 finished trials and one running")
    # A resume while the driver still runs is refused, and touches nothing.
    proc = subprocess.run(cli("resume", "killed", "--no-progress"), env=driver_env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "being run by another driver" in proc.stderr, proc.stderr
    assert f"pid {driver.pid}" in proc.stderr
    assert TrialStatus.INTERRUPTED not in [t.status for t in store.trials(sid)]
    assert driver.poll() is None
    # The refused resume took seconds (more under load): the driver may be between two
    # trials now, so it is killed while one runs, as the test means to leave one cut short.
    wait_for(lambda: TrialStatus.RUNNING in [t.status for t in store.trials(sid)], timeout=120,
             every=0.05, proc=driver, what="a running trial to cut short")
    kill(driver)
    trials = store.trials(sid)
    before = {t.number: (t.params, t.value, t.iterations) for t in trials
              if t.status == TrialStatus.COMPLETED}
    cut_short = [t.number for t in trials if t.status == TrialStatus.RUNNING]
    assert cut_short and store.get_study(sid).status == StudyStatus.RUNNING  # what a dead driver leaves

    # Promise 5: with no heartbeat from their driver, a reaper (the dispatcher's loop
    # runs it) marks its trials INTERRUPTED within the grace period.
    reaped: list[int] = []
    wait_for(lambda: reaped.append(store.reap_stale_trials(GRACE_S)) or
             TrialStatus.RUNNING not in [t.status for t in store.trials(sid)], timeout=60,
             what="the reaper")
    for t in store.trials(sid):
        if t.number in cut_short:
            assert t.status == TrialStatus.INTERRUPTED
            assert "no heartbeat" in store.trial_events(t.id)[-1].message

    # A changed spec is refused, and changes nothing.
    changed = write_spec(tmp_path / "changed.yaml", {**spec, "seed": 99})
    proc = subprocess.run(cli("resume", "killed", "--spec", str(changed), "--no-progress"),
                          env=driver_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "spec differs" in proc.stderr, proc.stderr[-2000:]
    assert len(store.trials(sid)) == len(trials)

    proc = subprocess.run(cli("resume", "killed", "--no-progress", "--ray-address", ray_head.address),
                          env=driver_env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = store.get_study(sid)
    assert study.status == StudyStatus.COMPLETED, study.error
    trials = store.trials(sid)
    assert [t.number for t in trials] == list(range(20))  # exactly the budget, each once
    assert all(t.status == TrialStatus.COMPLETED and t.value is not None for t in trials)
    after = {t.number: (t.params, t.value, t.iterations) for t in trials}
    assert all(after[n] == row for n, row in before.items())  # finished trials unchanged
    for n in cut_short:  # interrupted, then run again on the same row
        events = [e.status for e in store.trial_events(trials[n].id)]
        assert TrialStatus.INTERRUPTED in events and events[-1] == TrialStatus.COMPLETED, events
    # The Bayesian searcher continued from its saved state: it counts every trial,
    # so its random phase (4 points) was not started again.
    state = study.searcher_state
    assert (state["n_suggested"], len(state["observations"])) == (20, 20), \
        ([(t.number, t.ray_trial_id) for t in trials], proc.stderr[-3000:])
    record("driver_sigkill", kills=1, finished_before_kill=len(before),
           interrupted=len(cut_short), trials_after_resume=len(trials), lost=0)
    record("heartbeat_reaper", reaped=sum(reaped), grace_s=GRACE_S,
           rerun_and_completed=len(cut_short))

    # Resuming a finished study adds nothing.
    proc = subprocess.run(cli("resume", "killed", "--no-progress"), env=driver_env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [(t.number, t.value) for t in store.trials(sid)] == \
        [(t.number, t.value) for t in trials]
