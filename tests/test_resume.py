"""Driver killed with SIGKILL mid-study, then `hpsearch resume`: real processes, real signals."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec

pytestmark = pytest.mark.slow


def _cli(*args, **kw):
    return [sys.executable, "-m", "hpsearch.cli", *args]


def test_killed_driver_resumes_keeping_finished_trials(home, tmp_path):
    spec = quad_spec("killed", fixed={"epochs": 3, "sleep": 0.3},
                     budget={"trials": 12, "max_concurrent": 2})
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, "HPSEARCH_HOME": str(home)}
    driver = subprocess.Popen(_cli("submit", str(path), "--no-progress"), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    store = Store()
    deadline = time.time() + 180
    done = []
    while time.time() < deadline:
        try:
            sid = store.get_study("killed").id
            done = store.trials(sid, status=TrialStatus.COMPLETED)
        except Exception:  # noqa: BLE001 - not created yet
            pass
        if len(done) >= 3:
            break
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
    driver.wait(30)
    assert len(done) >= 3, "the study did not get going"
    before = {t.number: (t.params, t.value) for t in store.trials(sid, status=TrialStatus.COMPLETED)}
    assert store.get_study(sid).status == StudyStatus.RUNNING  # what a dead driver leaves

    # A changed spec is refused.
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump({**spec, "seed": 99}))
    proc = subprocess.run(_cli("resume", "killed", "--spec", str(changed), "--no-progress"),
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "spec differs" in proc.stderr

    proc = subprocess.run(_cli("resume", "killed", "--no-progress"), env=env,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = store.get_study(sid)
    assert study.status == StudyStatus.COMPLETED
    trials = store.trials(sid)
    after = {t.number: (t.params, t.value) for t in trials}
    for number, row in before.items():  # finished trials unchanged, present exactly once
        assert after[number] == row
    assert len({t.number for t in trials}) == len(trials)
    assert not [t for t in trials if t.status == TrialStatus.RUNNING]
    assert len([t for t in trials if t.status == TrialStatus.COMPLETED]) >= 12

    # Resuming a finished study adds nothing.
    n = len(trials)
    proc = subprocess.run(_cli("resume", "killed", "--no-progress"), env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and len(store.trials(sid)) == n
