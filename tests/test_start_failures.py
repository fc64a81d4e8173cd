"""Starting a study: a failure before the row exists writes nothing; a failure after it
leaves the study FAILED with the reason, never RUNNING. One injected failure per step."""
from __future__ import annotations

import pytest

import searchers
import trainables
from hpsearch import orchestration, schedulers
from hpsearch.exceptions import NotFoundError
from hpsearch.store import Store, StudyStatus
from tests.helpers import quad_spec


class Injected(RuntimeError):
    pass


def _boom(*args, **kwargs):
    raise Injected("injected failure")


def _fail_on_call(n: int, real):
    """``real`` that raises on its n-th call (the first calls are the preflight's)."""
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= n:
            raise Injected("injected failure")
        return real(*args, **kwargs)
    return wrapper


# Steps checked before the study row is written: a failure leaves no row at all.
BEFORE_ROW = {
    "import the trainable": (trainables, "get_trainable"),
    "build the searcher": (searchers, "create_searcher"),
    "check the scheduler": (schedulers, "check"),
    # A local Ray's size decides whether a trial can ever start (check_pool): known first.
    "start or reach Ray": (orchestration, "ensure_ray"),
    "check the pool": (orchestration, "check_pool"),
}


@pytest.mark.parametrize("step", sorted(BEFORE_ROW))
def test_a_failure_before_the_row_writes_nothing(step, sqlite_url, home, monkeypatch):
    module, name = BEFORE_ROW[step]
    monkeypatch.setattr(module, name, _boom)
    store = Store(sqlite_url)
    with pytest.raises(Injected):
        orchestration.run_study(quad_spec(f"before-{name}"), store=store, progress=False)
    assert store.list_studies() == []


def test_a_missing_warm_start_study_writes_nothing(sqlite_url, home):
    store = Store(sqlite_url)
    with pytest.raises(NotFoundError, match="nope"):
        orchestration.run_study(quad_spec("warm", warm_start=["nope"]), store=store,
                                progress=False)
    assert store.list_studies() == []


def _after_row_steps(monkeypatch) -> dict:
    from ray import tune

    return {
        "build the searcher": lambda: monkeypatch.setattr(
            searchers, "create_searcher", _fail_on_call(2, searchers.create_searcher)),
        "import warm-start trials": lambda: monkeypatch.setattr(orchestration, "_warm_start", _boom),
        "build the scheduler": lambda: monkeypatch.setattr(schedulers, "build", _boom),
        "build the Tuner": lambda: monkeypatch.setattr(tune, "Tuner", _boom),
        "run the trials": lambda: monkeypatch.setattr(tune.Tuner, "fit", _boom),
        "decide the verdict": lambda: monkeypatch.setattr(orchestration, "_finish", _boom),
    }


AFTER_ROW = ["build the searcher", "import warm-start trials",
             "build the scheduler", "build the Tuner", "run the trials", "decide the verdict"]


@pytest.mark.parametrize("step", AFTER_ROW)
def test_a_failure_after_the_row_leaves_the_study_failed_with_the_reason(
        step, ray_session, sqlite_url, home, monkeypatch):
    _after_row_steps(monkeypatch)[step]()
    store = Store(sqlite_url)
    with pytest.raises(Injected):
        orchestration.run_study(quad_spec(f"after-{len(step)}", budget={"trials": 2}),
                                store=store, progress=False)
    (study,) = store.list_studies()
    assert study.status == StudyStatus.FAILED, (step, study.status)
    assert "Injected: injected failure" in study.error
    assert not [t for t in store.trials(study.id) if t.status == "RUNNING"]


@pytest.mark.parametrize("module, name", [(trainables, "get_trainable"),
                                          (orchestration, "ensure_ray"),
                                          (orchestration, "check_pool")])
def test_a_queued_study_whose_start_fails_is_failed_not_running(ray_session, sqlite_url, home,
                                                                monkeypatch, module, name):
    """The dispatcher's path: the row exists (QUEUED) before the driver starts it."""
    from hpsearch.spec import validate

    store = Store(sqlite_url)
    spec = validate(quad_spec("queued"))
    row = store.create_study(spec, status=StudyStatus.QUEUED)
    monkeypatch.setattr(module, name, _boom)
    with pytest.raises(Injected):
        orchestration.run_study(spec, store=store, study_id=row.id, progress=False)
    study = store.get_study(row.id)
    assert study.status == StudyStatus.FAILED and "injected failure" in study.error
