"""#15 finding 6: an Idempotency-Key is scoped to its user, and reusing one with another body
is a 422 (before: keys were global, so another user's retry got the first user's study)."""
from __future__ import annotations

from tests.security.conftest import bearer

SPEC = {"name": "keyed", "trainable": "cnn", "dataset": "digits", "metric": "val_accuracy",
        "mode": "max", "space": {"lr": {"loguniform": [1e-4, 1e-1]}},
        "searcher": {"type": "random"}, "budget": {"trials": 3}}


def post(client, token: str, body: dict, key: str):
    return client.post("/api/v1/studies", json=body,
                       headers={**bearer(token), "Idempotency-Key": key})


def test_idempotency_keys_belong_to_their_user(sec_app, people):
    client = sec_app.test_client()
    first = post(client, people["max"]["token"], SPEC, "k-1")
    assert first.status_code == 201, first.get_json()
    mine = first.get_json()["id"]
    again = post(client, people["max"]["token"], SPEC, "k-1")  # a retry: the same study
    assert again.status_code == 201 and again.get_json()["id"] == mine

    # The same key, another body: refused, naming the header, and nothing written.
    other = post(client, people["max"]["token"], {**SPEC, "budget": {"trials": 4}}, "k-1")
    assert other.status_code == 422, other.get_json()
    assert [f["field"] for f in other.get_json()["fields"]] == ["Idempotency-Key"]

    # Another user's same key is another key: never the first user's study.
    taken = post(client, people["ada"]["token"], SPEC, "k-1")  # max's very request, ada's key
    assert taken.status_code == 409, taken.get_json()           # the name is taken: not max's study
    theirs = post(client, people["ada"]["token"], {**SPEC, "name": "keyed-ada"}, "k-1")
    assert theirs.status_code == 201 and theirs.get_json()["id"] != mine
    assert theirs.get_json()["owner"] == "ada"
    listed = client.get("/api/v1/studies?q=keyed", headers=bearer(people["vic"]["token"])).get_json()
    assert sorted(s["name"] for s in listed["items"]) == ["keyed", "keyed-ada"]
