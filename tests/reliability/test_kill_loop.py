"""Promise 2: start, SIGKILL at a random moment, resume, ten times: exactly the budget."""
from __future__ import annotations

import random
import subprocess
import time

import pytest

from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec
from tests.reliability.conftest import cli, kill, record, start_driver, wait_for, write_spec

pytestmark = pytest.mark.slow

KILLS = 10
BUDGET = 32


def _events(store: Store) -> int:
    from sqlalchemy import func, select

    from hpsearch.store.models import TrialEvent
    with store.session() as s:
        return s.scalar(select(func.count(TrialEvent.id)))


def _finished(store: Store) -> int:
    try:
        return len(store.trials(store.get_study("loop").id, status=TrialStatus.COMPLETED))
    except Exception:  # noqa: BLE001 - no study yet
        return 0


def test_kill_loop_ends_with_exactly_the_budget(ray_head, driver_env, tmp_path):
    spec = quad_spec("loop", fixed={"epochs": 2, "sleep": 0.25},
                     budget={"trials": BUDGET, "max_concurrent": 2})
    path = write_spec(tmp_path / "spec.yaml", spec)
    store = Store()
    rng = random.Random(7)
    finished: dict[int, tuple] = {}  # every trial seen finished, as it was then
    log = tmp_path / "drivers.log"
    address = ("--ray-address", ray_head.address)
    for i in range(KILLS):
        args = ("submit", str(path)) if i == 0 else ("resume", "loop")
        before, done = _events(store), _finished(store)
        started = time.monotonic()
        driver = start_driver(driver_env, *args, *address, log=log)
        if i > 0 and rng.random() < 0.2:
            time.sleep(rng.uniform(0.0, 3.0))  # a kill while the driver starts up
        else:
            # A kill while trials run: once this driver has started one and finished 0-2
            # more (so the study outlives the ten kills), at a random moment.
            more = rng.randint(0, 2)
            wait_for(lambda: _events(store) > before and _finished(store) >= done + more,
                     timeout=180, every=0.05, proc=driver, what="this driver's trials")
            time.sleep(rng.uniform(0.0, 0.5))
        kill(driver)
        sid = store.get_study("loop").id
        print(f"kill {i} after {time.monotonic() - started:.1f}s:",
              "".join(t.status[0] for t in store.trials(sid)))
        for t in store.trials(sid):
            if t.status in TrialStatus.FINISHED:
                finished.setdefault(t.number, (t.params, t.value, t.status))
    proc = subprocess.run(cli("resume", "loop", "--no-progress", *address), env=driver_env,
                          capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = store.get_study(sid)
    assert study.status == StudyStatus.COMPLETED, study.error
    trials = store.trials(sid)
    assert [t.number for t in trials] == list(range(BUDGET))  # exactly the budget, each once
    assert all(t.status == TrialStatus.COMPLETED and t.value is not None for t in trials)
    now = {t.number: (t.params, t.value, t.status) for t in trials}
    assert all(now[n] == row for n, row in finished.items())  # never changed once finished
    results = 0
    for t in trials:  # every epoch stored once
        its = [r.iteration for r in store.results(t.id)]
        assert its == [1, 2], (t.number, its)
        results += len(its)
    reruns = sum(1 for t in trials for e in store.trial_events(t.id)
                 if e.message == "run again after an interruption")
    record("kill_loop", kills=KILLS, trials=len(trials), reruns=reruns, results=results, lost=0)
