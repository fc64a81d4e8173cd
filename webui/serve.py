"""Serve the web UI under waitress (``hpsearch ui``; ``hpsearch serve`` uses the same checks).

Safe serving rules (docs/security.md):

- the default address is 127.0.0.1;
- authentication off is allowed on a loopback address only, and never in served mode;
- with authentication on, the session key comes from ``HPSEARCH_SECRET_KEY`` or the
  file named by ``HPSEARCH_SECRET_KEY_FILE``; served mode (and any non-loopback
  address) refuses to start without one. A loopback ``hpsearch ui`` with users
  and no key uses a random key for this process (sessions end at restart);
- the Werkzeug debugger is never on: waitress serves the app with ``DEBUG`` off.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
import sys

from hpsearch.exceptions import HpsearchError
from hpsearch.settings import settings

LOOPBACK_NAMES = {"localhost"}
MIN_SECRET_KEY = 32


class ServeError(HpsearchError):
    """The service refuses to start as configured (exit 2)."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load_secret_key() -> str | None:
    """The session key from ``HPSEARCH_SECRET_KEY`` or ``HPSEARCH_SECRET_KEY_FILE``."""
    path = settings().secret_key_file
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                if os.fstat(f.fileno()).st_mode & 0o004:
                    print(f"warning: HPSEARCH_SECRET_KEY_FILE {path!r} is readable by every local "
                          "user (a trial's user included): chmod 600 it", file=sys.stderr)
                return f.read().strip() or None
        except OSError as exc:
            raise ServeError(f"cannot read HPSEARCH_SECRET_KEY_FILE {path!r}: {exc.strerror}") from None
    return settings().secret_key


def trusted_proxies() -> int:
    """How many reverse proxies stand in front of the service (``HPSEARCH_TRUSTED_PROXIES``)."""
    raw = settings().trusted_proxies
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 10:
        raise ServeError(f"HPSEARCH_TRUSTED_PROXIES must be a number of proxies from 0 to 10, "
                         f"got {raw[:20]!r}")
    return int(raw)


def member_studies(shared: bool, environ=None) -> str:
    """Whether members may submit studies here: ``"isolated"`` (trials run as the trial
    user), ``"single-user"`` (the operator's declaration), ``"local"`` (a loopback UI), or
    ``"refused"`` (trials would run as the service's own user, with its secrets)."""
    from hpsearch import isolation

    if not shared:
        return "local"
    name = isolation.configured_trial_user(environ)
    if name is not None:
        try:
            user = isolation.resolve(name)
        except isolation.IsolationError as exc:
            raise ServeError(str(exc)) from None
        if user.uid != os.geteuid():
            return "isolated"
    return "single-user" if isolation.single_user(environ) else "refused"


def check_serving(host: str, auth: bool, secret_key: str | None, *, served: bool = False) -> None:
    """Refuse an unsafe configuration with a ServeError that names the fix.

    ``served`` is the service mode (``hpsearch serve``, deployments): it always
    needs authentication and a session key.
    """
    if not auth:
        if served:
            raise ServeError("refusing to serve with authentication off: served mode always "
                             "requires login (remove --no-auth)")
        if not is_loopback(host):
            raise ServeError(f"refusing to listen on {host!r} with authentication off: anyone who "
                             "reaches it could run code on your cluster; use 127.0.0.1, or turn "
                             "authentication on (create an admin with `hpsearch user add NAME`)")
        return
    if not secret_key:
        if served or not is_loopback(host):
            raise ServeError("refusing to start without a session key: set HPSEARCH_SECRET_KEY (or HPSEARCH_SECRET_KEY_FILE "
                             "naming a file that holds it), e.g. "
                             "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`")
        return
    if len(secret_key) < MIN_SECRET_KEY:
        raise ServeError(f"the session key is too short ({len(secret_key)} characters); "
                         f"use at least {MIN_SECRET_KEY} random characters")


def served_config(db: str | None, host: str, *, auth: bool | None = None,
                  served: bool = False) -> dict:
    """The app config for serving on ``host``, after :func:`check_serving`.

    ``auth=None`` decides: on in served mode, on a non-loopback address, or when
    the database has users; off only for a loopback UI on a database without users.
    """
    from hpsearch.accounts import Accounts
    from hpsearch.data_roots import check_data_roots
    from hpsearch.store import Store

    check_data_roots()  # ConfigError naming HPSEARCH_DATA_ROOTS: exit 2, one line
    store = Store(db)
    try:
        if auth is None:
            auth = served or not is_loopback(host) or Accounts(store).count_users() > 0
        key = load_secret_key()
        check_serving(host, auth, key, served=served)
        has_users = Accounts(store).count_users() > 0 if auth else False
    finally:
        store.dispose()
    if auth and not has_users:
        print("warning: authentication is on but the database has no users: create an admin "
              "with `hpsearch user add NAME --role admin`", file=sys.stderr)
    cookie_secure = settings().cookie_secure
    return {"DATABASE_URL": db, "AUTH": auth, "DEBUG": False, "TESTING": False,
            # Served, or reachable beyond this machine: members' studies run only behind the
            # trial boundary (or where the operator declared the deployment single-user).
            "MEMBER_STUDIES": member_studies(served or not is_loopback(host)),
            "TRUSTED_PROXIES": trusted_proxies(),
            "PROPAGATE_EXCEPTIONS": False,
            # A loopback UI with users and no key: a key for this process only.
            "SECRET_KEY": key or secrets.token_urlsafe(48),
            "SESSION_COOKIE_SECURE": cookie_secure}


def serve(db: str | None, host: str = "127.0.0.1", port: int = 8080, *,
          auth: bool | None = None, served: bool = False) -> int:
    """Run the app on host:port until interrupted; returns an exit code (2: refused)."""
    try:
        config = served_config(db, host, auth=auth, served=served)
    except ServeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from waitress import serve as waitress_serve

    from webui import create_app

    app = create_app(config)
    app.debug = False  # the Werkzeug debugger never runs in a served app
    mode = "login required" if config["AUTH"] else "authentication OFF (loopback only)"
    print(f"hpsearch UI on http://{host}:{port}/ ({mode}; database "
          f"{app.extensions['hpsearch_store'].safe_url})", flush=True)
    # plotly imports pandas lazily on the first figure; two request threads making that first
    # import at once can see a half-initialized module (AttributeError: a 500). Import it now.
    import pandas  # noqa: F401
    waitress_serve(app, host=host, port=port, threads=8)
    return 0
