"""Cancel through the web service's API stops a running study within seconds."""
from __future__ import annotations

import time

import pytest

from hpsearch.client import Client
from hpsearch.store import Store, StudyStatus, TrialStatus
from tests.helpers import quad_spec
from tests.service.conftest import events, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_cancel_from_the_api_stops_a_running_study(ray_cluster, pg_url, services, home):
    url = services.web(pg_url)
    _, log = services.dispatcher(pg_url, ray_cluster, name="c")
    client = Client(url)
    study = client.submit(quad_spec("to-cancel", fixed={"epochs": 50, "sleep": 0.5},
                                    budget={"trials": 20, "max_concurrent": 2}))
    store = Store(pg_url)
    wait_for(lambda: store.count_results(study.id) > 0, 120, "a trial to report")
    assert study.status == StudyStatus.RUNNING

    answer = study.cancel()
    assert answer["cancel_requested"] and answer["status"] == StudyStatus.RUNNING
    asked = time.monotonic()
    study.wait(timeout=90, poll=0.5)
    print(f"cancel -> CANCELLED in {time.monotonic() - asked:.1f} s")  # figure for the notes
    assert study.status == StudyStatus.CANCELLED
    assert study.data["end_reason"].startswith("cancelled while it ran, after "), study.data
    trials = store.trials(study.id)
    assert not [t for t in trials if t.status in (TrialStatus.RUNNING, TrialStatus.PENDING)]
    assert not [t for t in trials if t.status == TrialStatus.COMPLETED]  # stopped mid-trial
    # The driver honoured the cancel itself; the dispatcher did not have to kill it.
    assert not events(log, "study.cancel_forced")
    wait_for(lambda: events(log, "study.finished"), 30, "the dispatcher to reap the driver")
    assert store.get_study(study.id).status == StudyStatus.CANCELLED
