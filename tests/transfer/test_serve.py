"""Deployments on real Ray Serve, through the hpsearch API (one Serve application per module).

A real dispatcher process runs the serving host (hpsearch/serving.py), which starts its own
local Ray and Serve's HTTP proxy on a free loopback port; the web API (Flask's test client,
login on) checks callers and inputs and forwards each batch to that proxy over HTTP.
"""
from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from hpsearch.store import Store
from tests.transfer.conftest import SOURCE

PASSWORD = "correct horse battery staple 42"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dispatchers:
    """Starts and stops real `hpsearch dispatcher` processes (each in its own session)."""

    def __init__(self, db: str, env: dict):
        self.db, self.env, self.proc = db, env, None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "hpsearch.cli", "dispatcher", "--db", self.db],
                                     env=self.env, start_new_session=True, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever of its session is left (the serving host and its Ray)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None


@pytest.fixture(scope="module")
def serve_env(source_db, monkeypatch_module):
    port = _free_port()
    monkeypatch_module.setenv("HPSEARCH_SERVE_PORT", str(port))
    monkeypatch_module.delenv("HPSEARCH_SERVE_URL", raising=False)
    # A serving host silent for 15 s is replaced (the SIGSTOP step below); the default is 60.
    env = {**os.environ, "HPSEARCH_SERVE_PORT": str(port), "HPSEARCH_SERVING_STALE_S": "15"}
    d = Dispatchers(source_db, env)
    yield d
    d.stop()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _serving_host(dispatcher: subprocess.Popen) -> int | None:
    """The pid of the dispatcher's serving host (``python -m hpsearch.serving``), if running."""
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == dispatcher.pid and b"hpsearch.serving" in cmd:
            return int(entry)
    return None


