"""The JSON-API client, `submit/cancel --server` and `hpsearch.submit(server=...)`.

Against a real web server process (no Ray needed: nothing is dispatched here),
and a raw socket server where the client's retries and headers are checked.
"""
from __future__ import annotations

import json
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

import hpsearch
from hpsearch.client import Client, ServerError, ServerUnreachable, resolve_server, resolve_token
from hpsearch.store import Store, StudyStatus
from tests.helpers import quad_spec
from tests.service.conftest import cli, free_port, service_env, wait_for


@pytest.fixture
def web(services, sqlite_url, home):
    return services.web(sqlite_url), Store(sqlite_url)


def _run(*args, env=None):
    return subprocess.run(cli(*args), env=env or service_env(), capture_output=True, text=True,
                          timeout=120)


def test_invalid_spec_exits_2_naming_the_field_and_writes_nothing(web, tmp_path):
    url, store = web
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(quad_spec("bad", budget={"trials": 0})))
    proc = _run("submit", str(path), "--server", url)
    assert proc.returncode == 2, proc.stderr
    assert "budget.trials" in proc.stderr and "Traceback" not in proc.stderr
    path.write_text(yaml.safe_dump(quad_spec("bad", trainable="os:system")))
    proc = _run("submit", str(path), "--server", url)
    assert proc.returncode == 2 and "trainable" in proc.stderr and "os:system" in proc.stderr
    assert store.list_studies() == []


def test_queue_returns_at_once_and_cancel_over_the_api(web, tmp_path):
    url, store = web
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(quad_spec("queued")))
    env = service_env({"HPSEARCH_SERVER": url})  # the server from the environment
    proc = _run("submit", str(path), env=env)
    assert proc.returncode == 0, proc.stderr
    sid = int(proc.stdout.split()[2])
    assert store.get_study(sid).status == StudyStatus.QUEUED  # no dispatcher: it waits
    proc = _run("cancel", "queued", "--server", url)  # by name
    assert proc.returncode == 0 and "cancelled" in proc.stdout, proc.stderr
    assert store.get_study(sid).status == StudyStatus.CANCELLED
    proc = _run("cancel", "queued", "--server", url)  # already finished: a 409
    assert proc.returncode == 1 and "409" in proc.stderr and "CANCELLED" in proc.stderr
    proc = _run("cancel", "no-such-study", "--server", url)
    assert proc.returncode == 1 and "no study 'no-such-study'" in proc.stderr

    # --wait follows the study to its end (here: cancelled from elsewhere).
    path.write_text(yaml.safe_dump(quad_spec("followed")))
    follower = subprocess.Popen(cli("submit", str(path), "--server", url, "--wait"),
                                env=service_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    wait_for(lambda: store.list_studies(status=StudyStatus.QUEUED), 60, "the queued study")
    Client(url).cancel("followed")
    out, err = follower.communicate(timeout=60)
    assert follower.returncode == 1, err  # it did not complete
    assert "queued study" in out and "CANCELLED" in out


def test_wait_says_what_a_running_study_waits_for(web, tmp_path):
    """``submit --server --wait`` prints what the trials wait for when no node of the
    cluster can run one (the driver's NodeWatch writes it in the study's row; written here
    as it would), and follows the study on to its end."""
    from hpsearch.pool import waiting_text

    url, store = web
    path, log = tmp_path / "stuck.yaml", tmp_path / "follower.out"
    path.write_text(yaml.safe_dump(quad_spec("stuck")))
    with open(log, "w") as out:
        follower = subprocess.Popen(cli("submit", str(path), "--server", url, "--wait"),
                                    env=service_env(), stdout=out, stderr=subprocess.STDOUT,
                                    text=True)
    try:
        sid = wait_for(lambda: store.list_studies(status=StudyStatus.QUEUED), 60,
                       "the queued study")[0].id
        store.set_study_status(sid, StudyStatus.RUNNING)  # as a dispatcher's driver does
        text = waiting_text([("resources.gpu", "1 per trial, but no node of this Ray has that "
                                               "much GPU (the most: 0)")])
        store.set_waiting(sid, text)
        wait_for(lambda: f"waiting: {text}" in log.read_text(), 30, "the follower to say it")
        store.set_waiting(sid, None)
        store.set_study_status(sid, StudyStatus.COMPLETED, end_reason="all 6 trials of its "
                                                                      "budget ran")
        assert follower.wait(60) == 0, log.read_text()
    finally:
        if follower.poll() is None:
            follower.kill()
    out = log.read_text()
    assert out.count("waiting: ") == 1 and "ended: all 6 trials" in out, out


def test_python_api_handle(web):
    url, store = web
    handle = hpsearch.submit(quad_spec("from-python"), server=url)
    assert handle.id == store.get_study("from-python").id and handle.status == StudyStatus.QUEUED
    with pytest.raises(TimeoutError):
        handle.wait(timeout=0.5, poll=0.2)
    assert handle.cancel()["cancelled"]
    assert handle.wait(timeout=10).status == StudyStatus.CANCELLED
    # A retried POST with the same key gets the same study, not a second one.
    client = Client(url)
    first = client.request("POST", "/studies", quad_spec("once"), idempotency_key="k-1")
    again = client.request("POST", "/studies", quad_spec("once"), idempotency_key="k-1")
    assert first["id"] == again["id"] and len(store.list_studies()) == 2


def test_unreachable_server_is_named(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump(quad_spec("nowhere")))
    proc = _run("submit", str(path), "--server", url)
    assert proc.returncode == 1
    assert f"cannot reach the hpsearch server at {url}" in proc.stderr
    assert "Traceback" not in proc.stderr
    with pytest.raises(ServerUnreachable):
        Client(url, retries=0).study(1)
    with pytest.raises(ServerError, match="http:// or https://"):
        Client("ftp://example.org")


class _Flaky(BaseHTTPRequestHandler):
    """Drops the first POST without an answer, then accepts; records what it was sent."""

    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Flaky.seen.append({"key": self.headers.get("Idempotency-Key"),
                            "auth": self.headers.get("Authorization"), "body": json.loads(body)})
        if len(_Flaky.seen) == 1:
            self.close_connection = True
            return  # no response: the client sees the connection drop
        out = json.dumps({"id": 7, "name": "x", "status": "QUEUED"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def test_post_is_retried_with_the_same_key_and_sends_the_token(home, monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Flaky.seen = []
    try:
        (home / "config.yaml").parent.mkdir(parents=True, exist_ok=True)
        (home / "config.yaml").write_text(yaml.safe_dump(
            {"server": f"http://127.0.0.1:{server.server_port}", "token": "tok-1"}))
        monkeypatch.delenv("HPSEARCH_SERVER", raising=False)
        monkeypatch.delenv("HPSEARCH_TOKEN", raising=False)
        assert resolve_token() == "tok-1"
        study = Client(backoff=0.05).submit({"name": "x"})  # server and token from the file
        assert study.id == 7
    finally:
        server.shutdown()
    assert len(_Flaky.seen) == 2
    assert _Flaky.seen[0]["key"] and _Flaky.seen[0]["key"] == _Flaky.seen[1]["key"]
    assert all(s["auth"] == "Bearer tok-1" for s in _Flaky.seen)
    monkeypatch.setenv("HPSEARCH_SERVER", "http://other:1")
    monkeypatch.setenv("HPSEARCH_TOKEN", "tok-2")
    assert resolve_server() == "http://other:1" and resolve_token() == "tok-2"
    assert resolve_server("http://given:2") == "http://given:2"
