"""A searcher written only against the documented contract survives a driver SIGKILL and
`hpsearch resume`: the study ends with exactly its budget, finished trials unchanged, and
the searcher continues from its saved state (it counts every trial once).

The driver and the resume are real processes (the CLI, with the contract searcher
registered: tests/reliability/contract_searcher.py); the kill is a real SIGKILL.
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from hpsearch.store import Store, StudyStatus, TrialStatus
from searchers._base import BaseSearcher, ResumableSearcher
from tests.helpers import quad_spec
from tests.reliability.conftest import kill, record, wait_for, write_spec
from tests.reliability.contract_searcher import ContractSearcher

pytestmark = pytest.mark.slow

BUDGET = 6


def contract_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tests.reliability.contract_searcher", *args, "--no-progress"]


def test_the_contract_is_what_the_driver_calls():
    """Every method the contract documents is one BaseSearcher implements, and the
    contract searcher shares none of BaseSearcher's fields."""
    documented = {n for n, v in vars(ResumableSearcher).items() if callable(v) and not n.startswith("_")}
    assert documented == {"get_state", "set_state", "progress", "observe", "pending_points",
                          "has_suggested", "adopt", "rename_pending", "drop_pending",
                          "set_max_trials"}
    for name in documented:
        assert getattr(BaseSearcher, name) is not getattr(ResumableSearcher, name), name
        assert getattr(ContractSearcher, name) is not getattr(ResumableSearcher, name), name
    assert not issubclass(ContractSearcher, BaseSearcher)


def test_contract_searcher_survives_a_driver_kill_and_resume(ray_head, driver_env, tmp_path):
    env = {**driver_env, "HPSEARCH_HEARTBEAT_S": "0.5"}
    spec = quad_spec("contract", fixed={"epochs": 2, "sleep": 0.4}, searcher={"type": "contract"},
                     budget={"trials": BUDGET, "max_concurrent": 2})
    path = write_spec(tmp_path / "spec.yaml", spec)
    with open(tmp_path / "driver.log", "ab") as out:
        driver = subprocess.Popen(contract_cli("submit", str(path), "--ray-address", ray_head.address),
                                  env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    store = Store()

    def some_done_one_running():
        sid = store.get_study("contract").id
        statuses = [t.status for t in store.trials(sid)]
        state = store.get_study(sid).searcher_state or {}
        ok = (statuses.count(TrialStatus.COMPLETED) >= 2 and TrialStatus.RUNNING in statuses
              and len(state.get("told", [])) >= 2)
        return sid if ok else None

    try:
        sid = wait_for(some_done_one_running, timeout=240, every=0.05, proc=driver,
                       what="2 finished trials, one running, the state saved")
    finally:
        kill(driver)  # SIGKILL
    trials = store.trials(sid)
    before = {t.number: (t.params, t.value) for t in trials if t.status == TrialStatus.COMPLETED}
    assert TrialStatus.RUNNING in [t.status for t in trials]
    assert store.get_study(sid).status == StudyStatus.RUNNING  # what a dead driver leaves

    proc = subprocess.run(contract_cli("resume", "contract", "--ray-address", ray_head.address),
                          env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    study = store.get_study(sid)
    assert study.status == StudyStatus.COMPLETED, study.error
    trials = store.trials(sid)
    assert [t.number for t in trials] == list(range(BUDGET))  # exactly the budget, each once
    assert all(t.status == TrialStatus.COMPLETED and t.value is not None for t in trials)
    assert all({t.number: (t.params, t.value) for t in trials}[n] == row
               for n, row in before.items())  # finished trials unchanged
    # It went on from its saved state: every trial suggested and told exactly once.
    state = study.searcher_state
    assert state["searcher"] == "contract" and state["waiting"] == {}
    assert (state["made"], len(state["told"])) == (BUDGET, BUDGET), proc.stderr[-3000:]
    assert sorted(v for _, v in state["told"]) == sorted(t.value for t in trials)
    record("contract_searcher_sigkill", kills=1, finished_before_kill=len(before),
           trials_after_resume=len(trials), told=len(state["told"]))
