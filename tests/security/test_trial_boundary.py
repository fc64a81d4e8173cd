"""Served mode: a hostile trial finds none of the service's secrets (finding 1).

The service is started as `hpsearch serve` with every secret in its environment, as an
operator would; the trial runs as HPSEARCH_TRIAL_USER and tries /proc/*/environ and
cmdlines, the SQLite file, the session-key file, the client token file, ~/.ray and its own
environment. The files live under a world-readable folder, so only the controls under test
(the trial user, the modes the service sets, a minimal environment) keep them from it.
"""
from __future__ import annotations

import ipaddress
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from hpsearch.spec import validate
from hpsearch.store import Store
from hpsearch.store.models import Result, TrialLog

ROOT = Path(__file__).resolve().parents[2]
TRIAL_USER = "hpsearch-trial"
KEY, TOKEN, PGPW = "K3y" + "s" * 45, "hps_" + "t0ken" * 8, "pg-pass-" + "w" * 20

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="creating the trial's OS user needs root (CI runs as root)")


def _trial_user() -> int:
    try:
        return pwd.getpwnam(TRIAL_USER).pw_uid
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        TRIAL_USER], check=True)
        return pwd.getpwnam(TRIAL_USER).pw_uid


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    return (getattr(addr, "ipv4_mapped", None) or addr).is_loopback


def _listening(root: int) -> dict[tuple, str]:
    """(address, port) -> process name of every listening socket in ``root``'s process tree
    except ``root`` itself (the web server, on its own --host)."""
    import psutil

    try:
        pids = {c.pid for c in psutil.Process(root).children(recursive=True)}
    except psutil.NoSuchProcess:
        return {}
    out = {}
    for c in psutil.net_connections(kind="inet"):
        if c.pid in pids and c.status == psutil.CONN_LISTEN:
            try:
                out[(c.laddr.ip, c.laddr.port)] = psutil.Process(c.pid).name()
            except psutil.NoSuchProcess:
                pass
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def python_for_everyone():
    """The trial user must be able to run the interpreter and read the installed packages (a
    deployment installs Python system-wide). Here pyenv may live under a 0700 /root: open
    the folders on the way for traversal (o+x only) during the test, and close them again.

    Tests on other pytest-xdist workers may need them at the same time (test_trial_oom.py):
    each holds a shared lock on one file while it runs, the modes to restore are kept in one
    file, and only the last one out (whose shared lock can become exclusive) closes the
    folders; a second lock file keeps these steps one at a time."""
    import fcntl
    import sysconfig

    base = Path(tempfile.gettempdir())
    saved = base / "hpsearch-tests-python-for-everyone.json"
    steps = open(base / "hpsearch-tests-python-for-everyone.steps", "a+")
    users = open(base / "hpsearch-tests-python-for-everyone.users", "a+")
    fcntl.flock(steps, fcntl.LOCK_EX)
    try:
        fcntl.flock(users, fcntl.LOCK_SH)
        opened = json.loads(saved.read_text()) if saved.exists() else {}
        for target in {os.path.realpath(sys.executable), sys.prefix, sys.base_prefix,
                       sysconfig.get_paths()["purelib"], str(ROOT)}:
            path = Path(target)
            for folder in [*reversed(path.parents), path] if path.is_dir() else reversed(
                    path.parents):
                mode = folder.stat().st_mode
                if not mode & 0o001:
                    folder.chmod(mode | 0o001)
                    opened.setdefault(str(folder), mode)
        saved.write_text(json.dumps(opened))
    finally:
        fcntl.flock(steps, fcntl.LOCK_UN)
    try:
        yield
    finally:
        fcntl.flock(steps, fcntl.LOCK_EX)
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another test still needs them: the last one out closes them
        else:
            opened = json.loads(saved.read_text()) if saved.exists() else {}
            for folder in sorted(opened, key=len, reverse=True):
                Path(folder).chmod(opened[folder])
            saved.unlink(missing_ok=True)
        finally:
            fcntl.flock(users, fcntl.LOCK_UN)
            fcntl.flock(steps, fcntl.LOCK_UN)
            users.close()
            steps.close()


@pytest.fixture
def site():
    base = Path(tempfile.mkdtemp(prefix="hps-boundary-"))
    base.chmod(0o755)  # traversable by everyone: the file modes alone must protect
    yield base
    shutil.rmtree(base, ignore_errors=True)


