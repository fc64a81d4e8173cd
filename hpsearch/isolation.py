"""The trial boundary of served mode: trials run as another OS user, services hold secrets
only in memory.

In served mode (``hpsearch serve``, ``hpsearch dispatcher``) with ``HPSEARCH_TRIAL_USER``
set, each trial's training runs in a child process of its Ray worker that has switched to
that unprivileged user (``subprocess.Popen(user=, group=, extra_groups=[])``: no
supplementary groups, saved ids dropped too), with a fresh minimal environment, a private
working folder of its own and ``PR_SET_NO_NEW_PRIVS``; results and checkpoints come back
over a pipe (hpsearch/trial.py, hpsearch/trial_child.py). The service's processes make
their files private (umask 077), are not dumpable (``PR_SET_DUMPABLE 0``: no ptrace, no
``/proc/PID/environ`` for others), and hand the database URL and Ray's token to the
processes they start by a pipe or a 0600 file, never in the environment or argv.

Switching users needs root or the capabilities CAP_SETUID and CAP_SETGID (and CAP_KILL to
stop a runaway trial) in the Ray worker: see docs/security.md for each deployment.
"""
from __future__ import annotations

import ctypes
import os
import pwd
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

TRIAL_USER_ENV = "HPSEARCH_TRIAL_USER"     # the OS user trials run as in served mode
SINGLE_USER_ENV = "HPSEARCH_SINGLE_USER"   # "1": the operator says one person uses it
DB_FD_ENV = "HPSEARCH_DB_FD"               # a pipe holding the database URL, read once

# Never in a process the service starts (and never in a trial): the database URL, the
# session key, API tokens, PostgreSQL's password, Ray's token.
SECRET_ENV = ("HPSEARCH_DB", "HPSEARCH_SECRET_KEY", "HPSEARCH_SECRET_KEY_FILE", "HPSEARCH_TOKEN",
              "DATABASE_URL", "PGPASSWORD", "RAY_AUTH_TOKEN")

_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_PDEATHSIG = 1
_CAP_KILL, _CAP_SETGID, _CAP_SETUID = 5, 6, 7


@dataclass(frozen=True)
class TrialUser:
    """The OS account trials run as (resolved once, on the service's machine)."""

    name: str
    uid: int
    gid: int


class IsolationError(Exception):
    """The trial boundary cannot be set up as configured (the service refuses to start)."""


def _prctl(option: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def undumpable() -> bool:
    """Make this process non-dumpable: other processes of this user cannot ptrace it or read
    its ``/proc/PID/environ`` or memory, and it leaves no core file. True if it took."""
    return _prctl(_PR_SET_DUMPABLE, 0)


def no_new_privs() -> bool:
    """This process and its children can never gain privileges (setuid programs included)."""
    return _prctl(_PR_SET_NO_NEW_PRIVS, 1)


def die_with_parent(signal_number: int = 9) -> bool:
    return _prctl(_PR_SET_PDEATHSIG, signal_number)


def private_files() -> None:
    """What this service process creates is its own (databases, logs, Ray's session files)."""
    os.umask(0o077)


def configured_trial_user(environ=None) -> str | None:
    """``HPSEARCH_TRIAL_USER`` (from hpsearch.settings; ``environ``: a mapping to read instead)."""
    if environ is None:
        from hpsearch.settings import settings

        return settings().trial_user
    return (environ.get(TRIAL_USER_ENV) or "").strip() or None


def single_user(environ=None) -> bool:
    """``HPSEARCH_SINGLE_USER`` (from hpsearch.settings; ``environ``: a mapping to read instead)."""
    if environ is None:
        from hpsearch.settings import settings

        return settings().single_user
    return (environ.get(SINGLE_USER_ENV) or "").strip().lower() in ("1", "true", "yes")


def resolve(name: str) -> TrialUser:
    """The account ``name`` (IsolationError if it does not exist or is root)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise IsolationError(f"{TRIAL_USER_ENV}: no OS user {name!r}; create it with "
                             f"`useradd --system --no-create-home --shell /usr/sbin/nologin "
                             f"{name}` (docs/security.md)") from None
    if entry.pw_uid == 0:
        raise IsolationError(f"{TRIAL_USER_ENV}: {name!r} is root; trials need an unprivileged user")
    return TrialUser(name, entry.pw_uid, entry.pw_gid)


def _capabilities() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def can_switch() -> bool:
    """Whether this process may start children as another user (root, or CAP_SETUID+SETGID)."""
    caps = _capabilities()
    return os.geteuid() == 0 or bool(caps & (1 << _CAP_SETUID) and caps & (1 << _CAP_SETGID))


def trial_user(environ=None, *, local: bool = True) -> TrialUser | None:
    """The trial user of this served deployment, checked; None when trials run as the
    service's own user (not configured, or the same account).

    ``local``: trials run on this machine (a local Ray), so this process must be able to
    switch users; on a Ray cluster the Ray nodes switch (the user is looked up there again).
    """
    name = configured_trial_user(environ)
    if name is None:
        return None
    user = resolve(name)
    if user.uid == os.geteuid():
        return None
    if local and not can_switch():
        raise IsolationError(f"{TRIAL_USER_ENV}={name!r}, but this process (uid {os.geteuid()}) "
                             "may not start processes as another user: run the service as root, "
                             "or grant it CAP_SETUID, CAP_SETGID and CAP_KILL (docs/security.md)")
    return user


def clean_environ(environ=None) -> dict[str, str]:
    """The environment for a process the service starts: everything but the secrets."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if k not in SECRET_ENV}


def trial_environ(workdir: str | None = None) -> dict[str, str]:
    """A trial's whole environment: what Python and the accelerators need, nothing else."""
    keep = ("LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
            "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "HPSEARCH_DATA_ROOTS")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    env.update(PATH="/usr/local/bin:/usr/bin:/bin", PYTHONPATH=os.pathsep.join(paths),
               PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", HOME=workdir or "/nonexistent",
               TMPDIR=tempfile.gettempdir())
    env.setdefault("LANG", "C.UTF-8")
    return env


# -- handing a secret to a child process -----------------------------------------------
def secret_pipe(value: str) -> int:
    """A pipe's read end holding ``value`` (give it to the child with ``pass_fds``; close it
    here after the child started). Nothing is in the child's environment or argv."""
    data = value.encode()
    if len(data) > 60_000:  # a pipe holds 64 KiB without a reader
        raise ValueError("secret too long for a pipe")
    r, w = os.pipe()
    try:
        os.write(w, data)
    finally:
        os.close(w)
    os.set_inheritable(r, True)
    return r


def read_secret_fd(variable: str = DB_FD_ENV) -> str | None:
    """Read (once) the secret a parent handed over in the pipe named by ``variable``."""
    raw = os.environ.pop(variable, None)
    if not raw or not raw.isdigit():
        return None
    fd = int(raw)
    chunks = []
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode() or None


def full_db_url(url: str, environ=None) -> str:
    """The database URL with PostgreSQL's password in it when it came from ``PGPASSWORD``
    (the processes the service starts have no ``PGPASSWORD``)."""
    environ = os.environ if environ is None else environ
    password = environ.get("PGPASSWORD")
    if not password or not url.startswith("postgres"):
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.password:
        return url
    return parsed.set(password=password).render_as_string(hide_password=False)


def private_file(value: str, prefix: str) -> str:
    """``value`` in a new 0600 file in a new 0700 folder (for Ray's token: Ray reads a path)."""
    folder = tempfile.mkdtemp(prefix=prefix)  # 0700
    path = os.path.join(folder, "secret")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return path
