"""Out-of-memory retries (``on_oom``) and the GPU memory cap hold for trials that run as
HPSEARCH_TRIAL_USER too: the training is then another process, so the worker learns from
it that it died of torch's out-of-memory error and starts a new one with the value halved
(hpsearch/trial_isolated.py); the cap is set by that process on its own allocator."""
from __future__ import annotations

import os
import pwd
import subprocess

import pytest

from hpsearch import isolation
from hpsearch.orchestration import run_study
from hpsearch.status import StudyStatus, TrialStatus
from hpsearch.store import Store
from tests.helpers import quad_spec
from tests.security.test_trial_boundary import python_for_everyone  # noqa: F401 - a fixture

TRIAL_USER = "hpsearch-trial"

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="creating the trial's OS user needs root (CI runs as root)")


def _trial_user() -> None:
    try:
        pwd.getpwnam(TRIAL_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        TRIAL_USER], check=True)


def test_out_of_memory_reruns_halved_under_the_trial_user(home, ray_session, sqlite_url,
                                                          python_for_everyone):  # noqa: F811
    _trial_user()
    spec = quad_spec("oom-isolated", trainable="tests.helpers:oom_prone",
                     space={"batch_size": {"grid": [64]}}, searcher={"type": "grid"},
                     budget={"trials": 1, "max_concurrent": 1}, fixed={"epochs": 3, "fits": 16},
                     on_oom={"halve": "batch_size", "retries": 2},
                     resources={"cpu": 1})
    store = Store(sqlite_url)
    study = run_study(spec, store=store, progress=False, run_as=isolation.resolve(TRIAL_USER))
    assert study.status == StudyStatus.COMPLETED, study.error
    (t,) = store.trials(study.id)
    notes = [e.message for e in store.trial_events(t.id)
             if e.message and e.message.startswith("out of memory")]
    assert t.status == TrialStatus.COMPLETED and t.params["batch_size"] == 16, t.error
    assert notes == ["out of memory with batch_size=64; run again with batch_size=32 (retry 1 of 2)",
                     "out of memory with batch_size=32; run again with batch_size=16 (retry 2 of 2)"]
    curve = [(r.metrics["batch_size"], r.metrics["epoch"]) for r in store.results(t.id)]
    assert curve == [(64, 1), (32, 1), (16, 1), (16, 2), (16, 3)]
    store.dispose()
