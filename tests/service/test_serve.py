"""`hpsearch serve`: the web UI and a dispatcher in one command, stopped cleanly by SIGTERM.

A study submitted with an API token runs on the test Ray cluster; /metrics then
shows it, with the result write latency its driver recorded.
"""
from __future__ import annotations

import os
import secrets
import signal
import subprocess
import urllib.error
import urllib.request

import pytest

from hpsearch.client import Client, ServerError
from hpsearch.store import StudyStatus
from tests.helpers import quad_spec
from tests.service.conftest import cli, events, free_port, service_env, wait_for, wait_http

pytestmark = pytest.mark.slow


def _metrics(url: str, token: str | None) -> str:
    req = urllib.request.Request(url + "/metrics")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read().decode()


def _value(text: str, prefix: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(prefix))


def test_serve_runs_a_study_reports_metrics_and_stops_on_sigterm(ray_cluster, services,
                                                                 sqlite_url, home, tmp_path, monkeypatch):
    env = service_env({**ray_cluster.env, "HPSEARCH_SECRET_KEY": secrets.token_urlsafe(48)})
    monkeypatch.delenv("HPSEARCH_TOKEN", raising=False)
    add = subprocess.run(cli("user", "add", "ada", "--role", "admin", "--password-stdin",
                             "--db", sqlite_url), input="a long enough password 123\n",
                         env=env, capture_output=True, text=True, timeout=60)
    assert add.returncode == 0, add.stderr
    made = subprocess.run(cli("token", "create", "ada", "--db", sqlite_url), env=env,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[0]

    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = services.track(subprocess.Popen(
            cli("serve", "--db", sqlite_url, "--port", str(port), "--ray-address",
                ray_cluster.address, "--log-format", "json"),
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/api/v1/health", serve, log)

    with pytest.raises(ServerError, match="HPSEARCH_TOKEN") as refused:
        Client(url, token=None).submit(quad_spec("anonymous"))  # login is on: no token, no study
    assert refused.value.status == 401 and refused.value.exit_code == 1
    study = Client(url, token=token).submit(quad_spec(
        "served", trainable="tests.helpers:noop", fixed={}, budget={"trials": 2}))
    assert study.wait(timeout=150, poll=1).status == StudyStatus.COMPLETED

    try:
        anonymous = _metrics(url, None)  # sent to the login page
    except urllib.error.HTTPError as exc:
        anonymous = str(exc.code)
    assert "hpsearch_studies" not in anonymous  # no token, no metrics
    text = _metrics(url, token)
    assert _value(text, 'hpsearch_studies{status="COMPLETED"}') == 1
    assert _value(text, 'hpsearch_studies{status="QUEUED"}') == 0
    assert _value(text, 'hpsearch_trial_duration_seconds_count{status="COMPLETED"}') == 2
    assert _value(text, "hpsearch_result_write_seconds_count") > 0  # from the driver process

    dispatcher = events(log, "dispatcher.start")[0]["pid"]
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(60) == 0
    wait_for(lambda: not os.path.exists(f"/proc/{dispatcher}"), 30, "the dispatcher to exit")
    assert events(log, "dispatcher.stop")
