"""Promises 5 and 6: a paused driver reporting late; a crash before a trial's final status.

(The reaper of a vanished driver's trials is exercised in test_driver_kill.py.)
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time

import pytest

from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec
from tests.reliability.conftest import cli, record, start_driver, wait_for, write_spec

pytestmark = pytest.mark.slow
GRACE_S = 3.0


@pytest.fixture
def beat_env(driver_env):
    return {**driver_env, "HPSEARCH_HEARTBEAT_S": "0.5"}


def _spec(name: str, trials: int = 4) -> dict:
    return quad_spec(name, fixed={"epochs": 4, "sleep": 0.5},
                     budget={"trials": trials, "max_concurrent": 2})


def _statuses(store: Store, name: str) -> list[str]:
    return [t.status for t in store.trials(store.get_study(name).id)]


def _until_every_thread_stopped(pid: int, timeout: float = 10.0) -> None:
    """Wait until each of the process's threads is in the stopped state.

    kill() returns once the signal is queued; a thread running on another (virtual) CPU
    stops when that CPU takes the kernel's interrupt, which on a loaded VM can be late
    enough for it to begin a write after the lock check below. Checked, not assumed.
    """
    deadline = time.monotonic() + timeout
    while True:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except FileNotFoundError:  # a thread that just exited
                pass
        if all(state in ("T", "t") for state in states):
            return
        assert time.monotonic() < deadline, f"the driver's threads did not stop: {states}"
        time.sleep(0.01)


def _pause_outside_a_write(driver: subprocess.Popen, store: Store) -> None:
    """SIGSTOP the driver at a moment it holds no write transaction.

    The promise is about a driver that is paused and reports late. A driver frozen
    inside a SQLite write transaction holds the database's one write lock until it
    runs again (docs/reliability.md), so every other writer, the reaper included,
    waits on it: pause, check that the lock is free, else resume and try again.
    """
    path = store.engine.url.database
    for _ in range(200):
        os.kill(driver.pid, signal.SIGSTOP)
        _until_every_thread_stopped(driver.pid)
        con = sqlite3.connect(path, timeout=0.2)
        try:
            con.execute("BEGIN IMMEDIATE")
            con.rollback()
            return
        except sqlite3.OperationalError:  # it was paused mid-write
            os.kill(driver.pid, signal.SIGCONT)
            time.sleep(0.02)
        finally:
            con.close()
    raise AssertionError("the driver held the write lock at each of 200 pauses")


def test_a_paused_driver_that_reports_late_flips_nothing(ray_head, beat_env, tmp_path):
    store = Store()
    path = write_spec(tmp_path / "s.yaml", _spec("paused"))
    driver = start_driver(beat_env, "submit", str(path), "--ray-address", ray_head.address,
                          log=tmp_path / "driver.log")

    def one_done_one_running():
        s = _statuses(store, "paused")
        return TrialStatus.COMPLETED in s and TrialStatus.RUNNING in s

    wait_for(one_done_one_running, timeout=180, every=0.05, proc=driver,
             what="a finished and a running trial")
    _pause_outside_a_write(driver, store)
    try:
        sid = store.get_study("paused").id
        done = {t.number: (t.value, t.finished_at) for t in store.trials(sid)
                if t.status == TrialStatus.COMPLETED}
        wait_for(lambda: store.reap_stale_trials(GRACE_S)
                 or TrialStatus.RUNNING not in _statuses(store, "paused"),
                 timeout=60, what="the reaper")
        assert all(t.status == TrialStatus.COMPLETED for t in store.trials(sid)
                   if t.number in done)  # the reaper never touches a finished trial
        reaped = [t.number for t in store.trials(sid) if t.status == TrialStatus.INTERRUPTED]
    finally:
        os.kill(driver.pid, signal.SIGCONT)
    assert driver.wait(300) == 0, (tmp_path / "driver.log").read_text()[-3000:]
    assert store.get_study(sid).status == StudyStatus.COMPLETED
    trials = store.trials(sid)
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 4
    assert all((trials[n].value, trials[n].finished_at) == row for n, row in done.items())
    for n in reaped:  # it did finish: its late final report is recorded, with its value
        events = [e.status for e in store.trial_events(trials[n].id)]
        assert events[-2:] == [TrialStatus.INTERRUPTED, TrialStatus.COMPLETED], events
    record("sigstop_sigcont", pauses=1, reaped_while_paused=len(reaped),
           finished_flipped=0)


def test_crash_between_last_result_and_final_status_leaves_it_interrupted(ray_head, driver_env,
                                                                          tmp_path):
    store = Store()
    spec = quad_spec("torn", fixed={"epochs": 2}, budget={"trials": 1})
    path = write_spec(tmp_path / "s.yaml", spec)
    env = {**driver_env, "HPSEARCH_FAILPOINT": "before_final_status"}
    driver = start_driver(env, "submit", str(path), "--ray-address", ray_head.address,
                          log=tmp_path / "driver.log")
    assert driver.wait(300) == -signal.SIGKILL  # it killed itself at the failpoint
    (trial,) = store.trials(store.get_study("torn").id)
    assert [r.iteration for r in store.results(trial.id)] == [1, 2]  # its last result is in
    assert trial.status == TrialStatus.RUNNING and trial.value is None  # never COMPLETED
    proc = subprocess.run(cli("resume", "torn", "--no-progress", "--ray-address",
                              ray_head.address), env=driver_env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (trial,) = store.trials(trial.study_id)
    events = [e.status for e in store.trial_events(trial.id)]
    assert events == [TrialStatus.RUNNING, TrialStatus.INTERRUPTED, TrialStatus.RUNNING,
                      TrialStatus.COMPLETED], events
    assert trial.status == TrialStatus.COMPLETED and trial.value is not None
    assert [r.iteration for r in store.results(trial.id)] == [1, 2]
    record("crash_before_final_status", kills=1, completed_without_value=0)