def _wait(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_deploy_predict_scale_restart_undeploy(source_db, serve_env):
    import torch

    from hpsearch.accounts import Accounts
    from hpsearch.transfer import pick
    from trainables import _data, _finetune
    from webui import create_app

    store = Store(source_db)
    accounts = Accounts(store)
    tokens = {}
    for user, role in [("ada", "admin"), ("max", "member"), ("bob", "member"), ("vic", "viewer")]:
        accounts.add_user(user, PASSWORD, role)
        tokens[user] = {"Authorization": f"Bearer {accounts.create_token(user, 'test')[1]}"}
    app = create_app({"TESTING": True, "DATABASE_URL": source_db, "AUTH": True, "SECRET_KEY": "k" * 48})
    client = app.test_client()

    # Declaring: members only; every bad field at once; names are unique.
    body = {"study": SOURCE, "name": "digits", "autoscale": "1-2"}
    assert client.post("/api/v1/deployments", json=body, headers=tokens["vic"]).status_code == 403
    r = client.post("/api/v1/deployments", json={"study": SOURCE, "name": "Bad Name", "replicas": 0},
                    headers=tokens["max"])
    assert r.status_code == 422 and {f["field"] for f in r.json["fields"]} == {"name", "replicas"}
    r = client.post("/api/v1/deployments", json=body, headers=tokens["max"])
    assert r.status_code == 201 and r.json["status"] == "PENDING", r.json
    assert client.post("/api/v1/deployments", json=body, headers=tokens["max"]).status_code == 409
    # The trial page's Deploy form (members): the same checks, answered on a page.
    sid = store.get_study(SOURCE).id
    assert 'id="deploy"' in client.get(f"/studies/{sid}/trials/0", headers=tokens["max"]).get_data(as_text=True)
    assert 'id="deploy"' not in client.get(f"/studies/{sid}/trials/0", headers=tokens["vic"]).get_data(as_text=True)
    r = client.post(f"/studies/{sid}/trials/0/deploy", data={"autoscale": "3-1"}, headers=tokens["max"])
    assert r.status_code == 422 and "autoscale" in r.get_data(as_text=True)
    predict = "/api/v1/deployments/digits/predict"
    assert client.post(predict, json={"inputs": [0]}, headers=tokens["vic"]).status_code == 503

    serve_env.start()
    row = _wait(lambda: (d := client.get("/api/v1/deployments/digits", headers=tokens["vic"]).json)
                ["status"] == "RUNNING" and d, 300, "the deployment to be served")
    assert row["input"]["shape"] == ["N", 1, 8, 8]

    # Predictions: through the API, by a viewer; the same outputs as the trial's model here.
    best = pick(store, SOURCE, "best")
    x = _data.load("cnn", "digits").x_val[:20]
    with torch.no_grad():
        expected = _finetune.restore("cnn", best.config, best.checkpoint).model(torch.from_numpy(x)).numpy()
    r = client.post(predict, json={"inputs": x.tolist()}, headers=tokens["vic"])
    assert r.status_code == 200, r.json
    np.testing.assert_allclose(np.asarray(r.json["outputs"]), expected, rtol=1e-4, atol=1e-5)
    assert r.json["predictions"] == expected.argmax(1).tolist() and r.json["trial"] == best.trial
    buf = io.BytesIO()
    np.savez(buf, X=x[:3])
    r = client.post(predict, data=buf.getvalue(), content_type="application/x-npz", headers=tokens["vic"])
    assert r.status_code == 200 and r.json["predictions"] == expected[:3].argmax(1).tolist()
    one = client.post(predict, json={"inputs": x[0].tolist()}, headers=tokens["vic"])
    assert one.status_code == 200 and one.json["predictions"] == expected[:1].argmax(1).tolist()

    # Refused at the door: no token; wrong shape, type or size, each named.
    assert client.post(predict, json={"inputs": x.tolist()}).status_code == 401
    r = client.post(predict, json={"inputs": x[:, 0].tolist()}, headers=tokens["vic"])
    assert r.status_code == 400 and "(N, 1, 8, 8)" in r.json["message"] and "(20, 8, 8)" in r.json["message"]
    r = client.post(predict, json={"inputs": [["a", "b"]]}, headers=tokens["vic"])
    assert r.status_code == 400 and "real numbers" in r.json["message"]
    r = client.post(predict, json={"inputs": np.zeros((1025, 1, 8, 8)).tolist()}, headers=tokens["vic"])
    assert r.status_code == 413 and "1024" in r.json["message"]
    r = client.post(predict, data=b"not a zip", content_type="application/x-npz", headers=tokens["vic"])
    assert r.status_code == 400 and ".npz" in r.json["message"]

    # Autoscaling between the declared bounds, as Serve reports it.
    state = _wait(lambda: store and (s := client.get("/api/v1/deployments/digits",
                                                     headers=tokens["vic"]).json["serve"]) and s, 60,
                  "Serve's state of the deployment")
    assert state["autoscaling"]["min_replicas"] == 1 and state["autoscaling"]["max_replicas"] == 2
    assert 1 <= state["running_replicas"] <= 2

    # Counted: /metrics and the listing (rate and latency).
    metrics = client.get("/metrics", headers=tokens["vic"]).get_data(as_text=True)
    ok = re.search(r'hpsearch_predictions_total\{code="200",deployment="digits"\} (\d+)', metrics)
    assert ok and int(ok.group(1)) >= 3
    assert 'hpsearch_prediction_seconds_count{deployment="digits"}' in metrics
    listed = client.get("/api/v1/deployments", headers=tokens["vic"]).json["items"]
    assert listed[0]["traffic"]["rate_per_s"] > 0 and listed[0]["traffic"]["p50_ms"] > 0
    assert "digits" in client.get("/deployments", headers=tokens["vic"]).get_data(as_text=True)

    # A dispatcher restart: its serving host (and that Ray) go; the new one serves it again.
    serve_env.stop()  # Serve's proxy and replica processes go a few seconds after their host
    _wait(lambda: client.post(predict, json={"inputs": x.tolist()},
                              headers=tokens["vic"]).status_code == 502, 60, "Serve to be gone")
    serve_env.start()
    _wait(lambda: client.post(predict, json={"inputs": x[:2].tolist()},
                              headers=tokens["vic"]).status_code == 200, 300, "serving after the restart")

    # A hung serving host (frozen: SIGSTOP) stops beating; its dispatcher kills it and starts
    # a fresh one, which serves the deployment again.
    hung = _serving_host(serve_env.proc)
    assert hung is not None
    os.kill(hung, signal.SIGSTOP)
    fresh = _wait(lambda: (pid := _serving_host(serve_env.proc)) not in (None, hung) and pid, 120,
                  "the dispatcher to replace the frozen serving host")
    assert not os.path.exists(f"/proc/{hung}")  # killed and reaped
    _wait(lambda: client.post(predict, json={"inputs": x[:2].tolist()},
                              headers=tokens["vic"]).status_code == 200, 300,
          "serving by the replacement host")
    assert _serving_host(serve_env.proc) == fresh

    # Undeploy: the creator or an admin, not another member.
    assert client.delete("/api/v1/deployments/digits", headers=tokens["bob"]).status_code == 403
    assert client.delete("/api/v1/deployments/digits", headers=tokens["max"]).status_code == 202
    _wait(lambda: client.get("/api/v1/deployments/digits", headers=tokens["vic"]).status_code == 404,
          300, "the deployment to be removed")
    assert client.post(predict, json={"inputs": x.tolist()}, headers=tokens["vic"]).status_code == 404
