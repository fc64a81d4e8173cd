"""Least privilege: a real trial does not see the database URL, the session key or tokens."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import select

from hpsearch.store import Store
from hpsearch.store.models import Result
from tests.security.probe import SECRETS

ROOT = Path(__file__).resolve().parents[2]


def test_a_trial_sees_no_secrets(tmp_path):
    db = f"sqlite:///{tmp_path / 'env.db'}"
    spec = {"name": "env-probe", "trainable": "tests.security.probe:env_probe",
            "metric": "leaked", "mode": "min", "space": {"x": {"uniform": [0.0, 1.0]}},
            "budget": {"trials": 1}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    env = {**os.environ, "HPSEARCH_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT),
           "HPSEARCH_DB": db, "DATABASE_URL": "postgresql://u:pw@db/x", "PGPASSWORD": "pw",
           "HPSEARCH_SECRET_KEY": "k" * 48, "HPSEARCH_SECRET_KEY_FILE": "/run/secrets/key",
           "HPSEARCH_TOKEN": "hps_secret", "HPSEARCH_CANARY": "1"}
    r = subprocess.run([sys.executable, "-m", "hpsearch.cli", "submit", str(tmp_path / "spec.yaml"),
                        "--no-progress", "--ray-address", "local"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    store = Store(db)
    with store.session() as s:
        metrics = s.scalars(select(Result.metrics)).one()
    store.dispose()
    assert metrics["canary"] == 1.0  # the environment did reach the trial...
    assert metrics["leaked"] == 0.0, metrics["names"]  # ...but not its secrets
    assert len(SECRETS) == 6
