"""Promise 10: a client retrying POST /api/v1/studies with one Idempotency-Key gets one study."""
from __future__ import annotations

import threading

from hpsearch.store import Store
from tests.reliability.conftest import record

SPEC = {"name": "retried", "trainable": "cnn", "dataset": "digits", "metric": "val_accuracy",
        "mode": "max", "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
        "searcher": {"type": "random"}, "budget": {"trials": 3}}
CLIENTS = 8


def test_concurrent_retries_with_one_key_make_one_study(db_url):
    """Eight clients send the same request at the same moment (a retry storm), on both backends."""
    from webui import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": db_url})
    barrier = threading.Barrier(CLIENTS)
    answers: list = []

    def client():
        c = app.test_client()
        barrier.wait()
        r = c.post("/api/v1/studies", json=SPEC, headers={"Idempotency-Key": "retry-1"})
        answers.append((r.status_code, (r.get_json() or {}).get("id")))

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == CLIENTS
    assert {code for code, _ in answers} == {201}, answers
    assert len({sid for _, sid in answers}) == 1  # all got the same study
    studies = Store(db_url).list_studies()
    assert [s.name for s in studies] == ["retried"]
    # A later retry still finds it; another key with the same name is a conflict, not a copy.
    c = app.test_client()
    assert c.post("/api/v1/studies", json=SPEC,
                  headers={"Idempotency-Key": "retry-1"}).get_json()["id"] == answers[0][1]
    assert c.post("/api/v1/studies", json=SPEC,
                  headers={"Idempotency-Key": "other"}).status_code == 409
    assert len(Store(db_url).list_studies()) == 1
    record(f"idempotent_post_{db_url.split(':')[0].split('+')[0]}", concurrent_posts=CLIENTS + 2,
           studies_created=1)
