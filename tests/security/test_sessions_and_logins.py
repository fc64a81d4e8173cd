"""Sessions cannot be inherited, lock-outs hit the guesser only, tokens do not breed.

Findings 2, 3 and 5 of the second security pass (docs/security.md).
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from hpsearch.accounts import Accounts, LockedOut, LockPolicy
from hpsearch.cli import main as cli
from hpsearch.store import Store
from hpsearch.store.models import ApiToken, User, utcnow
from tests.security.conftest import PASSWORD, SECRET, bearer, login
from tests.webui.conftest import CsrfClient


# -- finding 2: a removed user's cookie must not log in as the next user -----------------
def test_a_removed_users_cookie_never_logs_in_as_a_later_user(sec_app, accounts, sec_store):
    accounts.add_user("ada", PASSWORD)
    bob = accounts.add_user("bob", PASSWORD)
    client = sec_app.test_client()
    assert login(client, "bob").status_code == 303
    assert client.get("/").status_code == 200
    accounts.remove_user("bob")
    carl = accounts.add_user("carl", PASSWORD)  # SQLite gave carl bob's id before the fix
    assert carl.id != bob.id  # ids are never reused
    r = client.get("/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    with sec_store.session() as s:  # each user's session binding is random
        keys = list(s.scalars(select(User.session_key)))
    assert len(set(keys)) == 2 and all(len(k) >= 40 for k in keys)
    # A role change ends the user's sessions too (log in again, with the new role).
    login(client, "carl")
    assert client.get("/").status_code == 200
    accounts.set_role("carl", "viewer")
    assert client.get("/").status_code == 302


# -- finding 3: the client address, throttling that locks nobody else out, atomic counting --
@pytest.fixture
def proxied_app(sec_url, sec_store):
    """The app behind one trusted reverse proxy (every request arrives from 127.0.0.1)."""
    from webui import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": sec_url, "AUTH": True,
                      "SECRET_KEY": SECRET, "TRUSTED_PROXIES": 1, "LOGIN_MAX_FAILURES_IP": 2})
    app.test_client_class = CsrfClient
    return app


def _login_from(app, address: str, username: str, password: str = PASSWORD):
    client = app.test_client()
    headers = {"X-Forwarded-For": address}
    page = client.get("/login", headers=headers).get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token}, headers=headers, csrf=False)


def test_failures_behind_the_proxy_lock_out_only_the_guessing_client(proxied_app, accounts,
                                                                     sec_url, capsys):
    accounts.add_user("ada", PASSWORD)
    accounts.add_user("max", PASSWORD)
    assert _login_from(proxied_app, "203.0.113.9", "x1", "wrong password!").status_code == 401
    assert _login_from(proxied_app, "203.0.113.9", "x2", "wrong password!").status_code == 429
    # Another client behind the same proxy logs in...
    assert _login_from(proxied_app, "198.51.100.7", "max").status_code == 303
    # ...and so does a correct password from the throttled address (the account is not locked)
    assert _login_from(proxied_app, "203.0.113.9", "ada").status_code == 303
    r = _login_from(proxied_app, "203.0.113.9", "ada", "wrong password!")
    assert r.status_code == 429 and b"from this address" in r.data
    # The admin clears the address from the CLI
    assert cli(["user", "unlock", "--address", "203.0.113.9", "--db", sec_url]) == 0
    assert "forgotten" in capsys.readouterr().out
    assert _login_from(proxied_app, "203.0.113.9", "ada", "wrong password!").status_code == 401


def test_a_forged_forwarded_for_is_ignored_without_a_trusted_proxy(sec_url, sec_store):
    from webui import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": sec_url, "AUTH": True,
                      "SECRET_KEY": SECRET, "LOGIN_MAX_FAILURES_IP": 2})
    app.test_client_class = CsrfClient
    # A new forged address each time: still counted as the one client it is.
    assert _login_from(app, "192.0.2.1", "x1", "wrong password!").status_code == 401
    assert _login_from(app, "192.0.2.2", "x2", "wrong password!").status_code == 429


def test_concurrent_guesses_check_no_more_passwords_than_allowed(db_url):
    store = Store(db_url)
    try:
        Accounts(store).add_user("ada", PASSWORD)
        checked, refused = [], []
        barrier = threading.Barrier(16)

        def guess(i: int) -> None:
            acc = Accounts(store, LockPolicy(max_failures=5, max_failures_ip=1000))
            barrier.wait()
            try:
                assert acc.authenticate("ada", f"wrong guess {i}", f"10.9.0.{i}") is None
                checked.append(i)
            except LockedOut:
                refused.append(i)

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(checked) + len(refused) == 16
        assert len(checked) == 5, f"{len(checked)} passwords were checked; 5 are allowed"
    finally:
        store.dispose()


# -- finding 5: tokens need a session and the password, never mint tokens, and expire -----
def test_a_token_cannot_mint_tokens(sec_app, people, accounts):
    client = sec_app.test_client()
    before = len(accounts.list_tokens("max"))
    r = client.post("/account/tokens", data={"name": "child", "password": PASSWORD},
                    headers=bearer(people["max"]["token"]))
    assert r.status_code == 403
    assert len(accounts.list_tokens("max")) == before


def test_creating_a_token_needs_the_password(sec_app, people, accounts):
    client = sec_app.test_client()
    login(client, "max")
    before = len(accounts.list_tokens("max"))
    assert client.post("/account/tokens", data={"name": "x"}).status_code == 403
    assert client.post("/account/tokens", data={"name": "x", "password": "nope nope nope"}
                       ).status_code == 403
    assert len(accounts.list_tokens("max")) == before
    r = client.post("/account/tokens", data={"name": "ci", "password": PASSWORD,
                                             "expires_days": "30"})
    assert r.status_code == 200
    row = accounts.list_tokens("max")[0][0]
    assert row.name == "ci" and timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)
    assert client.post("/account/tokens", data={"name": "y", "password": PASSWORD,
                                                "expires_days": "99999999999"}).status_code == 400


def test_tokens_expire(sec_app, people, accounts, sec_store):
    row, token = accounts.create_token("vic", "short", expires_in=timedelta(days=1))
    client = sec_app.test_client()
    assert client.get("/api/v1/studies", headers=bearer(token)).status_code == 200
    with sec_store.session(write=True) as s:  # a day later
        s.execute(update(ApiToken).where(ApiToken.id == row.id)
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/api/v1/studies", headers=bearer(token)).status_code == 401


def test_cli_tokens_can_expire(sec_url, sec_store, people, capsys):
    assert cli(["token", "create", "ada", "--name", "ci", "--expires-days", "7",
                "--db", sec_url]) == 0
    capsys.readouterr()
    assert cli(["token", "list", "ada", "--db", sec_url]) == 0
    assert "never" in capsys.readouterr().out  # the fixture's token; ci has a date
    with sec_store.session() as s:
        expires = s.scalar(select(ApiToken.expires_at).where(ApiToken.name == "ci"))
    assert timedelta(days=6) < expires - utcnow() <= timedelta(days=7)
