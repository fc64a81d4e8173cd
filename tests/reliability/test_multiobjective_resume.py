"""Several objectives survive a driver kill: NSGA-II resumes with every trial's objective
values, the study ends with exactly its budget, and the front is the trials' front."""
from __future__ import annotations

import subprocess

import pytest

from hpsearch import pareto as mo
from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import mo_spec
from tests.reliability.conftest import cli, kill, start_driver, wait_for, write_spec

pytestmark = pytest.mark.slow


def test_killed_multiobjective_study_resumes_with_its_objectives(ray_head, driver_env, tmp_path):
    spec = mo_spec("mo-killed", 3, fixed={"sleep": 0.3},
                   searcher={"type": "genetic", "population_size": 4, "elitism": 2},
                   budget={"trials": 12, "max_concurrent": 2})
    path = write_spec(tmp_path / "spec.yaml", spec)
    driver = start_driver(driver_env, "submit", str(path), "--ray-address", ray_head.address,
                          log=tmp_path / "driver.log")
    store = Store()

    def five_done():
        sid = store.get_study("mo-killed").id
        done = [t for t in store.trials(sid) if t.status == TrialStatus.COMPLETED]
        state = store.get_study(sid).searcher_state or {}
        return sid if len(done) >= 5 and len(state.get("objectives", [])) >= 4 else None

    sid = wait_for(five_done, timeout=240, every=0.05, proc=driver, what="5 finished trials")
    kill(driver)
    before = {t.number: t.values for t in store.trials(sid) if t.status == TrialStatus.COMPLETED}

    proc = subprocess.run(cli("resume", "mo-killed", "--no-progress", "--ray-address", ray_head.address),
                          env=driver_env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = store.get_study(sid)
    assert study.status == StudyStatus.COMPLETED, study.error
    trials = store.trials(sid)
    assert [t.number for t in trials] == list(range(12))
    assert all(t.status == TrialStatus.COMPLETED and set(t.values) == {"f1", "f2", "f3", "cost"}
               for t in trials)
    assert all(t.values == before[t.number] for t in trials if t.number in before)
    state = study.searcher_state
    assert state["searcher"] == "NSGA2Searcher"
    assert len(state["objectives"]) == len(state["observations"]) == 12
    from hpsearch.store.fronts import pareto

    feasible = [t for t in trials if t.values["cost"] <= 1.2]
    vectors = [(t.values["f1"], t.values["f2"], t.values["f3"]) for t in feasible]
    expected = {feasible[i].number for i in mo.nondominated(vectors)}
    assert {p.number for p in pareto(store, study).front} == expected
