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
import urllib.error
import urllib.request
from pathlib import Path

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

    def stop(self, graceful: bool = True) -> None:
        if self.proc is None:
            return
        if graceful and self.proc.poll() is None:
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
    # A serving host silent for 10 s is replaced (the SIGSTOP step below; the default is 60),
    # and a Serve call unanswered for 10 s is given up (the frozen controller step; 20).
    env = {**os.environ, "HPSEARCH_SERVE_PORT": str(port), "HPSEARCH_SERVING_STALE_S": "10",
           "HPSEARCH_SERVE_CALL_TIMEOUT_S": "10"}
    d = Dispatchers(source_db, env)
    yield d
    d.stop(graceful=False)  # the test stops it gracefully itself; this only cleans up


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


def _serve_controller(host: int) -> int | None:
    """The pid of Ray Serve's controller actor in the serving host's Ray (its session)."""
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read().startswith(b"ray::ServeController") and os.getsid(int(entry)) == host:
                    return int(entry)
        except OSError:
            continue
    return None


def _stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


def _proxy_status(path: str) -> int:
    """What Serve's own HTTP proxy answers for ``path`` (no hpsearch in between)."""
    req = urllib.request.Request(f"http://127.0.0.1:{os.environ['HPSEARCH_SERVE_PORT']}{path}",
                                 data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _wait(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_deploy_cli_and_who_may_undeploy(source_db, capsys):
    """`hpsearch deploy / deployments / undeploy` write and read the rows the serving host
    serves (no Serve needed); bad fields exit 2 naming each; an admin may undeploy anyone's
    deployment, through the API. (Serving them: the next test.)"""
    from hpsearch import deployments as dep
    from hpsearch.accounts import Accounts
    from hpsearch.cli import main
    from webui import create_app

    store = Store(source_db)
    assert main(["deploy", SOURCE, "--name", "by-cli", "--autoscale", "1-3", "--owner", "mem",
                 "--db", source_db]) == 0
    assert "'by-cli'" in capsys.readouterr().out
    row = dep.get(store, "by-cli")
    assert (row.status, row.min_replicas, row.max_replicas, row.created_by) == ("PENDING", 1, 3, "mem")
    assert main(["deploy", SOURCE, "--name", "Bad!", "--replicas", "99", "--db", source_db]) == 2
    err = capsys.readouterr().err
    assert "name" in err and "replicas" in err and "[1, 16]" in err
    assert main(["deploy", SOURCE, "--name", "by-cli", "--db", source_db]) != 0  # taken
    capsys.readouterr()
    assert main(["deployments", "--db", source_db]) == 0
    listed = capsys.readouterr().out
    assert "by-cli" in listed and "PENDING" in listed and "1-3" in listed
    assert main(["undeploy", "by-cli", "--db", source_db]) == 0
    assert dep.get(store, "by-cli").status == "STOPPING"
    assert dep.remove_stopping(store) == ["by-cli"]  # what the serving host does with it

    accounts = Accounts(store)
    for user, role in [("adm", "admin"), ("mem", "member")]:
        accounts.add_user(user, PASSWORD, role)
    admin = {"Authorization": f"Bearer {accounts.create_token('adm', 'test')[1]}"}
    client = create_app({"TESTING": True, "DATABASE_URL": source_db, "AUTH": True,
                         "SECRET_KEY": "k" * 48}).test_client()
    dep.declare(store, SOURCE, name="mems", created_by="mem")
    assert client.delete("/api/v1/deployments/mems", headers=admin).status_code == 202
    assert dep.get(store, "mems").status == "STOPPING"
    assert dep.remove_stopping(store) == ["mems"]
    assert dep.all_(store) == []


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

    # A hung serving host (frozen: SIGSTOP) stops beating; its dispatcher kills it (with its
    # Ray) and starts a fresh one at once.
    hung = _serving_host(serve_env.proc)
    assert hung is not None
    os.kill(hung, signal.SIGSTOP)
    _wait(lambda: (pid := _serving_host(serve_env.proc)) not in (None, hung) and pid, 120,
          "the dispatcher to replace the frozen serving host")
    assert not os.path.exists(f"/proc/{hung}")  # killed and reaped

    # A dispatcher restart: its serving host (and that Ray) go; the new one serves it again,
    # as the replacement above would have (the same path: a fresh host, a RUNNING row whose
    # application its Ray does not have).
    serve_env.stop()  # Serve's proxy and replica processes go a few seconds after their host
    _wait(lambda: client.post(predict, json={"inputs": x.tolist()},
                              headers=tokens["vic"]).status_code == 502, 60, "Serve to be gone")
    log = Path(os.environ["HPSEARCH_HOME"]) / "logs" / "serving.log"  # every host's, appended

    def served() -> int:
        return log.read_text(errors="replace").count("hpsearch.serving: serving digits")

    served_before = served()
    serve_env.start()
    _wait(lambda: client.post(predict, json={"inputs": x[:2].tolist()},
                              headers=tokens["vic"]).status_code == 200, 300, "serving after the restart")

    # Undeploy: the creator or an admin, not another member. Serve's controller is frozen
    # (SIGSTOP) meanwhile: the undeploy does not wait on it, the same host removes the row,
    # and its log names the call Serve did not answer. Once the controller answers again,
    # the application goes too (Serve's own proxy stops routing it).
    _wait(lambda: served() > served_before, 120,
          "the new host's serve.run to return")  # Serve's proxy may answer before it does
    host = _serving_host(serve_env.proc)
    controller = _serve_controller(host)
    assert controller is not None and _proxy_status("/digits") != 404
    os.kill(controller, signal.SIGSTOP)
    try:
        assert client.delete("/api/v1/deployments/digits", headers=tokens["bob"]).status_code == 403
        assert client.delete("/api/v1/deployments/digits", headers=tokens["max"]).status_code == 202
        _wait(lambda: client.get("/api/v1/deployments/digits", headers=tokens["vic"]).status_code
              == 404, 60, "the deployment's row to be removed")
        assert _stopped(controller) and _serving_host(serve_env.proc) == host
        assert client.post(predict, json={"inputs": x.tolist()}, headers=tokens["vic"]).status_code == 404
        _wait(lambda: "Ray Serve's controller did not answer serve.status() within 10 s"
              in log.read_text(errors="replace"), 60, "the serving host to give up on the call")
    finally:
        os.kill(controller, signal.SIGCONT)
    _wait(lambda: _proxy_status("/digits") == 404, 120, "Serve to delete the application")


def test_undeployed_rows_go_without_serve(db_url):
    """An undeploy is SQL only: the serving host's main loop deletes STOPPING rows without a
    call to Serve (:func:`hpsearch.deployments.remove_stopping`); the others stay."""
    from hpsearch import deployments as dep
    from hpsearch.status import DeploymentStatus
    from hpsearch.store.models import Deployment

    store = Store(db_url, upgrade=True)
    with store.session(write=True) as s:
        for name in ("kept", "gone-1", "gone-2"):
            s.add(Deployment(name=name, study_name="s", trial_number=0, family="cnn",
                             model_path="", card={}, status=DeploymentStatus.RUNNING))
    assert dep.remove_stopping(store) == []
    dep.request_stop(store, "gone-1")
    dep.request_stop(store, "gone-2")
    assert sorted(dep.remove_stopping(store)) == ["gone-1", "gone-2"]
    assert [(r.name, r.status) for r in dep.all_(store)] == [("kept", DeploymentStatus.RUNNING)]
    dep.update(store, "gone-1", status=DeploymentStatus.RUNNING)  # a late write: no row back
    assert [r.name for r in dep.all_(store)] == ["kept"]
