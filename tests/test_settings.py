"""One settings module: every HPSEARCH_* variable declared, documented and read in one
place; a setting that cannot be used is one line naming it (exit 2), never a traceback."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hpsearch import settings as settings_mod
from hpsearch.exceptions import ConfigError
from hpsearch.store import Store

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\bHPSEARCH_[A-Z0-9_]*[A-Z0-9]\b")
PACKAGES = ("hpsearch", "webui", "searchers", "trainables", "migrations")
# A read of the environment that names a variable (os.environ.get("X"), os.environ["X"], getenv).
READ = re.compile(r"""(?:environ\.get|getenv)\(\s*["'](HPSEARCH_\w+)|environ\[\s*["'](HPSEARCH_\w+)["']\s*\]""")


def _sources(dirs) -> list[Path]:
    return [p for d in dirs for p in (ROOT / d).rglob("*.py") if ".venv" not in p.parts]


def test_every_variable_in_the_code_is_declared_and_documented_and_the_reverse():
    used = {m for p in _sources((*PACKAGES, "tests", "benchmarks"))
            for m in NAME.findall(p.read_text(encoding="utf-8"))}
    declared = set(settings_mod.NAMES)
    # a prefix of declared names (k.startswith("HPSEARCH_SECRET")) is not a variable
    used = {u for u in used if u in declared or not any(d.startswith(u) for d in declared)}
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    documented = set(NAME.findall(doc))
    assert used <= declared, f"read but not declared in hpsearch/settings.py: {sorted(used - declared)}"
    assert documented == declared, (f"undocumented: {sorted(declared - documented)}; "
                                    f"documented but unknown: {sorted(documented - declared)}")
    assert settings_mod.markdown() in doc, "docs/configuration.md: regenerate the tables " \
                                           "with `python -m hpsearch.settings`"


def test_only_the_settings_module_reads_them():
    readers = {}
    for path in _sources(PACKAGES):
        if path.name == "settings.py" and path.parent.name == "hpsearch":
            continue
        found = [a or b for a, b in READ.findall(path.read_text(encoding="utf-8"))]
        if found:
            readers[str(path.relative_to(ROOT))] = found
    assert readers == {}, f"read HPSEARCH_* through hpsearch.settings instead: {readers}"


def test_settings_follow_the_environment_and_name_a_bad_value(monkeypatch, tmp_path):
    monkeypatch.setenv("HPSEARCH_HOME", str(tmp_path))
    monkeypatch.delenv("HPSEARCH_DB", raising=False)
    s = settings_mod.settings()
    assert s.home == tmp_path and s.db == f"sqlite:///{tmp_path / 'hpsearch.db'}"
    assert settings_mod.settings() is s  # read once while the environment stays the same
    monkeypatch.setenv("HPSEARCH_HEARTBEAT_S", "0.5")
    assert settings_mod.settings().heartbeat_s == 0.5
    monkeypatch.setenv("HPSEARCH_HEARTBEAT_S", "fast")
    with pytest.raises(ConfigError, match="HPSEARCH_HEARTBEAT_S: .*'fast'"):
        settings_mod.settings()
    monkeypatch.setenv("HPSEARCH_HEARTBEAT_S", "1")
    monkeypatch.setenv("HPSEARCH_TOKEN", "hps_secret")
    monkeypatch.setenv("HPSEARCH_DB", "postgresql://u:pw@h/db")
    assert "hps_secret" not in repr(settings_mod.settings()) and "pw" not in repr(settings_mod.settings())


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "HPSEARCH_DB"}
    return subprocess.run([sys.executable, "-m", "hpsearch.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**environ, **env}, timeout=120)


def _one_line_error(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_postgresql_url_without_a_driver_uses_the_installed_one(pg_url):
    plain = re.sub(r"^postgresql\+\w+://", "postgresql://", pg_url)
    assert plain != pg_url
    store = Store(plain)  # SQLAlchemy alone would import psycopg (3), which is not installed
    assert store.engine.dialect.driver == "psycopg2" and store.list_studies() == []
    r = cli("list", "--db", plain)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    r = cli("list", HPSEARCH_DB=plain.replace("postgresql://", "postgres://"))
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("url, words", [
    ("nonsense", ["--db or HPSEARCH_DB", "not a database URL"]),
    ("mysql://u@h/db", ["--db or HPSEARCH_DB", "MySQLdb"]),
    ("warp://u:secret@h/db", ["--db or HPSEARCH_DB", "warp"]),
    ("sqlite:////proc/1/hpsearch/x.db", ["--db or HPSEARCH_DB", "cannot create"]),
])
def test_a_database_url_that_cannot_be_used_is_one_line(url, words, tmp_path):
    # `db upgrade` creates a database where none is (`list` refuses a missing file at once)
    for r in (cli("db", "upgrade", "--db", url), cli("db", "upgrade", HPSEARCH_DB=url)):
        _one_line_error(r, *words)
        assert "secret" not in r.stderr


def test_service_settings_that_cannot_be_used_are_one_line(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    key = "k" * 40
    _one_line_error(cli("serve", "--db", db, HPSEARCH_SECRET_KEY=key,
                        HPSEARCH_DATA_ROOTS=str(tmp_path / "missing")),
                    "HPSEARCH_DATA_ROOTS", "missing")
    _one_line_error(cli("serve", "--db", db, HPSEARCH_SECRET_KEY_FILE=str(tmp_path / "no-key")),
                    "HPSEARCH_SECRET_KEY_FILE")
    _one_line_error(cli("list", "--db", db, HPSEARCH_TRIAL_GRACE_S="-1"),
                    "HPSEARCH_TRIAL_GRACE_S", "'-1'")


def test_an_hpsearch_variable_that_is_not_a_setting_is_named_not_ignored(tmp_path):
    """A misspelt variable (..._DB_URL for HPSEARCH_DB) was silently ignored: the CLI then
    read the embedded SQLite and listed nothing. It still runs (a newer version's variable
    is no error), with one warning per unknown variable naming the nearest one. (The
    misspelt names are built, so that the declared-variables test does not read them.)"""
    p = "HPSEARCH" + "_"
    home = str(tmp_path / "home")
    r = cli("list", HPSEARCH_HOME=home, **{p + "DB_URL": "postgresql://elsewhere/db",
                                           p + "RAY_ADRESS": "ray://x:10001", p + "ZZZ": "1"})
    assert r.returncode == 0, r.stderr
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("warning: ")]
    assert warnings == [
        f"warning: {p}DB_URL is not an hpsearch setting, so it is ignored "
        "(did you mean HPSEARCH_DB?)",
        f"warning: {p}RAY_ADRESS is not an hpsearch setting, so it is ignored "
        "(did you mean HPSEARCH_RAY_ADDRESS?)",
        f"warning: {p}ZZZ is not an hpsearch setting, so it is ignored "
        "(docs/configuration.md lists them)"], r.stderr
    assert cli("list", HPSEARCH_HOME=home).stderr == ""
