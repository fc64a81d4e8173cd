"""Trial logs: stdout, stderr and logging captured from real trials, bounded, shown on the
trial page (a failed trial's traceback once, its last lines beside), served by the API and
`hpsearch logs`, readable by the roles that read the study, free of the service's secrets."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hpsearch.orchestration import run_study
from hpsearch.store import Store
from hpsearch.store.outputs import trial_log
from hpsearch.trial import SECRET_ENV
from tests.live_server import LiveServer
from tests.outputs.conftest import spec, web_app

ROOT = Path(__file__).resolve().parents[2]
FLOOD = 100_000


@pytest.fixture(scope="module")
def ran(ray_session, outputs_env):
    st = outputs_env.store
    ok = run_study(spec("chatty", "tests.outputs.trainables:chatty", flood=FLOOD), store=st,
                   progress=False)
    bad = run_study(spec("chatty-fails", "tests.outputs.trainables:chatty", fail=True), store=st,
                    progress=False)
    return SimpleNamespace(env=outputs_env, store=st, ok=ok, bad=bad,
                           ok_trial=st.get_trial(ok.id, 0), bad_trial=st.get_trial(bad.id, 0))


def test_stdout_stderr_and_logging_are_captured_within_the_cap(ran):
    log = trial_log(ran.store, ran.ok_trial.id)
    text = log.text()
    assert text.startswith("hello from stdout x=")
    assert "a line on stderr\n" in text
    assert " INFO user.trainable: an info record from logging\n" in text
    # Everything printed is counted; the middle of the flood was cut, the end kept.
    assert log.total > FLOOD and log.cut > FLOOD - 20000
    assert len(log.head) + len(log.tail) <= 20000
    assert f"[... {log.cut:,} characters cut ...]" in text
    assert text.rstrip().endswith("the last line before the end")
    assert "000000000 xxx" in text or "ENV " in log.head  # the head is the start


def test_the_log_holds_no_secret_of_the_service(ran):
    env_line = next(ln for ln in trial_log(ran.store, ran.ok_trial.id).head.splitlines()
                    if ln.startswith("ENV "))
    names = {kv.split("=", 1)[0] for kv in env_line[4:].split(" ") if "=" in kv}
    assert "PATH" in names  # the trial did print its environment...
    assert not names & set(SECRET_ENV)  # ...without the database URL, keys or tokens


def test_failed_trial_page_shows_the_traceback_once_and_the_log_beside(ran):
    assert ran.bad_trial.status == "ERROR" and "chatty failed on purpose" in ran.bad_trial.error
    html = web_app(ran.env.url).test_client().get(
        f"/studies/{ran.bad.id}/trials/0").get_data(as_text=True)
    # The traceback once: not in the status history, not in the log (which ends before it).
    assert html.count(", in chatty\n") == 1, html
    beside = html.split('id="error-log-tail">', 1)[1].split("</pre>", 1)[0]
    assert "the last line before the end" in beside and "hello from stdout" in beside


def test_log_api_reads_incrementally_and_downloads(ran):
    client = web_app(ran.env.url).test_client()
    url = f"/api/v1/studies/{ran.ok.id}/trials/0/log"
    whole = client.get(url).json
    assert whole["live"] is False and whole["status"] == "COMPLETED"
    assert whole["end"] == whole["total"] and whole["cut"] > 0
    part = client.get(f"{url}?after={whole['end'] - 29}").json
    assert part["text"] == "the last line before the end\n"
    assert client.get(f"{url}?after={whole['end']}").json["text"] == ""
    r = client.get(f"/studies/{ran.ok.id}/trials/0/log.txt")
    assert r.mimetype == "text/plain" and "attachment" in r.headers["Content-Disposition"]
    assert r.get_data(as_text=True) == whole["text"]
    bad = client.get(f"{url}?after=-3")
    assert bad.status_code == 400 and "after" in bad.json["message"]
    assert client.get(f"/api/v1/studies/{ran.ok.id}/trials/7/log").status_code == 404


def test_logs_command_prints_the_log(ran):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "hpsearch.cli", "logs", "--db", ran.env.url,
                        "chatty-fails", "0", "--follow"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("hello from stdout") and "the last line before the end" in r.stdout
    r = subprocess.run([sys.executable, "-m", "hpsearch.cli", "logs", "--db", ran.env.url,
                        "chatty-fails", "9"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and "no trial 9" in r.stderr and "Traceback" not in r.stderr


def test_logs_are_read_by_the_roles_that_read_the_study(ran):
    from hpsearch.accounts import Accounts

    accounts = Accounts(ran.store)
    accounts.add_user("ada-logs", "correct horse battery staple", role="admin")
    accounts.add_user("vic-logs", "correct horse battery staple", role="viewer")
    _, token = accounts.create_token("vic-logs", "t")
    app = web_app(ran.env.url, AUTH=True, SECRET_KEY="k" * 48)
    client = app.test_client()
    for url in [f"/api/v1/studies/{ran.ok.id}/trials/0/log", f"/studies/{ran.ok.id}/trials/0/log.txt"]:
        anonymous = client.get(url)
        assert anonymous.status_code in (302, 401), url
        assert "hello from stdout" not in anonymous.get_data(as_text=True)
        r = client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and "hello from stdout" in r.get_data(as_text=True)
    wrong = client.get(f"/api/v1/studies/{ran.ok.id}/trials/0/log",
                       headers={"Authorization": "Bearer hps_not_a_token"})
    assert wrong.status_code == 401


def test_logs_on_postgresql(ray_session, pg_url, outputs_env):
    store = Store(pg_url)
    try:
        row = run_study(spec("chatty-pg", "tests.outputs.trainables:chatty", flood=FLOOD),
                        store=store, progress=False)
        log = trial_log(store, store.get_trial(row.id, 0).id)
        assert log.text().startswith("hello from stdout") and log.cut > 0
        assert log.text().rstrip().endswith("the last line before the end")
    finally:
        store.dispose()


def test_logs_command_reads_from_a_service_with_a_token(ran):
    from hpsearch.accounts import Accounts

    accounts = Accounts(ran.store)
    if accounts.count_users() == 0:
        accounts.add_user("ada-cli", "correct horse battery staple", role="admin")
    accounts.add_user("vic-cli", "correct horse battery staple", role="viewer")
    _, token = accounts.create_token("vic-cli", "cli")
    server = LiveServer(web_app(ran.env.url, AUTH=True, SECRET_KEY="k" * 48), threads=2)
    base = server.url
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HPSEARCH_TOKEN": token}
    try:
        r = subprocess.run([sys.executable, "-m", "hpsearch.cli", "logs", "--server", base,
                            "chatty", "0"], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("hello from stdout") and "characters cut" in r.stdout
        env.pop("HPSEARCH_TOKEN")
        r = subprocess.run([sys.executable, "-m", "hpsearch.cli", "logs", "--server", base,
                            "chatty", "0"], cwd=ROOT, env={**env, "HPSEARCH_HOME": str(ran.env.tmp)},
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "401" in r.stderr and "hello" not in r.stdout
    finally:
        server.stop()
