"""Served mode without a trial boundary refuses members' studies; a trial user the service
cannot use stops it from starting (finding 1, the parts that need no Ray)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.security.conftest import SECRET, bearer

ROOT = Path(__file__).resolve().parents[2]
SPEC = {"name": "boundary", "trainable": "tests.security.allowlisted:train", "metric": "loss",
        "mode": "min", "space": {"x": {"uniform": [0.0, 4.0]}}, "budget": {"trials": 1}}


def test_where_trials_would_run_as_the_service_members_studies_are_refused(sec_url, sec_store,
                                                                           people, monkeypatch):
    from webui import create_app
    from webui.serve import member_studies

    monkeypatch.setenv("HPSEARCH_ALLOWED_MODULES", "tests.security.allowlisted")
    monkeypatch.delenv("HPSEARCH_TRIAL_USER", raising=False)
    monkeypatch.delenv("HPSEARCH_SINGLE_USER", raising=False)
    assert member_studies(True) == "refused" and member_studies(False) == "local"
    app = create_app({"TESTING": True, "DATABASE_URL": sec_url, "AUTH": True,
                      "SECRET_KEY": SECRET, "MEMBER_STUDIES": member_studies(True)})
    client = app.test_client()
    r = client.post("/api/v1/studies", json=SPEC, headers=bearer(people["max"]["token"]))
    assert r.status_code == 403 and "HPSEARCH_TRIAL_USER" in r.json["message"]
    r = client.post("/api/v1/studies", json=SPEC, headers=bearer(people["ada"]["token"]))
    assert r.status_code == 201  # the admin's own study (the operator's)
    monkeypatch.setenv("HPSEARCH_SINGLE_USER", "1")
    assert member_studies(True) == "single-user"
    monkeypatch.delenv("HPSEARCH_SINGLE_USER")
    monkeypatch.setenv("HPSEARCH_TRIAL_USER", "nobody")
    assert member_studies(True) == ("isolated" if os.geteuid() != 65534 else "refused")


def test_serve_refuses_a_trial_user_that_does_not_exist(tmp_path):
    env = {**os.environ, "HPSEARCH_HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "HPSEARCH_SECRET_KEY": SECRET, "HPSEARCH_TRIAL_USER": "no-such-user-hps",
           "HPSEARCH_DB": f"sqlite:///{tmp_path / 'x.db'}"}
    for command in (["serve", "--port", "1"], ["dispatcher", "--until-idle"]):
        r = subprocess.run([sys.executable, "-m", "hpsearch.cli", *command], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2 and "no OS user 'no-such-user-hps'" in r.stderr, r.stderr[-500:]