def test_a_hostile_trial_finds_none_of_the_services_secrets(site, monkeypatch, python_for_everyone):
    uid = _trial_user()
    home, hps = site / "home", site / "hps"
    home.mkdir(mode=0o755)
    key_file = site / "secret_key"
    key_file.write_text(KEY)
    key_file.chmod(0o600)  # as docs/security.md says
    client_config = site / "client.yaml"
    client_config.write_text(f"token: {TOKEN}\n")
    client_config.chmod(0o600)
    db_path = hps / "hpsearch.db"
    url = f"sqlite:///{db_path}"
    store = Store(url)
    from hpsearch.accounts import Accounts

    Accounts(store).add_user("ada", "correct horse battery staple")
    targets = [f"db={db_path}", f"db_wal={db_path}-wal", f"hps_home={hps}",
               f"secret_key={key_file}", f"token_file={client_config}",
               f"ray_dir={home / '.ray'}", f"ray_token={home / '.ray' / 'auth_token'}"]
    monkeypatch.setenv("HPSEARCH_ALLOWED_MODULES", "tests.security.hostile")  # the admin's list
    spec = validate({"name": "hostile", "trainable": "tests.security.hostile:probe",
                     "metric": "score", "mode": "max", "space": {"x": {"uniform": [0.0, 1.0]}},
                     "fixed": {"targets": targets}, "budget": {"trials": 1}},
                    allow_import=False)
    study = store.create_study(spec)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), HPSEARCH_HOME=str(hps), HPSEARCH_DB=url, PYTHONPATH=str(ROOT),
               HPSEARCH_SECRET_KEY=KEY, HPSEARCH_SECRET_KEY_FILE=str(key_file),
               HPSEARCH_TOKEN=TOKEN, PGPASSWORD=PGPW,
               DATABASE_URL=f"postgresql://hps:{PGPW}@db/hps",
               HPSEARCH_TRIAL_USER=TRIAL_USER, HPSEARCH_ALLOWED_MODULES="tests.security.hostile")
    # `hpsearch serve`: the web UI, a dispatcher it starts, a driver, a local Ray, the trial.
    proc = subprocess.Popen([sys.executable, "-m", "hpsearch.cli", "serve", "--port",
                             str(_free_port()), "--max-studies", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    listening: dict[tuple, str] = {}
    try:
        deadline = time.monotonic() + 400
        while store.get_study(study.id).status in ("QUEUED", "RUNNING"):
            assert proc.poll() is None and time.monotonic() < deadline, "serve ended or hung"
            listening.update(_listening(proc.pid))
            time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=60)[0]
    log = hps / "logs" / f"study-{study.id}.log"
    detail = out[-3000:] + (log.read_text()[-3000:] if log.exists() else "")
    row = store.get_study(study.id)
    assert row.status == "COMPLETED", (row.error, detail)
    # Finding 8 on the way: the driver's local Ray listened on loopback only, and its token
    # is private (test_local_ray.py checks the same where the suite does not run as root).
    assert "raylet" in listening.values(), listening
    exposed = {addr: name for addr, name in listening.items()
               if not _loopback(addr[0])}
    assert not exposed, exposed
    assert stat.S_IMODE((home / ".ray" / "auth_token").stat().st_mode) == 0o600
    with store.session() as s:
        metrics = s.scalars(select(Result.metrics)).one()
        trial_log = "".join(s.execute(select(TrialLog.head, TrialLog.tail)).one())
    store.dispose()
    # The trial's output reached its log (relayed by the Ray worker), with no secret in it.
    assert "hostile probe haul:" in trial_log
    for secret in (KEY, TOKEN, PGPW, url):
        assert secret not in trial_log
    haul = json.loads(metrics["haul"])
    text = metrics["haul"]
    # The probe ran, as the trial user, and could read what everyone may read...
    assert haul["uid"] == uid and haul["euid"] == uid and haul["groups"] == []
    assert haul["control"].startswith("ok:")
    # ...and found none of the service's secrets anywhere.
    ray_token = (home / ".ray" / "auth_token").read_text().strip()
    for secret in (KEY, TOKEN, PGPW, url, ray_token, "$argon2id$"):
        assert secret not in text, f"the trial found {secret[:12]}…"
    for name in ("db", "db_wal", "hps_home", "secret_key", "token_file", "ray_dir", "ray_token"):
        assert haul[name].startswith("denied:"), (name, haul[name][:80])
    leaked_env = {pid: found for pid, found in haul["environs"].items() if found != "readable"}
    assert not leaked_env, leaked_env
    assert not [k for k in haul["own_environ"] if k.startswith(("HPSEARCH_DB", "HPSEARCH_SECRET",
                                                                  "HPSEARCH_TOKEN", "PGPASSWORD",
                                                                  "DATABASE_URL", "RAY_AUTH"))]



def test_service_processes_are_not_dumpable(site, python_for_everyone):
    """Another process of the service's own OS user cannot read `serve`'s environment
    (PR_SET_DUMPABLE 0): run `serve` as an unprivileged user, then try as that user."""
    uid = _trial_user()
    gid = pwd.getpwuid(uid).pw_gid
    home = site / "svc"
    home.mkdir()
    os.chown(home, uid, gid)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), HPSEARCH_HOME=str(home / "hps"), PYTHONPATH=str(ROOT),
               HPSEARCH_SECRET_KEY=KEY, HPSEARCH_DB=f"sqlite:///{home / 'svc.db'}")
    env.pop("HPSEARCH_TRIAL_USER", None)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hpsearch.cli", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, user=uid, group=gid, extra_groups=[],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:  # up once it answers
            assert proc.poll() is None, proc.communicate()[0][-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.5)
        peek = subprocess.run([sys.executable, "-c", f"print(open('/proc/{proc.pid}/environ').read())"],
                              env={"PATH": "/usr/bin:/bin"}, user=uid, group=gid, extra_groups=[],
                              capture_output=True, text=True, timeout=60)
        assert KEY not in peek.stdout
        assert peek.returncode != 0 and "PermissionError" in peek.stderr, peek.stderr[-500:]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
