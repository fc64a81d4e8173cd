"""Safe serving, through the real CLI in a subprocess: refusals exit 2 with a clear message."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webui.serve import ServeError, check_serving, served_config

ROOT = Path(__file__).resolve().parents[2]


def _cli(args: list[str], tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("HPSEARCH_SECRET_KEY", "HPSEARCH_SECRET_KEY_FILE", "HPSEARCH_DB")}
    clean.update(HPSEARCH_HOME=str(tmp_path / "home"), **env)
    return subprocess.run([sys.executable, "-m", "hpsearch.cli", *args,
                           "--db", f"sqlite:///{tmp_path / 'serve.db'}"],
                          cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120)


def test_a_non_loopback_bind_with_auth_off_refuses_to_start(tmp_path):
    r = _cli(["ui", "--host", "0.0.0.0", "--port", "1", "--no-auth"], tmp_path)
    assert r.returncode == 2, r.stderr
    assert "refusing to listen on '0.0.0.0' with authentication off" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_served_start_without_a_session_key_refuses_to_start(tmp_path):
    r = _cli(["ui", "--host", "0.0.0.0", "--port", "1"], tmp_path)
    assert r.returncode == 2, r.stderr
    assert "refusing to start without a session key" in r.stderr
    key_file = tmp_path / "missing-key"
    r = _cli(["ui", "--host", "10.0.0.1", "--port", "1"], tmp_path,
             HPSEARCH_SECRET_KEY_FILE=str(key_file))
    assert r.returncode == 2 and "cannot read HPSEARCH_SECRET_KEY_FILE" in r.stderr


def test_hpsearch_serve_without_a_session_key_refuses_to_start(tmp_path):
    r = _cli(["serve", "--port", "1"], tmp_path)
    if "invalid choice: 'serve'" in r.stderr:
        pytest.skip("hpsearch serve is not registered in this checkout")
    assert r.returncode == 2, r.stderr
    assert "refusing to start without a session key" in r.stderr


def test_serving_rules():
    key = "s" * 48
    check_serving("127.0.0.1", False, None)                  # the laptop: zero config
    check_serving("0.0.0.0", True, key)
    with pytest.raises(ServeError, match="authentication off"):
        check_serving("192.168.1.5", False, key)
    with pytest.raises(ServeError, match="served mode always requires login"):
        check_serving("127.0.0.1", False, key, served=True)
    with pytest.raises(ServeError, match="session key"):
        check_serving("127.0.0.1", True, None, served=True)
    with pytest.raises(ServeError, match="too short"):
        check_serving("0.0.0.0", True, "short")


def test_served_config_turns_auth_on_and_the_debugger_off(tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    monkeypatch.delenv("HPSEARCH_SECRET_KEY", raising=False)
    monkeypatch.delenv("HPSEARCH_SECRET_KEY_FILE", raising=False)
    assert served_config(db, "127.0.0.1")["AUTH"] is False   # no users, loopback
    (tmp_path / "key").write_text("f" * 40 + "\n")
    monkeypatch.setenv("HPSEARCH_SECRET_KEY_FILE", str(tmp_path / "key"))
    config = served_config(db, "0.0.0.0")
    assert config["AUTH"] is True and config["SECRET_KEY"] == "f" * 40
    assert config["DEBUG"] is False and config["PROPAGATE_EXCEPTIONS"] is False
    from hpsearch.accounts import Accounts
    from hpsearch.store import Store

    Accounts(Store(db)).add_user("ada", "correct horse battery")
    assert served_config(db, "127.0.0.1")["AUTH"] is True     # users exist: login on
