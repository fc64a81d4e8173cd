"""Prometheus /metrics from SQL, on SQLite and PostgreSQL (durations are computed per dialect)."""
from __future__ import annotations

import time

from hpsearch.spec import Spec
from hpsearch.store import Store, StudyStatus, TrialStatus
from webui import create_app


def make_spec(name: str) -> Spec:
    return Spec.model_validate({"name": name, "trainable": "cnn", "metric": "val_accuracy",
                                "mode": "max", "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
                                "budget": {"trials": 8}})


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_from_sql(db_url):
    store = Store(db_url)
    done = store.create_study(make_spec("done"))
    running = store.create_study(make_spec("running"))
    store.create_study(make_spec("waiting"))
    store.set_study_status(running.id, StudyStatus.RUNNING)
    t = time.time() - 1000
    ops = []
    for i, seconds in enumerate((0.5, 3.0, 100.0)):
        ops += [("trial", done.id, f"r{i}", i, {"lr": 0.1}, TrialStatus.RUNNING, t),
                ("status", done.id, f"r{i}", TrialStatus.COMPLETED, {"value": 0.5}, t + seconds)]
    ops += [("trial", done.id, "e", 3, {"lr": 0.2}, TrialStatus.RUNNING, t),
            ("status", done.id, "e", TrialStatus.ERROR, {"error": "boom"}, t + 20.0),
            ("trial", running.id, "live", 0, {"lr": 0.3}, TrialStatus.RUNNING, t)]
    store.apply(ops)
    store.set_study_status(done.id, StudyStatus.COMPLETED)
    stuck = store.create_study(make_spec("stuck"), status=StudyStatus.RUNNING)
    store.set_waiting(stuck.id, "no node can run a trial yet: resources.gpu: ...")

    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "AUTH": False})
    resp = app.test_client().get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    m = _samples(resp.get_data(as_text=True))
    assert m['hpsearch_studies{status="QUEUED"}'] == 1
    assert m['hpsearch_studies{status="RUNNING"}'] == 2
    assert m["hpsearch_studies_waiting_for_node"] == 1  # "stuck"; "running" waits for nothing
    assert m['hpsearch_studies{status="COMPLETED"}'] == 1
    assert m["hpsearch_trials_running"] == 1
    done_ = 'status="COMPLETED"'
    assert m[f'hpsearch_trial_duration_seconds_bucket{{le="1.0",{done_}}}'] == 1
    assert m[f'hpsearch_trial_duration_seconds_bucket{{le="5.0",{done_}}}'] == 2
    assert m[f'hpsearch_trial_duration_seconds_bucket{{le="60.0",{done_}}}'] == 2
    assert m[f'hpsearch_trial_duration_seconds_bucket{{le="120.0",{done_}}}'] == 3
    assert m[f'hpsearch_trial_duration_seconds_bucket{{le="+Inf",{done_}}}'] == 3
    assert m[f"hpsearch_trial_duration_seconds_count{{{done_}}}"] == 3
    assert abs(m[f"hpsearch_trial_duration_seconds_sum{{{done_}}}"] - 103.5) < 0.01
    assert m['hpsearch_trial_duration_seconds_count{status="ERROR"}'] == 1
    store.dispose()
