"""Fixtures for the web UI: an app and a client on a temporary SQLite database.

Studies and trials are written straight through the store (no Ray): the
fixture `filled` makes one finished study with results and one empty one.
"""
from __future__ import annotations

import secrets
import time

import pytest
from flask.testing import FlaskClient

from hpsearch.spec import Spec
from hpsearch.store import Store, StudyStatus, TrialStatus


def parallel_axes(fig) -> dict[str, dict]:
    """A parallel-coordinates figure read back: per axis label, its meta (range, ticks) and
    ``values``: each drawn trial's value on that axis, by trial number (the lines' y, scaled
    back from 0..1 to the axis's own range)."""
    layout = fig["layout"] if isinstance(fig, dict) else fig.layout.to_plotly_json()
    data = fig["data"] if isinstance(fig, dict) else [t.to_plotly_json() for t in fig.data]
    dims = layout["meta"]["dimensions"]
    out = {d["label"]: {**d, "values": {}} for d in dims}
    for trace in data:
        if not str(trace.get("name", "")).startswith("band "):
            continue
        xs, ys, cd = trace["x"], trace["y"], trace["customdata"]
        for x, y, n in zip(xs, ys, cd):
            if x is None or x != x:  # the gap between two lines
                continue
            d = dims[int(x)]
            lo, hi = d["range"]
            out[d["label"]]["values"][int(n)] = (None if y is None or y != y
                                                 else lo + float(y) * ((hi - lo) or 1.0))
    return out


def make_spec(name: str, **over) -> Spec:
    raw = {"name": name, "trainable": "cnn", "metric": "val_accuracy", "mode": "max",
           "space": {"lr": {"loguniform": [1e-4, 1e-1]}, "dropout": {"uniform": [0.0, 0.5]},
                     "optimizer": {"choice": ["adam", "sgd"]}},
           "searcher": {"type": "random"}, "budget": {"trials": 8}}
    raw.update(over)
    # Built without spec.validate: the fixtures need no trainable (and so no torch).
    return Spec.model_validate(raw)


def fill(store: Store, study_id: int, n: int = 6, iterations: int = 5) -> None:
    t = time.time()
    ops: list[tuple] = []
    for i in range(n):
        rid = f"r{i}"
        params = {"lr": 10 ** (-4 + i * 0.5), "dropout": 0.1 * i, "optimizer": ["adam", "sgd"][i % 2]}
        ops.append(("trial", study_id, rid, i, params, TrialStatus.RUNNING, t))
        for it in range(1, iterations + 1):
            v = 0.5 + 0.05 * i + 0.01 * it
            ops.append(("result", study_id, rid, it, v, {"val_accuracy": v, "loss": 1 - v}, t))
        if i == n - 1:
            ops.append(("status", study_id, rid, TrialStatus.ERROR,
                        {"error": "Traceback: RuntimeError <b>boom</b>"}, t))
        elif i == 1:
            ops.append(("status", study_id, rid, TrialStatus.EARLY_STOPPED,
                        {"value": 0.5 + 0.05 * i + 0.01 * iterations}, t))
        else:
            ops.append(("status", study_id, rid, TrialStatus.COMPLETED,
                        {"value": 0.5 + 0.05 * i + 0.01 * iterations}, t))
    store.apply(ops)


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'web.db'}"


@pytest.fixture
def store(db_url) -> Store:
    store = Store(db_url)
    yield store
    store.dispose()


@pytest.fixture
def filled(store) -> dict:
    """A COMPLETED study with 6 trials (one early stopped, one error) and a QUEUED empty one."""
    done = store.create_study(make_spec("done-study"), status=StudyStatus.RUNNING)
    fill(store, done.id)
    store.set_study_status(done.id, StudyStatus.COMPLETED,
                           end_reason="all 6 trials of its budget ran")
    empty = store.create_study(make_spec("empty-study"), status=StudyStatus.QUEUED)
    return {"done": done.id, "empty": empty.id}


class CsrfClient(FlaskClient):
    """A test client that sends the session's CSRF token on every unsafe request, as
    the pages' forms and scripts do (``csrf=False`` sends none)."""

    def open(self, *args, **kwargs):
        send = kwargs.pop("csrf", True)
        method = (kwargs.get("method") or "GET").upper()
        if send and method in ("POST", "PUT", "PATCH", "DELETE"):
            headers = dict(kwargs.pop("headers", None) or {})
            if "X-CSRFToken" not in headers and "Authorization" not in headers:
                with self.session_transaction() as sess:
                    headers["X-CSRFToken"] = sess.setdefault("_csrf", secrets.token_urlsafe(32))
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


@pytest.fixture
def app(db_url, store):
    from webui import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": db_url})
    app.test_client_class = CsrfClient
    yield app


@pytest.fixture
def client(app):
    return app.test_client()
